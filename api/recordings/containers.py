"""What a recording's bytes are: the container by its magic bytes (the name and the
browser's claimed type are ignored), and an MP4's top-level boxes (is it whole? is the
index, ``moov``, before the media data, ``mdat``, so a browser can start at once?)."""

from __future__ import annotations

import struct
from pathlib import Path

SNIFF_BYTES = 512  # enough for every signature below (MPEG-TS: two 188-byte packets)


def container_of(head: bytes) -> str | None:
    """The video container these first bytes begin, or None."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "mp4"  # MP4, MOV, 3GP, M4V
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip") and len(head) >= 8:
        return "mp4"  # old QuickTime files without ftyp
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "matroska"  # MKV, WebM
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "avi"
    if head.startswith(b"\x00\x00\x01\xba"):
        return "mpeg-ps"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpeg-ts"  # the sync byte of two packets
    if head.startswith(b"FLV"):
        return "flv"
    if head.startswith(b"OggS"):
        return "ogg"
    if head.startswith(b"0&\xb2u\x8ef\xcf\x11"):
        return "asf"  # WMV
    return None


def top_boxes(path: Path) -> list[tuple[str, int, int]]:
    """An ISO-BMFF file's top-level boxes as (type, offset, size); a box whose size runs past
    the end of the file ends the list with its size as declared (``truncated`` tells)."""
    boxes: list[tuple[str, int, int]] = []
    length = path.stat().st_size
    with open(path, "rb") as f:
        offset = 0
        while offset + 8 <= length:
            f.seek(offset)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
            elif size == 0:
                size = length - offset
            if size < 8:
                boxes.append((kind.decode("latin-1"), offset, size))
                break
            boxes.append((kind.decode("latin-1"), offset, size))
            offset += size
    return boxes


def truncated(path: Path) -> bool:
    """An MP4 whose last box runs past the end of the file, or without its index."""
    boxes = top_boxes(path)
    length = path.stat().st_size
    if not boxes:
        return True
    _, offset, size = boxes[-1]
    return size < 8 or offset + size > length or not any(kind == "moov" for kind, *_ in boxes)


def faststart(path: Path) -> bool:
    """The ``moov`` box comes before the first ``mdat``."""
    kinds = [kind for kind, *_ in top_boxes(path)]
    return "moov" in kinds and ("mdat" not in kinds or kinds.index("moov") < kinds.index("mdat"))
