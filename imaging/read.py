"""Parse a DICOM file safely and decide whether it may be ingested.

Ingest refuses a broken file before anything is stored, with a sentence a person
understands (``IngestRefused.reason``) and a stable code for programs. Parsing reads the
header only: large values are skipped by seeking, encapsulated fragments are walked by their
item headers, and at most the first and last frame are decoded, so a 2 GB ultrasound clip
costs a few reads and two frame decodes.

``open_instance`` gives frames.py and render.py the same parse plus a stream positioned
wherever they need it (for a deflated file that stream is the inflated dataset).
"""

from __future__ import annotations

import io
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Literal, cast

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileDataset
from pydicom.encaps import parse_basic_offsets
from pydicom.filereader import _at_pixel_data, _read_file_meta_info, read_dataset
from pydicom.multival import MultiValue
from pydicom.pixels import as_pixel_options, get_decoder
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import (
    HTJ2K,
    JPEG2000,
    UID,
    DeflatedExplicitVRLittleEndian,
    HTJ2KLossless,
    HTJ2KLosslessRPCL,
    JPEG2000Lossless,
    MediaStorageDirectoryStorage,
    RLELossless,
)

from imaging.codecs import is_decodable, prefer_fast_decoders

Source = Path | str | bytes | bytearray | memoryview | BinaryIO

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
_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")
# A deflated dataset is inflated into a temporary file (in memory up to _SPOOL_BYTES): at
# most MAX_INFLATE_RATIO times its compressed size (a zip's rule; at least INFLATE_FLOOR), and
# never past MAX_INFLATED_BYTES. pydicom would inflate it whole in memory, without a limit.
MAX_INFLATED_BYTES = 2 * 1024**3
MAX_INFLATE_RATIO = 200
INFLATE_FLOOR = 64 * 1024**2
_SPOOL_BYTES = 16 * 1024**2
_INFLATE_CHUNK = 1024**2
# The most one decoded frame may take (rows × columns × samples × bytes per sample), checked
# before any decoder runs; a compressed frame's own header (JPEG SOF, JPEG 2000 SIZ) may not
# claim more than the DICOM header says. 256 MiB: a 16-bit 8192² or an RGB 9000² frame.
MAX_FRAME_BYTES = 256 * 1024**2
# How far into a compressed frame its size must be found (JPEG tables come before it).
_CODESTREAM_HEAD = 1024**2


class RefusalCode(StrEnum):
    TOO_LARGE = "too-large"
    NOT_DICOM = "not-dicom"
    NO_FILE_META = "no-file-meta"
    NO_TRANSFER_SYNTAX = "no-transfer-syntax"
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported-transfer-syntax"
    MALFORMED = "malformed"
    INVALID_VALUE = "invalid-value"
    TRUNCATED = "truncated"
    NOT_AN_INSTANCE = "not-an-instance"
    MISSING_UID = "missing-uid"
    MISSING_PATIENT_ID = "missing-patient-id"
    INCOMPLETE_PIXEL_MODULE = "incomplete-pixel-module"
    UNDECODABLE = "undecodable"
    NO_PIXEL_DATA = "no-pixel-data"


