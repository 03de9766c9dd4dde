"""Opening and parsing a DICOM file: the header only, large values skipped by seeking,
encapsulated fragments walked by their item headers, a deflated dataset inflated into a bounded
temporary file. ``open_source`` and ``parse_source`` are what ``imaging.read`` builds on."""

from __future__ import annotations

import hashlib
import io
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Literal, cast

from pydicom import dcmread
from pydicom.dataset import Dataset, FileDataset
from pydicom.encaps import parse_basic_offsets
from pydicom.filereader import _at_pixel_data, _read_file_meta_info, read_dataset
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
)

from imaging.instance import (
    IngestRefused,
    ParsedInstance,
    PixelDataLocation,
    PixelModule,
    RefusalCode,
    Source,
    first_line,
)

PIXEL_TAGS = {
    0x7FE00010: "PixelData",
    0x7FE00008: "FloatPixelData",
    0x7FE00009: "DoubleFloatPixelData",
}
_ITEM, _ITEM_END, _SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_LONG_VRS = {
    b"OB",
    b"OD",
    b"OF",
    b"OL",
    b"OV",
    b"OW",
    b"SQ",
    b"SV",
    b"UC",
    b"UN",
    b"UR",
    b"UT",
    b"UV",
}
_PIXEL_VRS = {b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN"}


# A deflated dataset is inflated into a temporary file (in memory up to _SPOOL_BYTES): at
# most MAX_INFLATE_RATIO times its compressed size (a zip's rule; at least INFLATE_FLOOR), and
# never past MAX_INFLATED_BYTES. pydicom would inflate it whole in memory, without a limit.
MAX_INFLATED_BYTES = 2 * 1024**3
MAX_INFLATE_RATIO = 200
INFLATE_FLOOR = 64 * 1024**2
_SPOOL_BYTES = 16 * 1024**2
_INFLATE_CHUNK = 1024**2


# --- opening and parsing ---------------------------------------------------------------


@contextmanager
def open_source(source: Source) -> Iterator[tuple[BinaryIO, int]]:
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as f:
            yield f, os.fstat(f.fileno()).st_size
    elif isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source), len(source)
    else:
        start = source.tell()
        size = source.seek(0, os.SEEK_END)
        source.seek(start)
        yield source, size


def parse_source(fp: BinaryIO, size: int, *, verify: bool) -> tuple[ParsedInstance, BinaryIO]:
    """Parse the header; ``verify`` also walks every element to prove nothing is cut off."""
    base = fp.tell()
    head = fp.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        raise _not_part10(head)
    if verify:
        _skip_file_meta(fp, base + size)  # a cut inside the meta header is named as such
    fp.seek(base)
    if _meta_transfer_syntax(fp) == DeflatedExplicitVRLittleEndian:
        return _parse_deflated(fp, base, size)
    fp.seek(base)
    try:
        ds = dcmread(fp, stop_before_pixels=True)
    except Exception as exc:
        raise IngestRefused(
            RefusalCode.MALFORMED, f"The DICOM header cannot be read: {first_line(exc)}."
        ) from exc
    ts = _transfer_syntax(ds)
    stream, end = fp, base + size
    if not verify:
        # dcmread stopped at the pixel data tag (or the end): read its header from there.
        location = _pixel_data_here(fp, end, ts)
        if location is not False:
            pixels = _pixel_module(ds) if location is not None else None
            return ParsedInstance(ds, ts, size, location, pixels), stream
    fp.seek(base + 132)
    start = _skip_file_meta(fp, end)
    location = _walk_dataset(stream, start, end, ts)
    pixels = _pixel_module(ds) if location is not None else None
    return ParsedInstance(ds, ts, size, location, pixels), stream


