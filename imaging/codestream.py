"""What a compressed frame claims, before it is decoded: a JPEG or JPEG 2000 codestream may
not claim a larger image than the DICOM header (a decompression bomb), an RLE header must be
whole."""

from __future__ import annotations

import os
import struct

from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    RLELossless,
)

from imaging.instance import IngestRefused, OpenInstance, PixelModule, RefusalCode

# How far into a compressed frame its size must be found (JPEG tables come before it).
_CODESTREAM_HEAD = 1024**2


_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF, 0xF7}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}  # TEM, RSTn: markers without a length


def check_codestream(inst: OpenInstance, index: int) -> None:
    """Refuse a compressed frame whose own header claims a larger image than the DICOM
    header (a decompression bomb: the decoders allocate what the codestream says)."""
    parsed = inst.parsed
    pixels = parsed.pixels
    assert pixels is not None
    head = _frame_head(inst, index)
    if head is None:
        return  # the fragments of this frame cannot be told apart: the decoder decides
    ts = parsed.transfer_syntax_uid
    frame = f"Frame {index + 1} of {pixels.frames}"
    if ts == RLELossless:
        check_rle_header(head, pixels, frame)
        return
    if ts in (JPEG2000, JPEG2000Lossless, HTJ2K, HTJ2KLossless, HTJ2KLosslessRPCL):
        size = _j2k_size(head)
        kind = "JPEG 2000 codestream"
    else:
        size = _jpeg_size(head)
        kind = "JPEG stream"
    if size is None:
        raise IngestRefused(
            RefusalCode.MALFORMED,
            f"{frame}: the {kind} does not say its image size where it must (in its first "
            f"{_CODESTREAM_HEAD:,} bytes, before the image data).",
        )
    height, width, components = size
    if height > pixels.rows or width > pixels.columns or components > 4:
        raise IngestRefused(
            RefusalCode.MALFORMED,
            f"{frame}: the {kind} claims {height} × {width} pixels with {components} "
            f"component(s), larger than the {pixels.rows} × {pixels.columns} of the DICOM "
            "header (a decompression bomb, or a damaged file).",
        )


def _frame_head(inst: OpenInstance, index: int) -> bytes | None:
    """The first bytes of frame ``index``'s first fragment, found the way pydicom finds the
    frame it decodes (extended offset table, else basic offset table, else one fragment per
    frame, else the fragments that start a codestream); item headers are walked, values
    skipped. None when no fragment can be named (the decoder then finds none either)."""
    parsed = inst.parsed
    location, pixels = parsed.pixel_data, parsed.pixels
    assert location is not None and pixels is not None
    order = "<" if parsed.transfer_syntax_uid.is_little_endian else ">"
    fp = inst.stream
    fp.seek(location.value_offset)
    _, bot_length = struct.unpack(f"{order}LL", fp.read(8))
    fp.seek(bot_length, os.SEEK_CUR)
    first = fp.tell()
    items: list[tuple[int, int, bytes]] = []  # (offset of the item tag, length, first bytes)
    for _ in range(location.fragments):
        raw = fp.read(8)
        if len(raw) < 8:
            return None
        _, length = struct.unpack(f"{order}LL", raw)
        start = fp.read(min(4, length))
        items.append((fp.tell() - 8 - len(start), length, start))
        fp.seek(length - len(start), os.SEEK_CUR)
    wanted: int | None = None
    extended = parsed.dataset.get("ExtendedOffsetTable")
    if extended is not None:
        table = bytes(extended)
        if len(table) < 8 * (index + 1):
            return None
        wanted = first + struct.unpack_from("<Q", table, 8 * index)[0]
    elif location.basic_offsets:
        if index >= len(location.basic_offsets):
            return None
        wanted = first + location.basic_offsets[index]
    elif pixels.frames == 1 or len(items) == pixels.frames:
        wanted = items[0 if pixels.frames == 1 else index][0]
    else:
        starts = [item for item in items if item[2][:2] in (b"\xff\xd8", b"\xff\x4f")]
        if index >= len(starts):
            return None
        wanted = starts[index][0]
    for pos, length, _ in items:
        if pos == wanted:
            fp.seek(pos + 8)
            return fp.read(min(length, _CODESTREAM_HEAD))
    return None


def _jpeg_size(data: bytes) -> tuple[int, int, int] | None:
    """(height, width, components) of the SOF / SOF55 segment, walking the markers."""
    if data[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        if marker == 0xDA:  # start of scan: no size before it
            return None
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if marker in _JPEG_SOF:
            if pos + 10 > len(data):
                return None
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return height, width, data[pos + 9]
        pos += 2 + length
    return None


def _j2k_size(data: bytes) -> tuple[int, int, int] | None:
    """(height, width, components) from the SIZ marker segment (after SOC, or inside a JP2
    file's codestream box)."""
    at = data.find(b"\xff\x4f\xff\x51")
    if at < 0 or at + 4 + 38 > len(data):
        return None
    siz = at + 4
    x, y, x0, y0 = struct.unpack_from(">LLLL", data, siz + 4)
    components = struct.unpack_from(">H", data, siz + 36)[0]
    return max(0, y - y0), max(0, x - x0), components


def check_rle_header(head: bytes, pixels: PixelModule, frame: str) -> None:
    """PS3.5 G.3.1: one segment per byte of each sample, offsets rising inside the frame."""
    if len(head) < 64:
        raise IngestRefused(RefusalCode.MALFORMED, f"{frame}: the RLE header is cut short.")
    count, *offsets = struct.unpack_from("<16L", head)
    wanted = pixels.samples_per_pixel * max(1, (pixels.bits_allocated + 7) // 8)
    used = offsets[:count] if 0 < count <= 15 else []
    if count != wanted or not used or used[0] != 64 or used != sorted(used):
        raise IngestRefused(
            RefusalCode.MALFORMED,
            f"{frame}: the RLE header lists {count} segment(s) at offsets "
            f"{used or offsets[:3]} where {wanted} are needed, the first at 64.",
        )