class IngestRefused(Exception):
    """The file may not be ingested; ``reason`` is written for the person who sent it."""

    def __init__(self, code: RefusalCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class IngestPolicy:
    """What ingest insists on beyond a well-formed file.

    ``require_patient_id``: a study without a patient identity cannot be matched to a
    patient archive, so the default refuses it. ``decode_check``: decode the first and last
    frame to prove the pixel data is readable. ``max_bytes``: refuse larger files outright.
    """

    require_patient_id: bool = True
    require_study_and_series: bool = True
    decode_check: bool = True
    max_bytes: int | None = None


STRICT = IngestPolicy()
# For files that are well formed but lack an identity (research exports, test data).
LENIENT = IngestPolicy(require_patient_id=False, require_study_and_series=False)


@dataclass(frozen=True, slots=True)
class PixelModule:
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int


@dataclass(frozen=True, slots=True)
class PixelDataLocation:
    """Where the pixel data value starts in the instance's dataset stream."""

    keyword: str
    vr: str | None
    value_offset: int
    length: int | None  # None: undefined length, i.e. encapsulated
    fragments: int = 0
    basic_offsets: tuple[int, ...] = ()

    @property
    def encapsulated(self) -> bool:
        return self.length is None


@dataclass(frozen=True, slots=True)
class ParsedInstance:
    """A parsed file: its header (everything but the pixel data) and where its pixels are."""

    dataset: FileDataset
    transfer_syntax_uid: UID
    size: int
    pixel_data: PixelDataLocation | None
    pixels: PixelModule | None

    def _text(self, keyword: str) -> str:
        value = self.dataset.get(keyword)
        return "" if value is None else str(value).strip()

    @property
    def sop_class_uid(self) -> str:
        return self._text("SOPClassUID")

    @property
    def sop_instance_uid(self) -> str:
        return self._text("SOPInstanceUID")

    @property
    def study_instance_uid(self) -> str:
        return self._text("StudyInstanceUID")

    @property
    def series_instance_uid(self) -> str:
        return self._text("SeriesInstanceUID")

    @property
    def patient_id(self) -> str:
        return self._text("PatientID")

    @property
    def modality(self) -> str:
        return self._text("Modality")

    @property
    def number_of_frames(self) -> int:
        return self.pixels.frames if self.pixels else 0


@dataclass(frozen=True, slots=True)
class OpenInstance:
    parsed: ParsedInstance
    stream: BinaryIO  # positions in ``parsed.pixel_data`` are offsets in this stream


def parse_instance(source: Source) -> ParsedInstance:
    """Parse the header and locate the pixel data; raises ``IngestRefused`` when unreadable."""
    with open_instance(source) as inst:
        return inst.parsed


@contextmanager
def open_instance(source: Source) -> Iterator[OpenInstance]:
    with _open(source) as (fp, size):
        parsed, stream = _parse(fp, size, verify=False)
        try:
            yield OpenInstance(parsed, stream)
        finally:
            if stream is not fp:  # the inflated dataset of a deflated file
                stream.close()


def validate_for_ingest(source: Source, policy: IngestPolicy = STRICT) -> ParsedInstance:
    """Return the parsed instance, or raise ``IngestRefused`` saying what is wrong with it."""
    with _open(source) as (fp, size):
        if policy.max_bytes is not None and size > policy.max_bytes:
            raise IngestRefused(
                RefusalCode.TOO_LARGE,
                f"The file is {size:,} bytes, more than the {policy.max_bytes:,} bytes allowed.",
            )
        parsed, stream = _parse(fp, size, verify=True)
        try:
            ds = parsed.dataset
            _check_is_instance(ds)
            _check_values(ds)
            _check_identity(parsed, policy)
            if parsed.pixel_data is None:
                _check_not_cut_before_pixels(ds)
            else:
                pixels = _check_pixel_module(parsed)
                _check_pixel_length(parsed, pixels)
                if pixels.photometric_interpretation == "PALETTE COLOR":
                    _check_palette(ds)
                if policy.decode_check:
                    _check_decodes(OpenInstance(parsed, stream), pixels)
        finally:
            if stream is not fp:
                stream.close()
        return parsed


# --- opening and parsing ---------------------------------------------------------------


@contextmanager
def _open(source: Source) -> Iterator[tuple[BinaryIO, int]]:
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


def _parse(fp: BinaryIO, size: int, *, verify: bool) -> tuple[ParsedInstance, BinaryIO]:
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
            RefusalCode.MALFORMED, f"The DICOM header cannot be read: {_first_line(exc)}."
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
            RefusalCode.MALFORMED, f"The file meta header cannot be read: {_first_line(exc)}."
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
                RefusalCode.MALFORMED, f"The DICOM header cannot be read: {_first_line(exc)}."
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


# --- checks ------------------------------------------------------------------------------


def _check_is_instance(ds: FileDataset) -> None:
    storage = str(ds.file_meta.get("MediaStorageSOPClassUID", "")).strip()
    if storage == MediaStorageDirectoryStorage:
        raise IngestRefused(
            RefusalCode.NOT_AN_INSTANCE,
            "This is a DICOMDIR (the index of a CD or folder), not an image or document; "
            "send the files it lists instead.",
        )


def _check_values(ds: Dataset) -> None:
    """Numbers that do not parse (an IS of '1A') make pixel handling guess; refuse them.

    Only top-level IS/DS elements are converted: sequences stay raw, so this stays cheap.
    """
    for tag in list(ds.keys()):  # a Dataset iterates (and converts) elements, not tags
        raw = ds.get_item(tag)
        vr = raw.VR if raw is not None else None
        if vr is None:
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                continue
        if vr not in ("IS", "DS"):
            continue
        try:
            elem = ds[tag]
        except Exception as exc:
            raise IngestRefused(
                RefusalCode.INVALID_VALUE, f"Element {tag} is invalid: {_first_line(exc)}."
            ) from exc
        values = elem.value if elem.VM > 1 else [elem.value]
        for value in values:
            if vr == "IS" and isinstance(value, float) and not value.is_integer():
                raise IngestRefused(
                    RefusalCode.INVALID_VALUE,
                    f"Element {elem.tag} {elem.name} has the value {value!r}, which is not a "
                    "whole number (VR IS).",
                )
            if isinstance(value, str) and value.strip():
                raise IngestRefused(
                    RefusalCode.INVALID_VALUE,
                    f"Element {elem.tag} {elem.name} has the value {value!r}, which is not a "
                    f"valid number (VR {elem.VR}).",
                )


def _check_not_cut_before_pixels(ds: Dataset) -> None:
    """A file cut exactly between two elements parses as a shorter file; an image (by its
    SOP class or its image description) without pixel data gives the cut away."""
    sop_class = UID(str(ds.get("SOPClassUID", "")).strip() or "0")
    described = ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation")
    if "Image Storage" in sop_class.name:
        raise IngestRefused(
            RefusalCode.NO_PIXEL_DATA,
            f"The file is a {sop_class.name} instance but holds no pixel data (it may have been "
            "cut off).",
        )
    if any(keyword in ds for keyword in described):
        raise IngestRefused(
            RefusalCode.NO_PIXEL_DATA,
            "The header describes an image but the file holds no pixel data (it may have been "
            "cut off).",
        )


_REQUIRED_UIDS = (
    ("SOPClassUID", "(0008,0016) SOP Class UID"),
    ("SOPInstanceUID", "(0008,0018) SOP Instance UID"),
)
_STUDY_SERIES_UIDS = (
    ("StudyInstanceUID", "(0020,000D) Study Instance UID"),
    ("SeriesInstanceUID", "(0020,000E) Series Instance UID"),
)


def _check_identity(parsed: ParsedInstance, policy: IngestPolicy) -> None:
    wanted = _REQUIRED_UIDS + (_STUDY_SERIES_UIDS if policy.require_study_and_series else ())
    for keyword, label in wanted:
        value = parsed._text(keyword)
        if not value:
            raise IngestRefused(RefusalCode.MISSING_UID, f"The file has no {label}.")
        if len(value) > 64 or not _UID_RE.fullmatch(value):
            raise IngestRefused(
                RefusalCode.INVALID_VALUE, f"The {label} {value[:80]!r} is not a valid DICOM UID."
            )
    if policy.require_patient_id and not parsed.patient_id:
        raise IngestRefused(
            RefusalCode.MISSING_PATIENT_ID,
            "The file has no Patient ID (0010,0020), so it cannot be filed under a patient.",
        )


_PIXEL_ATTRIBUTES = (
    ("Rows", "(0028,0010) Rows"),
    ("Columns", "(0028,0011) Columns"),
    ("SamplesPerPixel", "(0028,0002) Samples per Pixel"),
    ("BitsAllocated", "(0028,0100) Bits Allocated"),
    ("PhotometricInterpretation", "(0028,0004) Photometric Interpretation"),
)


def _check_pixel_module(parsed: ParsedInstance) -> PixelModule:
    ds = parsed.dataset
    for keyword, label in _PIXEL_ATTRIBUTES:
        if ds.get(keyword) in (None, ""):
            raise IngestRefused(
                RefusalCode.INCOMPLETE_PIXEL_MODULE,
                f"The file has pixel data but no {label}, so the image cannot be displayed.",
            )
    pixels = parsed.pixels
    if pixels is None:
        raise IngestRefused(
            RefusalCode.INCOMPLETE_PIXEL_MODULE, "The image description (group 0028) is invalid."
        )
    problems = []
    if pixels.rows < 1 or pixels.columns < 1:
        problems.append(f"{pixels.rows} rows × {pixels.columns} columns")
    if pixels.frames < 1:
        problems.append(f"{pixels.frames} frames")
    if pixels.samples_per_pixel not in (1, 3):
        problems.append(f"{pixels.samples_per_pixel} samples per pixel")
    if pixels.bits_allocated not in (1, 8, 16, 32, 64):
        problems.append(f"{pixels.bits_allocated} bits allocated")
    if not 1 <= pixels.bits_stored <= pixels.bits_allocated:
        problems.append(f"{pixels.bits_stored} bits stored of {pixels.bits_allocated} allocated")
    if problems:
        raise IngestRefused(
            RefusalCode.INCOMPLETE_PIXEL_MODULE,
            f"The image description is impossible: {', '.join(problems)}.",
        )
    ts = parsed.transfer_syntax_uid
    if not is_decodable(ts):
        raise IngestRefused(
            RefusalCode.UNSUPPORTED_TRANSFER_SYNTAX,
            f"Images compressed as {ts.name} ({ts}) cannot be decoded here.",
        )
    _check_frame_size(pixels)
    return pixels


def frame_bytes(pixels: PixelModule) -> int:
    """What one decoded frame takes: rows × columns × samples × bytes per sample."""
    per_sample = max(1, (pixels.bits_allocated + 7) // 8)
    return pixels.rows * pixels.columns * pixels.samples_per_pixel * per_sample


def _check_frame_size(pixels: PixelModule) -> None:
    size = frame_bytes(pixels)
    if size > MAX_FRAME_BYTES:
        raise IngestRefused(
            RefusalCode.TOO_LARGE,
            f"Each frame would decode to {size:,} bytes ({pixels.rows} rows × {pixels.columns} "
            f"columns × {pixels.samples_per_pixel} sample(s) × {pixels.bits_allocated} bits), "
            f"more than the {MAX_FRAME_BYTES:,} bytes a frame may take.",
        )


def _check_pixel_length(parsed: ParsedInstance, pixels: PixelModule) -> None:
    location = parsed.pixel_data
    assert location is not None
    if location.encapsulated:
        if location.fragments < 1:
            raise IngestRefused(
                RefusalCode.TRUNCATED, "The compressed pixel data holds no fragments."
            )
        if location.fragments < pixels.frames:
            raise IngestRefused(
                RefusalCode.TRUNCATED,
                f"The image has {pixels.frames} frames but its compressed pixel data holds "
                f"only {location.fragments} fragment(s).",
            )
        if location.basic_offsets and len(location.basic_offsets) != pixels.frames:
            raise IngestRefused(
                RefusalCode.MALFORMED,
                f"The offset table lists {len(location.basic_offsets)} frames but the image "
                f"has {pixels.frames}.",
            )
        return
    expected = get_expected_length(parsed.dataset, "bytes")
    assert location.length is not None
    if location.length < expected:
        raise IngestRefused(
            RefusalCode.TRUNCATED,
            f"The file is truncated: its pixel data holds {location.length:,} bytes but "
            f"{pixels.rows} rows × {pixels.columns} columns × {pixels.frames} frame(s) × "
            f"{pixels.samples_per_pixel} sample(s) × {pixels.bits_allocated} bits need "
            f"{expected:,}.",
        )


def _check_decodes(inst: OpenInstance, pixels: PixelModule) -> None:
    for index in sorted({0, pixels.frames - 1}):
        try:
            decode_array(inst, index)
        except IngestRefused:
            raise
        except Exception as exc:
            ts = inst.parsed.transfer_syntax_uid
            raise IngestRefused(
                RefusalCode.UNDECODABLE,
                f"Frame {index + 1} of {pixels.frames} cannot be decoded ({ts.name}): "
                f"{_decode_error(exc)}.",
            ) from exc


def decode_array(inst: OpenInstance, index: int, *, raw: bool = False) -> tuple[object, dict]:
    """Decode one frame from the open instance: ``(ndarray, resulting pixel properties)``.

    Only that frame's bytes are read and decoded (pydicom's decoder on a file-like source).
    """
    prefer_fast_decoders()
    parsed = inst.parsed
    location = parsed.pixel_data
    if location is None or parsed.pixels is None:
        raise ValueError("the instance has no pixel data")
    # before any decoder allocates: the declared frame, and what the codestream claims
    _check_frame_size(parsed.pixels)
    if location.encapsulated:
        check_codestream(inst, index)
    options = as_pixel_options(
        parsed.dataset,
        transfer_syntax_uid=parsed.transfer_syntax_uid,
        pixel_keyword=location.keyword,
    )
    if location.vr:
        options["pixel_vr"] = location.vr
    inst.stream.seek(location.value_offset)
    decoder = get_decoder(parsed.transfer_syntax_uid)
    try:
        return decoder.as_array(inst.stream, index=index, raw=raw, **options)
    except (KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except BaseException as exc:
        if isinstance(exc, Exception):
            raise
        # a Rust decoder's panic (pyo3 PanicException) is a BaseException: make it a failure
        raise RuntimeError(f"the decoder failed: {_first_line(exc)}") from exc  # type: ignore[arg-type]


# --- what a compressed frame claims, before it is decoded ---------------------------------

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
        _check_rle_header(head, pixels, frame)
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


def _check_rle_header(head: bytes, pixels: PixelModule, frame: str) -> None:
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


def _check_palette(ds: Dataset) -> None:
    """PS3.3 C.7.6.3: a PALETTE COLOR image names three lookup tables whose descriptors
    (entries, first mapped value, 8 or 16 bits) match their data; a segmented table may not
    expand past its entries (pydicom would expand it whole)."""
    for color in ("Red", "Green", "Blue"):
        descriptor = ds.get(f"{color}PaletteColorLookupTableDescriptor")
        values = list(descriptor) if isinstance(descriptor, list | tuple | MultiValue) else []
        if len(values) != 3:
            raise IngestRefused(
                RefusalCode.INCOMPLETE_PIXEL_MODULE,
                f"The palette image has no valid {color} Palette Color Lookup Table "
                "Descriptor (entries, first mapped value, bits).",
            )
        entries = int(values[0]) or 65536
        bits = int(values[2])
        if bits not in (8, 16):
            raise IngestRefused(
                RefusalCode.INVALID_VALUE,
                f"The {color} palette has {bits}-bit entries; 8 or 16 are allowed.",
            )
        data = ds.get(f"{color}PaletteColorLookupTableData")
        segmented = ds.get(f"Segmented{color}PaletteColorLookupTableData")
        if data is not None:
            length = len(data)
            if length not in (entries, 2 * entries) and not (bits == 8 and length == entries + 1):
                raise IngestRefused(
                    RefusalCode.MALFORMED,
                    f"The {color} palette's descriptor says {entries} entries of {bits} bits, "
                    f"but its data holds {length:,} bytes.",
                )
        elif segmented is not None:
            expanded = _segmented_entries(bytes(segmented))
            if expanded is None or expanded > entries:
                raise IngestRefused(
                    RefusalCode.MALFORMED,
                    f"The segmented {color} palette does not describe at most {entries} entries.",
                )
        else:
            raise IngestRefused(
                RefusalCode.INCOMPLETE_PIXEL_MODULE,
                f"The palette image has no {color} Palette Color Lookup Table Data.",
            )


def _segmented_entries(data: bytes) -> int | None:
    """How many entries a segmented LUT (PS3.3 C.7.9.2, 16-bit words) expands to, counted
    without expanding it; None when it is malformed or indirect segments nest."""
    if len(data) % 2:
        return None
    words = struct.unpack(f"<{len(data) // 2}H", data)
    total, pos = 0, 0
    spans: list[tuple[int, int, int]] = []
    while pos < len(words):
        if pos + 2 > len(words):
            return None
        opcode, length = words[pos], words[pos + 1]
        start = pos
        if opcode == 0:  # discrete: length values
            pos += 2 + length
            count = length
        elif opcode == 1:  # linear: length entries to one value
            pos += 3
            count = length
        elif opcode == 2:  # indirect: length segments from a byte offset
            if pos + 4 > len(words):
                return None
            offset = words[pos + 2] | words[pos + 3] << 16
            count = _indirect_entries(words, offset // 2, length, spans)
            if count is None:
                return None
            pos += 4
        else:
            return None
        if pos > len(words):
            return None
        spans.append((start, opcode, count))
        total += count
    return total


def _indirect_entries(
    words: tuple[int, ...], first: int, segments: int, spans: list[tuple[int, int, int]]
) -> int | None:
    starts = {start: (opcode, count) for start, opcode, count in spans}
    index = [start for start, _, _ in spans]
    if first not in starts:
        return None
    at = index.index(first)
    chosen = index[at : at + segments]
    if len(chosen) != segments or any(starts[s][0] == 2 for s in chosen):
        return None
    return sum(starts[s][1] for s in chosen)


def _decode_error(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # pydicom lists each plugin's failure on its own line; the plugins' words say most.
    detail = "; ".join(lines[1:]) if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
    return detail.rstrip(".")[:300]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".")[:300]