def _transfer_syntax(ds: FileDataset) -> UID:
    ts_value = ds.file_meta.get("TransferSyntaxUID")
    if not ts_value:
        raise IngestRefused(
            RefusalCode.NO_TRANSFER_SYNTAX,
            "The file meta header has no Transfer Syntax UID (0002,0010), so the encoding of "
            "the dataset is unknown.",
        )
    ts = UID(str(ts_value).strip())
    if not ts.is_transfer_syntax:
        raise IngestRefused(
            RefusalCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"The transfer syntax {ts} is not one this system knows.",
        )
    return ts


def _meta_transfer_syntax(fp: BinaryIO) -> str:
    """The Transfer Syntax UID of the file meta header, "" when it cannot be read (dcmread
    then says why)."""
    try:
        fp.seek(fp.tell() + 132)
        meta = _read_file_meta_info(fp)
    except Exception:
        return ""
    return str(meta.get("TransferSyntaxUID", "")).strip()


def _parse_deflated(fp: BinaryIO, base: int, size: int) -> tuple[ParsedInstance, BinaryIO]:
    """Inflate (bounded, into a temporary file), then read the header from the inflated
    dataset: ``dcmread`` would inflate the whole dataset in memory, however large."""
    end = base + size
    fp.seek(base)
    preamble = fp.read(128)
    fp.seek(base + 132)
    try:
        meta = _read_file_meta_info(fp)
    except Exception as exc:
        raise IngestRefused(
            RefusalCode.MALFORMED, f"The file meta header cannot be read: {first_line(exc)}."
        ) from exc
    fp.seek(base + 132)
    start = _skip_file_meta(fp, end)
    stream, start, inflated_end = _inflate(fp, start, end)
    try:
        stream.seek(start)
        try:
            dataset = read_dataset(stream, False, True, stop_when=_at_pixel_data)
        except Exception as exc:
            raise IngestRefused(
                RefusalCode.MALFORMED, f"The DICOM header cannot be read: {first_line(exc)}."
            ) from exc
        ds = FileDataset(
            getattr(fp, "name", ""), dataset, preamble, meta, is_implicit_VR=False,
            is_little_endian=True,
        )  # fmt: skip
        ts = _transfer_syntax(ds)
        location = _walk_dataset(stream, start, inflated_end, ts)
    except BaseException:
        stream.close()
        raise
    pixels = _pixel_module(ds) if location is not None else None
    return ParsedInstance(ds, ts, size, location, pixels), stream


def _not_part10(head: bytes) -> IngestRefused:
    # A bare dataset (no preamble, no meta) usually starts with a group 0008 element.
    if any(marker in head[:4] for marker in (b"\x08\x00", b"\x00\x08", b"\x02\x00\x00\x00")):
        return IngestRefused(
            RefusalCode.NO_FILE_META,
            "The file is a bare DICOM dataset without the 128-byte preamble, 'DICM' marker and "
            "file meta header; export it as a DICOM Part 10 file.",
        )
    return IngestRefused(
        RefusalCode.NOT_DICOM,
        "The file is not a DICOM file: it has no 'DICM' marker after the 128-byte preamble.",
    )


def _skip_file_meta(fp: BinaryIO, end: int) -> int:
    """Return the offset of the first dataset element after the group 0002 elements."""
    declared_end = None
    while True:
        pos = fp.tell()
        head = fp.read(8)
        if declared_end is not None and pos < declared_end and len(head) < 8:
            raise IngestRefused(RefusalCode.TRUNCATED, "The file meta header is truncated.")
        if len(head) < 8 or struct.unpack("<H", head[:2])[0] != 0x0002:
            fp.seek(pos)
            return pos
        if head[:4] == b"\x02\x00\x00\x00" and head[4:6] == b"UL":
            group_length = fp.read(4)
            if len(group_length) == 4:
                declared_end = fp.tell() + struct.unpack("<L", group_length)[0]
                if declared_end > end:
                    raise IngestRefused(RefusalCode.TRUNCATED, "The file meta header is truncated.")
            fp.seek(pos + 8)
        vr = head[4:6]
        if vr.isalpha() and vr.isupper():
            if vr in _LONG_VRS:
                length = struct.unpack("<L", fp.read(4))[0]
            else:
                length = struct.unpack("<H", head[6:8])[0]
        else:  # non-conformant implicit VR meta
            length = struct.unpack("<L", head[4:8])[0]
        if length == _UNDEFINED or fp.tell() + length > end:
            raise IngestRefused(RefusalCode.TRUNCATED, "The file meta header is truncated.")
        fp.seek(length, os.SEEK_CUR)


