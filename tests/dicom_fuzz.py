"""A DICOM fuzz corpus, generated in code from a seed: pydicom's bundled odd and broken test
files plus mutations of its good ones. No patient data: pydicom's files are synthetic or
anonymised test data, and each mutation gets a fake patient ID and its own UIDs.

``corpus(channel)`` returns the cases; ``channel`` (0, 1, ...) keeps the UIDs of one pass
(STOW-RS, C-STORE) apart from another's, so neither sees the other's instances as duplicates.

Each case says whether it ``must_refuse``: a mutation built to break the file (a cut, a
length past the end, an impossible frame count, a decompression bomb, a lying palette or
fragment table) must be refused; a case that may be harmless (random bytes in the header, a
bundled file that is merely unusual) may be stored — and must then render or fail cleanly.
``bad_frame`` names the 1-based frame of an accepted case that is known not to decode.
"""

from __future__ import annotations

import copy
import io
import random
import re
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID, DeflatedExplicitVRLittleEndian, SecondaryCaptureImageStorage

SEED = 20261206
PATIENT_ID = "FUZZ-PATIENT"
STUDY_UID = "2.25.1" + "7" * 38  # every normalised case joins one study per channel

# Good bundled files the mutations start from: explicit VR little endian headers, pixel data
# the last element, one fragment per frame where encapsulated.
SOURCES = {
    "ct": "CT_small.dcm",  # native 16-bit
    "palette": "examples_palette.dcm",  # native PALETTE COLOR
    "rle": "MR_small_RLE.dcm",
    "rle2": "SC_rgb_rle_2frame.dcm",
    "jpeg": "SC_rgb_jpeg_dcmtk.dcm",  # JPEG baseline RGB
    "jpegls": "MR_small_jpeg_ls_lossless.dcm",
    "j2k": "JPEG2000.dcm",
    "clip": "examples_ybr_color.dcm",  # 30 frames JPEG baseline
    "deflated": "image_dfl.dcm",
}
# Bundled files that are broken by name: they must be refused.
BROKEN = re.compile(
    r"no_?meta|NoMeta|truncated|missing_tsyntax|DICOMDIR|\.gz$|\.icc$|\.txt$|\.json$|\.dump$|README"
)


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    must_refuse: bool
    sop_uid: str = ""  # "" when the case has none we know of
    bad_frame: int = 0  # 1-based frame known not to decode in an accepted case

    @property
    def normalised(self) -> bool:
        return bool(self.sop_uid)


def uid(channel: int, n: int) -> str:
    """A UID of fixed length (44 characters), so a mutation's offsets do not move."""
    return f"2.25.1{channel:04d}{n:034d}"


def bundled_paths() -> list[Path]:
    """pydicom's test files that ship with the installed wheel (nothing is downloaded)."""
    found = []
    for name in get_testdata_files("**/*"):
        path = Path(name)
        if path.is_file() and get_testdata_file(path.name, download=False) is not None:
            found.append(path)
    return sorted(found)


@cache
def _source(name: str) -> Dataset:
    path = get_testdata_file(SOURCES[name], download=False)
    assert isinstance(path, str), f"{SOURCES[name]} is not in the installed pydicom"
    return dcmread(path)


def normalised(ds: Dataset, sop_uid: str) -> FileDataset:
    """A copy of ``ds`` with a fake patient and our UIDs (fixed lengths)."""
    copied = copy.deepcopy(ds)  # Dataset(ds) would share the source's elements
    out = FileDataset(None, copied, preamble=b"\0" * 128, file_meta=copied.file_meta)
    out.PatientID = PATIENT_ID
    out.PatientName = "Fuzz^Case"
    out.StudyInstanceUID = STUDY_UID
    out.SeriesInstanceUID = sop_uid[:-1] + "9" if sop_uid[-1] != "9" else sop_uid[:-1] + "8"
    out.SOPInstanceUID = sop_uid
    out.file_meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    if 0xFFFCFFFC in out:  # trailing padding: the pixel data is the last element then
        del out[0xFFFCFFFC]
    return out


def encode(ds: FileDataset) -> bytes:
    buf = io.BytesIO()
    ts = ds.file_meta.TransferSyntaxUID
    if ts == DeflatedExplicitVRLittleEndian:
        ds.save_as(buf, enforce_file_format=True)
    else:  # some bundled files are implicit VR inside: write what the meta says
        implicit, little = ts.is_implicit_VR, ts.is_little_endian
        ds.save_as(buf, implicit_vr=implicit, little_endian=little, enforce_file_format=True)
    return buf.getvalue()


