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
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO, Literal

from pydicom import dcmread
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileDataset
from pydicom.encaps import parse_basic_offsets
from pydicom.pixels import as_pixel_options, get_decoder
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, MediaStorageDirectoryStorage

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
# A deflated dataset is inflated into memory; refuse one that expands past this.
MAX_INFLATED_BYTES = 2 * 1024**3


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
        yield OpenInstance(parsed, stream)


def validate_for_ingest(source: Source, policy: IngestPolicy = STRICT) -> ParsedInstance:
    """Return the parsed instance, or raise ``IngestRefused`` saying what is wrong with it."""
    with _open(source) as (fp, size):
        if policy.max_bytes is not None and size > policy.max_bytes:
            raise IngestRefused(
                RefusalCode.TOO_LARGE,
                f"The file is {size:,} bytes, more than the {policy.max_bytes:,} bytes allowed.",
            )
        parsed, stream = _parse(fp, size, verify=True)
        ds = parsed.dataset
        _check_is_instance(ds)
        _check_values(ds)
        _check_identity(parsed, policy)
        if parsed.pixel_data is None:
            _check_not_cut_before_pixels(ds)
        else:
            pixels = _check_pixel_module(parsed)
            _check_pixel_length(parsed, pixels)
            if policy.decode_check:
                _check_decodes(OpenInstance(parsed, stream), pixels)
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
    try:
        ds = dcmread(fp, stop_before_pixels=True)
    except Exception as exc:
        raise IngestRefused(
            RefusalCode.MALFORMED, f"The DICOM header cannot be read: {_first_line(exc)}."
        ) from exc
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

    stream, end = fp, base + size
    if not verify and ts != DeflatedExplicitVRLittleEndian:
        # dcmread stopped at the pixel data tag (or the end): read its header from there.
        location = _pixel_data_here(fp, end, ts)
        if location is not False:
            pixels = _pixel_module(ds) if location is not None else None
            return ParsedInstance(ds, ts, size, location, pixels), stream
    fp.seek(base + 132)
    start = _skip_file_meta(fp, end)
    if ts == DeflatedExplicitVRLittleEndian:
        stream, start, end = _inflate(fp, start, end)
    location = _walk_dataset(stream, start, end, ts)
    pixels = _pixel_module(ds) if location is not None else None
    parsed = ParsedInstance(ds, ts, size, location, pixels)
    return parsed, stream


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
    fp.seek(start)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data = inflater.decompress(fp.read(end - start), MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raise IngestRefused(
            RefusalCode.MALFORMED, f"The deflated dataset cannot be inflated: {exc}."
        ) from exc
    if not inflater.eof and not inflater.unconsumed_tail:
        raise IngestRefused(
            RefusalCode.TRUNCATED, "The file is truncated: its deflated dataset is incomplete."
        )
    if inflater.unconsumed_tail:
        raise IngestRefused(
            RefusalCode.TOO_LARGE,
            f"The deflated dataset expands to more than {MAX_INFLATED_BYTES:,} bytes.",
        )
    return io.BytesIO(data), 0, len(data)


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


def _pixel_module(ds: Dataset) -> PixelModule | None:
    try:
        return PixelModule(
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            frames=int(ds.get("NumberOfFrames") or 1),
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
    return pixels


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
    if location is None:
        raise ValueError("the instance has no pixel data")
    options = as_pixel_options(
        parsed.dataset,
        transfer_syntax_uid=parsed.transfer_syntax_uid,
        pixel_keyword=location.keyword,
    )
    if location.vr:
        options["pixel_vr"] = location.vr
    inst.stream.seek(location.value_offset)
    decoder = get_decoder(parsed.transfer_syntax_uid)
    return decoder.as_array(inst.stream, index=index, raw=raw, **options)


def _decode_error(exc: Exception) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # pydicom lists each plugin's failure on its own line; the plugins' words say most.
    detail = "; ".join(lines[1:]) if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
    return detail.rstrip(".")[:300]


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".")[:300]