def dataset_digest(source: Source) -> str:
    """SHA-256 of the dataset without its file meta header (group 0002), keyed by its
    transfer syntax: what the sender sent, whatever header the last writer put before it. The
    same instance received twice differs in that header (the receiver builds its own, another
    tool wrote the first copy) and is the same dataset."""
    with open_source(source) as (fp, size):
        base = fp.tell()
        transfer_syntax = _meta_transfer_syntax(fp)
        fp.seek(base + 132)
        fp.seek(_skip_file_meta(fp, base + size))
        digest = hashlib.sha256(transfer_syntax.encode() + b"\0")
        while chunk := fp.read(_INFLATE_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _inflate(fp: BinaryIO, start: int, end: int) -> tuple[BinaryIO, int, int]:
    """The inflated dataset in a temporary file (memory up to ``_SPOOL_BYTES``), chunk by
    chunk, refused as soon as it grows past its limit (a deflate bomb)."""
    compressed = max(0, end - start)
    limit = min(MAX_INFLATED_BYTES, max(INFLATE_FLOOR, compressed * MAX_INFLATE_RATIO))
    out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115 (caller closes)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    written = 0
    fp.seek(start)
    try:
        while not inflater.eof:
            data = inflater.unconsumed_tail or fp.read(min(_INFLATE_CHUNK, end - fp.tell()))
            if not data:
                raise IngestRefused(
                    RefusalCode.TRUNCATED,
                    "The file is truncated: its deflated dataset is incomplete.",
                )
            try:
                chunk = inflater.decompress(data, _INFLATE_CHUNK)
            except zlib.error as exc:
                raise IngestRefused(
                    RefusalCode.MALFORMED, f"The deflated dataset cannot be inflated: {exc}."
                ) from exc
            written += len(chunk)
            if written > limit:
                raise IngestRefused(
                    RefusalCode.TOO_LARGE,
                    f"The deflated dataset of {compressed:,} bytes expands to more than "
                    f"{limit:,} bytes (at most {MAX_INFLATE_RATIO} times its size, or "
                    f"{INFLATE_FLOOR:,} bytes): a decompression bomb, or damaged.",
                )
            out.write(chunk)
    except BaseException:
        out.close()
        raise
    out.seek(0)
    return cast(BinaryIO, out), 0, written


def _walk_dataset(fp: BinaryIO, start: int, end: int, ts: UID) -> PixelDataLocation | None:
    """Walk every element header to the end of the file, nested items included, proving
    each value and each undefined-length sequence ends inside the file; locate the pixels.
    Values are skipped by seeking, never read."""
    walker = _Walker(fp, end, "<" if ts.is_little_endian else ">")
    implicit = _detect_implicit_vr(fp, start, ts)
    fp.seek(start)
    walker.elements(implicit, top_level=True)
    return walker.pixels


class _Walker:
    def __init__(self, fp: BinaryIO, end: int, order: str) -> None:
        self.fp, self.end, self.order = fp, end, order
        self.pixels: PixelDataLocation | None = None
        self.last = "(start of dataset)"

    def header(self, size: int) -> bytes:
        data = self.fp.read(size)
        if len(data) < size:
            raise IngestRefused(
                RefusalCode.TRUNCATED,
                f"The file is truncated: it ends inside the element after {self.last}.",
            )
        return data

    def skip(self, length: int) -> None:
        if self.fp.tell() + length > self.end:
            missing = self.fp.tell() + length - self.end
            raise _truncated_at(self.last, missing)
        self.fp.seek(length, os.SEEK_CUR)

    def elements(self, implicit: bool, *, top_level: bool = False) -> None:
        """Walk elements until the end of the file (top level) or an item delimiter."""
        while True:
            if top_level and self.fp.tell() >= self.end:
                return
            head = self.header(8)
            group, elem = struct.unpack(f"{self.order}HH", head[:4])
            tag = group << 16 | elem
            if tag == _ITEM_END and not top_level:
                return
            self.last = f"({group:04X},{elem:04X})"
            vr = None if implicit or group == 0xFFFE else head[4:6]
            if vr is None:
                length = struct.unpack(f"{self.order}L", head[4:8])[0]
            elif vr in _LONG_VRS:
                length = struct.unpack(f"{self.order}L", self.header(4))[0]
            else:
                length = struct.unpack(f"{self.order}H", head[6:8])[0]
            if top_level and tag in PIXEL_TAGS:
                self.pixel_data(tag, vr, length)
            elif length == _UNDEFINED:
                # a sequence; UN of undefined length holds implicit VR little endian
                self.sequence(implicit or vr == b"UN")
            else:
                self.skip(length)

    def sequence(self, implicit: bool) -> None:
        while True:
            group, elem, length = struct.unpack(f"{self.order}HHL", self.header(8))
            tag = group << 16 | elem
            if tag == _SEQUENCE_END:
                return
            if tag != _ITEM:
                raise IngestRefused(
                    RefusalCode.MALFORMED,
                    f"Sequence {self.last} holds an unexpected element ({group:04X},{elem:04X}) "
                    "where an item should be.",
                )
            if length == _UNDEFINED:
                self.elements(implicit)
            else:
                self.skip(length)

    def pixel_data(self, tag: int, vr: bytes | None, length: int) -> None:
        keyword = PIXEL_TAGS[tag]
        offset = self.fp.tell()
        vr_text = vr.decode("ascii", "replace") if vr else None
        if length != _UNDEFINED:
            if offset + length > self.end:
                raise IngestRefused(
                    RefusalCode.TRUNCATED,
                    f"The file is truncated: its pixel data should hold {length:,} bytes but "
                    f"the file ends after {self.end - offset:,}.",
                )
            self.pixels = PixelDataLocation(keyword, vr_text, offset, length)
            self.fp.seek(length, os.SEEK_CUR)
            return
        fragments, offsets = _walk_fragments(self.fp, self.end, self.order, rewind=False)
        self.pixels = PixelDataLocation(keyword, vr_text, offset, None, fragments, offsets)


def _pixel_data_here(fp: BinaryIO, end: int, ts: UID) -> PixelDataLocation | Literal[False] | None:
    """The pixel data location if ``fp`` is at its tag, None at the end, False otherwise."""
    pos = fp.tell()
    head = fp.read(4)
    if len(head) < 4:
        return None
    group, elem = struct.unpack("<HH" if ts.is_little_endian else ">HH", head)
    fp.seek(pos)
    if group << 16 | elem not in PIXEL_TAGS:
        return False
    return _read_pixel_header(fp, end, ts)


def _detect_implicit_vr(fp: BinaryIO, start: int, ts: UID) -> bool:
    """Some writers encode the dataset in the other VR mode than the syntax says (pydicom
    copes by looking at the first element); follow the bytes, as pydicom does."""
    fp.seek(start)
    head = fp.read(6)
    if len(head) < 6:
        return bool(ts.is_implicit_VR)
    vr = head[4:6]
    return not (vr.isalpha() and vr.isupper())


def _truncated_at(tag: object, missing: int) -> IngestRefused:
    return IngestRefused(
        RefusalCode.TRUNCATED,
        f"The file is truncated: element {tag} runs {missing:,} bytes past the end of the file.",
    )


def _read_pixel_header(fp: BinaryIO, end: int, ts: UID) -> PixelDataLocation:
    order = "<" if ts.is_little_endian else ">"
    head = fp.read(8)
    if len(head) < 8:
        raise _truncated_at("(7FE0,0010)", 8 - len(head))
    group, elem = struct.unpack(f"{order}HH", head[:4])
    keyword = PIXEL_TAGS[group << 16 | elem]
    vr: str | None = None
    # Trust the bytes over the syntax: some writers encode in the other VR mode.
    implicit = head[4:6] not in _PIXEL_VRS
    if implicit:
        length = struct.unpack(f"{order}L", head[4:8])[0]
    else:
        vr = head[4:6].decode("ascii", "replace")
        raw = fp.read(4)
        if len(raw) < 4:
            raise _truncated_at("(7FE0,0010)", 4 - len(raw))
        length = struct.unpack(f"{order}L", raw)[0]
    offset = fp.tell()
    if length != _UNDEFINED:
        if offset + length > end:
            raise IngestRefused(
                RefusalCode.TRUNCATED,
                f"The file is truncated: its pixel data should hold {length:,} bytes but the "
                f"file ends after {end - offset:,}.",
            )
        return PixelDataLocation(keyword, vr, offset, length)
    fragments, offsets = _walk_fragments(fp, end, order)
    return PixelDataLocation(keyword, vr, offset, None, fragments, offsets)


def _walk_fragments(
    fp: BinaryIO, end: int, order: str, *, rewind: bool = True
) -> tuple[int, tuple[int, ...]]:
    """Walk the encapsulated items by their headers only; every item must fit in the file."""
    start = fp.tell()
    try:
        offsets = parse_basic_offsets(fp, endianness=order)
    except (ValueError, struct.error) as exc:
        raise IngestRefused(
            RefusalCode.MALFORMED,
            f"The compressed pixel data does not start with an offset table item: {exc}.",
        ) from exc
    if fp.tell() > end:
        raise IngestRefused(
            RefusalCode.TRUNCATED, "The file is truncated inside the pixel data offset table."
        )
    count = 0
    while True:
        head = fp.read(8)
        if len(head) < 8:
            raise IngestRefused(
                RefusalCode.TRUNCATED,
                f"The file is truncated: the compressed pixel data stops after {count} "
                "fragment(s) without its end marker.",
            )
        group, elem, length = struct.unpack(f"{order}HHL", head)
        tag = group << 16 | elem
        if tag == _SEQUENCE_END:
            break
        if tag != _ITEM or length == _UNDEFINED:
            raise IngestRefused(
                RefusalCode.MALFORMED,
                f"The compressed pixel data holds an unexpected item ({group:04X},{elem:04X}) "
                f"after fragment {count}.",
            )
        if fp.tell() + length > end:
            raise IngestRefused(
                RefusalCode.TRUNCATED,
                f"The file is truncated inside fragment {count + 1} of the compressed pixel data.",
            )
        fp.seek(length, os.SEEK_CUR)
        count += 1
    if rewind:
        fp.seek(start)
    return count, tuple(offsets)


def _frame_count(value: object) -> int:
    """Absent or empty: one frame; 0 stays 0 (refused), it does not mean one."""
    return 1 if value is None or value == "" else int(value)  # type: ignore[call-overload]


def _pixel_module(ds: Dataset) -> PixelModule | None:
    try:
        return PixelModule(
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            frames=_frame_count(ds.get("NumberOfFrames")),
            samples_per_pixel=int(ds.SamplesPerPixel),
            bits_allocated=int(ds.BitsAllocated),
            bits_stored=int(ds.get("BitsStored") or ds.BitsAllocated),
            pixel_representation=int(ds.get("PixelRepresentation") or 0),
            photometric_interpretation=str(ds.PhotometricInterpretation).strip(),
            planar_configuration=int(ds.get("PlanarConfiguration") or 0),
        )
    except (AttributeError, TypeError, ValueError):
        return None