# --- where things are in an encoded file ---------------------------------------------------


@dataclass(frozen=True)
class Element:
    tag: int
    vr: bytes
    header: int  # offset of the tag
    length_at: int  # offset of the length field
    length_size: int  # 2 or 4
    value: int  # offset of the value
    length: int


_LONG = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}


def meta_end(data: bytes) -> int:
    """Offset of the first dataset element after the group 0002 elements."""
    pos = 132
    while struct.unpack_from("<H", data, pos)[0] == 0x0002:
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG:
            pos += 12 + struct.unpack_from("<L", data, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return pos


def _element(data: bytes, pos: int) -> Element:
    group, elem = struct.unpack_from("<HH", data, pos)
    vr = data[pos + 4 : pos + 6]
    if vr in _LONG:
        length_at, size, value = pos + 8, 4, pos + 12
        length = struct.unpack_from("<L", data, length_at)[0]
    else:
        length_at, size, value = pos + 6, 2, pos + 8
        length = struct.unpack_from("<H", data, length_at)[0]
    return Element(group << 16 | elem, vr, pos, length_at, size, value, length)


def _after(data: bytes, e: Element) -> int:
    return e.value + e.length if e.length != 0xFFFFFFFF else _after_items(data, e.value)


def _after_items(data: bytes, pos: int) -> int:
    """The offset after the items of an undefined-length value (sequence or pixel data)."""
    while True:
        group, elem, length = struct.unpack_from("<HHL", data, pos)
        tag = group << 16 | elem
        if tag == 0xFFFEE0DD:
            return pos + 8
        if length != 0xFFFFFFFF:
            pos += 8 + length
            continue
        pos += 8  # an item of undefined length: its elements up to the item delimiter
        while struct.unpack_from("<HH", data, pos) != (0xFFFE, 0xE00D):
            pos = _after(data, _element(data, pos))
        pos += 8


def elements(data: bytes) -> list[Element]:
    """The top-level elements of an explicit VR little endian dataset."""
    out: list[Element] = []
    pos = meta_end(data)
    while pos + 8 <= len(data):
        out.append(_element(data, pos))
        pos = _after(data, out[-1])
    return out


def pixel_element(data: bytes) -> Element:
    return next(e for e in elements(data) if e.tag == 0x7FE00010)


def fragments(data: bytes) -> list[tuple[int, int]]:
    """(offset of the item tag, length) of every item of the encapsulated pixel data."""
    px = pixel_element(data)
    out: list[tuple[int, int]] = []
    pos = px.value
    while True:
        group, elem, length = struct.unpack_from("<HHL", data, pos)
        if group << 16 | elem == 0xFFFEE0DD:
            return out
        out.append((pos, length))
        pos += 8 + length


def patched(data: bytes, offset: int, raw: bytes) -> bytes:
    return data[:offset] + raw + data[offset + len(raw) :]


def patch_at(offset: int, raw: bytes) -> Callable[[bytes], bytes]:
    return lambda data: patched(data, offset, raw)


def cut_at(offset: int) -> Callable[[bytes], bytes]:
    return lambda data: data[:offset]


# --- the mutations ---------------------------------------------------------------------------


class _Builder:
    def __init__(self, channel: int) -> None:
        self.channel = channel
        self.n = 0
        self.rng = random.Random(SEED + channel)
        self.cases: list[Case] = []

    def next_uid(self) -> str:
        self.n += 1
        return uid(self.channel, self.n)

    def fresh(self, source: str, edit: Callable[[FileDataset], None] | None = None) -> Case:
        """A normalised copy of a source, optionally edited as a dataset before encoding."""
        sop = self.next_uid()
        ds = normalised(_source(source), sop)
        if edit is not None:
            edit(ds)
        return Case(f"{source}", encode(ds), False, sop)

    def add(self, case: Case, name: str, must_refuse: bool, **kw: object) -> None:
        self.cases.append(replace(case, name=name, must_refuse=must_refuse, **kw))  # type: ignore[arg-type]

    def bytes_case(
        self, source: str, name: str, must: bool, mutate: Callable[[bytes], bytes]
    ) -> None:
        base = self.fresh(source)
        self.add(base, name, must)
        self.cases[-1] = replace(self.cases[-1], data=mutate(base.data))


def _set(**values: object) -> Callable[[FileDataset], None]:
    def edit(ds: FileDataset) -> None:
        for keyword, value in values.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)

    return edit


