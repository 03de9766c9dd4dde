"""The checks a file passes before it is ingested (``imaging.read.validate_for_ingest`` runs
them): an instance, valid values, its identity, a pixel module that matches its pixel data, a
palette that is whole, and at most the first and last frame decoded (``decode_array``)."""

from __future__ import annotations

import re
import struct

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileDataset
from pydicom.multival import MultiValue
from pydicom.pixels import as_pixel_options, get_decoder
from pydicom.pixels.utils import get_expected_length
from pydicom.uid import (
    UID,
    MediaStorageDirectoryStorage,
)

from imaging.codecs import is_decodable, prefer_fast_decoders
from imaging.codestream import check_codestream
from imaging.instance import (
    IngestPolicy,
    IngestRefused,
    OpenInstance,
    ParsedInstance,
    PixelModule,
    RefusalCode,
    decode_error,
    first_line,
)

_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")


# The most one decoded frame may take (rows × columns × samples × bytes per sample), checked
# before any decoder runs; a compressed frame's own header (JPEG SOF, JPEG 2000 SIZ) may not
# claim more than the DICOM header says. 256 MiB: a 16-bit 8192² or an RGB 9000² frame.
MAX_FRAME_BYTES = 256 * 1024**2


# --- checks ------------------------------------------------------------------------------


def check_is_instance(ds: FileDataset) -> None:
    storage = str(ds.file_meta.get("MediaStorageSOPClassUID", "")).strip()
    if storage == MediaStorageDirectoryStorage:
        raise IngestRefused(
            RefusalCode.NOT_AN_INSTANCE,
            "This is a DICOMDIR (the index of a CD or folder), not an image or document; "
            "send the files it lists instead.",
        )


def check_values(ds: Dataset) -> None:
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
                RefusalCode.INVALID_VALUE, f"Element {tag} is invalid: {first_line(exc)}."
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


def check_not_cut_before_pixels(ds: Dataset) -> None:
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


def check_identity(parsed: ParsedInstance, policy: IngestPolicy) -> None:
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


def check_pixel_module(parsed: ParsedInstance) -> PixelModule:
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
    check_frame_size(pixels)
    return pixels


def frame_bytes(pixels: PixelModule) -> int:
    """What one decoded frame takes: rows × columns × samples × bytes per sample."""
    per_sample = max(1, (pixels.bits_allocated + 7) // 8)
    return pixels.rows * pixels.columns * pixels.samples_per_pixel * per_sample


def check_frame_size(pixels: PixelModule) -> None:
    size = frame_bytes(pixels)
    if size > MAX_FRAME_BYTES:
        raise IngestRefused(
            RefusalCode.TOO_LARGE,
            f"Each frame would decode to {size:,} bytes ({pixels.rows} rows × {pixels.columns} "
            f"columns × {pixels.samples_per_pixel} sample(s) × {pixels.bits_allocated} bits), "
            f"more than the {MAX_FRAME_BYTES:,} bytes a frame may take.",
        )


def check_pixel_length(parsed: ParsedInstance, pixels: PixelModule) -> None:
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


def check_frame_headers(inst: OpenInstance, pixels: PixelModule) -> None:
    """The cheap part of the decode check, kept at ingest: what the first and last
    frame's own header claims (JPEG SOF, JPEG-LS SOF55, JPEG 2000 SIZ, the RLE header)
    must fit the DICOM header, read from a few bytes of each frame; nothing is decoded.
    The decode itself (``check_decodes``) runs in the run's thumbnail step."""
    check_frame_size(pixels)
    if inst.parsed.pixel_data is None or not inst.parsed.pixel_data.encapsulated:
        return
    for index in sorted({0, pixels.frames - 1}):
        check_codestream(inst, index)


def check_decodes(inst: OpenInstance, pixels: PixelModule) -> None:
    """Decode the first and last frame; ``IngestRefused(UNDECODABLE)`` saying why not."""
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
                f"{decode_error(exc)}.",
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
    check_frame_size(parsed.pixels)
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
        raise RuntimeError(f"the decoder failed: {first_line(exc)}") from exc  # type: ignore[arg-type]


def check_palette(ds: Dataset) -> None:
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