def truncations(b: _Builder) -> None:
    for source in ("ct", "rle", "jpeg", "j2k", "jpegls", "palette", "deflated", "rle2"):
        data = b.fresh(source).data
        end = meta_end(data)
        if source == "deflated":
            offsets = {0, 1, 128, 132, end - 1, end, end + 1, len(data) // 2, len(data) - 1}
        else:
            px = pixel_element(data)
            offsets = {0, 1, 64, 128, 131, 132, 140, end - 1, end, end + 3, px.header - 1,
                       px.header, px.header + 4, px.value, px.value + 3, len(data) - 1,
                       len(data) - 2, len(data) - 9}  # fmt: skip
            offsets |= {b.rng.randrange(end, len(data)) for _ in range(6)}
        for cut in sorted(o for o in offsets if 0 <= o < len(data)):
            # a cut of the deflated file's padding byte leaves the whole deflate stream
            must = source != "deflated" or cut <= end or not _inflates(data[end:cut])
            b.bytes_case(source, f"{source}-cut-{cut}", must, cut_at(cut))


def _inflates(raw: bytes) -> bool:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflater.decompress(raw)
    except zlib.error:
        return False
    return inflater.eof


def random_header_bytes(b: _Builder) -> None:
    for source in ("ct", "jpeg", "j2k", "palette", "rle"):
        for count in (1, 4, 16, 64):
            for _ in range(2):

                def mutate(d: bytes, k: int = count) -> bytes:
                    stop = pixel_element(d).header
                    raw = bytearray(d)
                    for _ in range(k):
                        raw[b.rng.randrange(132, stop)] = b.rng.randrange(256)
                    return bytes(raw)

                b.bytes_case(source, f"{source}-random-{count}-bytes", False, mutate)


def huge_lengths(b: _Builder) -> None:
    for source in ("ct", "jpeg", "j2k", "palette"):
        data = b.fresh(source).data
        candidates = [e for e in elements(data) if e.tag != 0x7FE00010]
        picks = b.rng.sample(candidates, min(4, len(candidates)))
        for e in [*picks, pixel_element(data)]:
            for value in (0xFFFFFFF0, 0x7FFFFFFF, len(data)):
                if e.length_size == 2 and value > 0xFFFF:
                    # the most a short length can say; past the end only in a small file
                    value, must = 0xFFFF, e.value + 0xFFFF > len(data)
                else:
                    must = e.value + value > len(data)
                if e.tag == 0x7FE00010 and e.length == 0xFFFFFFFF:
                    continue  # encapsulated: its items are mutated below
                raw = struct.pack("<L" if e.length_size == 4 else "<H", value)
                b.bytes_case(
                    source,
                    f"{source}-length-({e.tag >> 16:04X},{e.tag & 0xFFFF:04X})-{value:#x}",
                    must,
                    patch_at(e.length_at, raw),
                )
        # an undefined length on an element that is no sequence
        for e in picks[:2]:
            if e.length_size == 4 and e.vr != b"SQ":
                b.bytes_case(
                    source,
                    f"{source}-undefined-length-({e.tag >> 16:04X},{e.tag & 0xFFFF:04X})",
                    True,
                    patch_at(e.length_at, b"\xff\xff\xff\xff"),
                )


def frame_counts(b: _Builder) -> None:
    values = ("99999999999999999999", "18446744073709551617", "9223372036854775808",
              "2147483648", "4294967296", "-1", "0", "3", "1.5", "1e3", " ", "0x10")  # fmt: skip
    for source in ("ct", "jpeg", "j2k", "rle", "clip", "rle2"):
        sop = b.next_uid()
        ds = normalised(_source(source), sop)
        ds.NumberOfFrames = ds.get("NumberOfFrames") or 1
        data = encode(ds)
        frames = next(e for e in elements(data) if e.tag == 0x00280008)
        for value in values:
            # written as raw bytes: pydicom refuses to write most of these as an IS
            sop = b.next_uid()
            padded = (value + " " * (len(value) % 2)).encode()
            raw = (
                data[: frames.length_at]
                + struct.pack("<H", len(padded))
                + padded
                + data[frames.value + frames.length :]
            )
            raw = raw.replace(ds.SOPInstanceUID.encode(), sop.encode())
            # blank: no frame count (1); 3 of a 30-frame clip: its first 3 fragments
            harmless = value == " " or (source == "clip" and value == "3")
            b.cases.append(
                Case(f"{source}-frames-{value.strip() or 'blank'}", raw, not harmless, sop)
            )


def overflowing_sizes(b: _Builder) -> None:
    for source in ("ct", "jpeg", "j2k", "jpegls", "rle", "clip", "palette"):
        for rows, cols, frames in (
            (65535, 65535, None),
            (65535, 65535, 2147483647),
            (40000, 40000, 1),
            (65535, 1, 4294967295),
            (0, 128, None),
        ):
            edit: dict[str, object] = {"Rows": rows, "Columns": cols}
            if frames is not None:
                edit["NumberOfFrames"] = frames
            case = b.fresh(source, _set(**edit))
            b.add(case, f"{source}-size-{rows}x{cols}x{frames or 'n'}", True)
        # 64 bits allocated on a 16-bit native file: a frame 4 times the data
        if source == "ct":
            case = b.fresh(source, _set(BitsAllocated=64, BitsStored=64, HighBit=63))
            b.add(case, "ct-64-bits-allocated", True)


def palettes(b: _Builder) -> None:
    def lut(ds: FileDataset, color: str, descriptor: list[int] | None, data: bytes | None) -> None:
        if descriptor is not None:
            setattr(ds, f"{color}PaletteColorLookupTableDescriptor", descriptor)
        if data is None:
            delattr(ds, f"{color}PaletteColorLookupTableData")
        else:
            setattr(ds, f"{color}PaletteColorLookupTableData", data)

    def short(ds: FileDataset) -> None:  # the descriptor says 256 entries, 10 are there
        lut(ds, "Red", [256, 0, 16], bytes(20))

    def many(ds: FileDataset) -> None:  # 0 entries means 65536: the data holds 256
        for color in ("Red", "Green", "Blue"):
            lut(ds, color, [0, 0, 16], bytes(512))

    def bits(ds: FileDataset) -> None:
        for color in ("Red", "Green", "Blue"):
            lut(ds, color, [256, 0, 12], bytes(512))

    def missing(ds: FileDataset) -> None:
        lut(ds, "Green", None, None)

    def no_descriptor(ds: FileDataset) -> None:
        del ds.BluePaletteColorLookupTableDescriptor

    def odd_length(ds: FileDataset) -> None:
        lut(ds, "Blue", [256, 0, 16], bytes(301))

    def segmented(ds: FileDataset) -> None:  # a segment claiming 65535 entries, repeatedly
        bomb = struct.pack("<HHH", 1, 0xFFFF, 0) * 2000
        for color in ("Red", "Green", "Blue"):
            delattr(ds, f"{color}PaletteColorLookupTableData")
            setattr(ds, f"Segmented{color}PaletteColorLookupTableData", bomb)

    for name, edit in (
        ("short-lut", short),
        ("65536-entries-of-256", many),
        ("12-bit-entries", bits),
        ("missing-green", missing),
        ("missing-descriptor", no_descriptor),
        ("odd-lut-length", odd_length),
        ("segmented-bomb", segmented),
    ):
        b.add(b.fresh("palette", edit), f"palette-{name}", True)

    def few_entries(ds: FileDataset) -> None:  # indices past the last entry: PS3.3 clamps
        for color in ("Red", "Green", "Blue"):
            lut(ds, color, [16, 0, 16], bytes(range(32)))

    def first_mapped_high(ds: FileDataset) -> None:  # indices below the first: clamped too
        for color in ("Red", "Green", "Blue"):
            lut(ds, color, [256, 200, 16], bytes(512))

    b.add(b.fresh("palette", few_entries), "palette-indices-past-the-lut", False)
    b.add(b.fresh("palette", first_mapped_high), "palette-first-mapped-200", False)


def _jpeg_sof(frame: bytes) -> int:
    """Offset of the height field of the SOF (or JPEG-LS SOF55) segment in a JPEG stream."""
    pos = 2
    while pos + 4 <= len(frame):
        marker = frame[pos + 1]
        length = struct.unpack_from(">H", frame, pos + 2)[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE,
                      0xCF, 0xF7):  # fmt: skip
            return pos + 5
        pos += 2 + length
    raise AssertionError("no SOF marker")


def bombs(b: _Builder) -> None:
    """Tiny compressed frames that decode (or claim to decode) into gigabytes."""

    def codestream(source: str, name: str, patch: Callable[[bytes, int], bytes]) -> None:
        def mutate(d: bytes) -> bytes:
            offset, _ = fragments(d)[1]  # the first fragment after the offset table
            return patch(d, offset + 8)

        b.bytes_case(source, f"{source}-codestream-{name}", True, mutate)

    for source in ("jpeg", "jpegls"):
        for h, w in ((65500, 65500), (65535, 1), (1, 65535), (20000, 20000)):

            def sof(d: bytes, start: int, hw: tuple[int, int] = (h, w)) -> bytes:
                at = start + _jpeg_sof(d[start : start + 4096])
                return patched(d, at, struct.pack(">HH", *hw))

            codestream(source, f"sof-{h}x{w}", sof)

    for h, w in ((60000, 60000), (0x7FFFFFFF, 0x7FFFFFFF), (1, 2_000_000_000)):

        def siz(d: bytes, start: int, hw: tuple[int, int] = (h, w)) -> bytes:
            at = d.index(b"\xff\x51", start) + 6  # SIZ: Lsiz, Rsiz, then Xsiz, Ysiz
            return patched(d, at, struct.pack(">LL", hw[1], hw[0]))

        codestream("j2k", f"siz-{h}x{w}", siz)

    # RLE: segments of replicate runs far longer than the frame (64 times expansion)
    def rle_runs(d: bytes) -> bytes:
        offset, length = fragments(d)[1]
        runs = b"\x81\x00" * 1_000_000  # 128 bytes each: 128 MB from 2 MB, per segment
        header = struct.pack("<16L", 2, 64, 64 + len(runs), *([0] * 13))
        body = header + runs + runs
        item = struct.pack("<HHL", 0xFFFE, 0xE000, len(body)) + body
        return d[:offset] + item + d[offset + 8 + length :]

    # the decoders stop at the frame's size (then it is a black frame) or refuse it
    b.bytes_case("rle", "rle-segments-expand-64x", False, rle_runs)

    def rle_segments(d: bytes) -> bytes:  # 15 segments where 2 are right, offsets past the end
        offset, _ = fragments(d)[1]
        header = struct.pack("<16L", 15, *([0xFFFFFF00] * 15))
        return patched(d, offset + 8, header)

    b.bytes_case("rle", "rle-header-lies", True, rle_segments)

    # deflate: a dataset that inflates to 512 MiB of zeros from half a megabyte
    b.cases.append(Case("deflated-bomb-512MiB", deflate_bomb(b.next_uid()), True, ""))


@cache
def _zeros_deflated(size: int) -> bytes:
    """Raw deflate blocks of ``size`` zero bytes, ending byte-aligned and not final, so
    they can follow any stream that ended with a full flush."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    chunk = bytes(1 << 20)
    parts = [packer.compress(chunk) for _ in range(size >> 20)]
    return b"".join(parts) + packer.flush(zlib.Z_FULL_FLUSH)


def deflate_bomb(sop_uid: str, size: int = 512 << 20) -> bytes:
    """A Deflated Explicit VR Little Endian file whose dataset declares and holds ``size``
    bytes of pixel data (zeros): about 500 KiB on the wire."""
    ds = Dataset()
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid
    ds.PatientID = PATIENT_ID
    ds.StudyInstanceUID = STUDY_UID
    ds.SeriesInstanceUID = sop_uid[:-1] + "9"
    ds.Modality = "OT"
    ds.Rows, ds.Columns = 16384, size // 16384
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 8, 8, 7
    ds.PixelRepresentation, ds.PhotometricInterpretation = 0, "MONOCHROME2"
    head = io.BytesIO()
    ds.save_as(head, implicit_vr=False, little_endian=True)
    header = head.getvalue() + struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, size)
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    body = packer.compress(header) + packer.flush(zlib.Z_FULL_FLUSH) + _zeros_deflated(size)
    body += zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS).flush(zlib.Z_FINISH)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = UID(sop_uid)
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.8.498.1")
    out = io.BytesIO()
    out.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(out, meta, enforce_standard=True)  # type: ignore[arg-type]
    return out.getvalue() + body


def lying_fragments(b: _Builder) -> None:
    def item_length(value: int) -> Callable[[bytes], bytes]:
        def mutate(d: bytes) -> bytes:
            offset, _ = fragments(d)[1]
            return patched(d, offset + 4, struct.pack("<L", value))

        return mutate

    def offset_table(values: list[int]) -> Callable[[bytes], bytes]:
        def mutate(d: bytes) -> bytes:
            (bot, length), *_ = fragments(d)
            table = struct.pack(f"<{len(values)}L", *values)
            item = struct.pack("<HHL", 0xFFFE, 0xE000, len(table)) + table
            return d[:bot] + item + d[bot + 8 + length :]

        return mutate

    def wrong_item_tag(d: bytes) -> bytes:
        offset, _ = fragments(d)[1]
        return patched(d, offset, struct.pack("<HH", 0xFFFE, 0xE00D))

    def no_delimiter(d: bytes) -> bytes:
        return d[:-8]

    for source in ("jpeg", "j2k", "rle"):
        for value in (0xFFFFFFF0, 0xFFFFFFFF, 0x7FFFFFFF):
            b.bytes_case(source, f"{source}-fragment-length-{value:#x}", True, item_length(value))
        b.bytes_case(source, f"{source}-bot-length-huge", True, lambda d: patched(
            d, fragments(d)[0][0] + 4, struct.pack("<L", 0x7FFFFFF0)))  # fmt: skip
        b.bytes_case(source, f"{source}-wrong-item-tag", True, wrong_item_tag)
        b.bytes_case(source, f"{source}-no-sequence-delimiter", True, no_delimiter)
        b.bytes_case(source, f"{source}-bot-3-frames-for-1", True, offset_table([0, 8, 16]))
    # a 30-frame clip whose offset table points nowhere / backwards
    for name, table in (
        ("past-the-end", [0] + [0x7FFFFFF0] * 29),
        ("backwards", list(range(29 * 16, -1, -16))),
        ("all-zero", [0] * 30),
    ):
        b.bytes_case("clip", f"clip-bot-{name}", False, offset_table(table))

    # an extended offset table that lies about a 2-frame RLE image
    def eot(ds: FileDataset) -> None:
        ds.ExtendedOffsetTable = struct.pack("<2Q", 0, 0x7FFFFFFFFFFFFFF0)
        ds.ExtendedOffsetTableLengths = struct.pack("<2Q", 10, 0x7FFFFFFFFFFFFFF0)

    b.add(b.fresh("rle2", eot), "rle2-extended-offsets-lie", False)

    # accepted (first and last frame decode) but a middle frame is garbage
    def broken_middle(d: bytes) -> bytes:
        offset, length = fragments(d)[1 + 14]  # frame 15 of 30
        return patched(d, offset + 8, bytes(b.rng.randrange(256) for _ in range(min(length, 400))))

    base = b.fresh("clip")
    b.add(base, "clip-frame-15-garbage", False, bad_frame=15)
    b.cases[-1] = replace(b.cases[-1], data=broken_middle(base.data))


def bundled(b: _Builder) -> None:
    """pydicom's own odd files: as shipped, and (when pydicom reads them) with a patient."""
    for path in bundled_paths():
        raw = path.read_bytes()
        b.cases.append(Case(f"bundled-{path.name}", raw, bool(BROKEN.search(path.name))))
        if BROKEN.search(path.name) or len(raw) > 400_000:
            continue
        try:
            ds = dcmread(path)
            if "PixelData" not in ds or "SOPClassUID" not in ds:
                continue
            sop = b.next_uid()
            out = normalised(ds, sop)
            data = encode(out)
        except Exception:  # pydicom cannot rewrite it: the raw case covers it
            continue
        b.cases.append(Case(f"bundled-{path.name}-normalised", data, False, sop))


def corpus(channel: int = 0) -> list[Case]:
    b = _Builder(channel)
    for make in (
        truncations,
        random_header_bytes,
        huge_lengths,
        frame_counts,
        overflowing_sizes,
        palettes,
        bombs,
        lying_fragments,
        bundled,
    ):
        make(b)
    counts = Counter(c.name for c in b.cases)
    seen: Counter[str] = Counter()
    out = []
    for case in b.cases:
        seen[case.name] += 1
        out.append(
            replace(case, name=f"{case.name}#{seen[case.name]}") if counts[case.name] > 1 else case
        )
    return out


def good(channel: int) -> Iterator[Case]:
    """One normalised, unmutated copy of each source: what the mutations start from."""
    b = _Builder(channel + 100)
    for source in SOURCES:
        yield replace(b.fresh(source), name=f"{source}-as-is")
