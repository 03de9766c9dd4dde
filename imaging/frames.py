"""One frame at a time: decoded, as stored (pass-through), or as native little-endian bytes.

A WADO-RS ``/frames/{n}`` request must read one frame, never a whole multi-frame file:
``Dataset.pixel_array`` would decode every frame of a long ultrasound clip. Everything here
seeks to the pixel data and hands pydicom's decoder a file positioned there with an index, or
walks the encapsulated items by their headers to pick one frame's fragments.
"""

from __future__ import annotations

import os
import struct
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice

import numpy as np
from pydicom.encaps import generate_fragmented_frames, get_frame
from pydicom.pixels import pack_bits
from pydicom.uid import ExplicitVRLittleEndian

from imaging.read import (
    OpenInstance,
    ParsedInstance,
    PixelDataLocation,
    Source,
    decode_array,
    open_instance,
)


class FrameError(Exception):
    """A frame cannot be served; ``reason`` is for the person who asked."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FrameOutOfRange(FrameError):
    pass


class FrameUndecodable(FrameError):
    pass


def first_line(exc: BaseException) -> str:
    """A decoder's failure in one line (pydicom lists each plugin's on its own line)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines[1:] or lines or [type(exc).__name__]).rstrip(".")[:300]


@contextmanager
def _stored_frame(index: int) -> Iterator[None]:
    """pydicom's reading of a stored frame's items, its failures (an offset table or an
    extended offset table that points past the data) as the frame's refusal."""
    try:
        yield
    except FrameError:
        raise
    except (ValueError, IndexError, OSError, struct.error, StopIteration, EOFError) as exc:
        raise FrameUndecodable(
            f"The stored bitstream of frame {index + 1} cannot be read: {first_line(exc)}."
        ) from exc


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """A decoded frame and the pixel description that now applies to it.

    ``photometric_interpretation`` is what the array holds, which differs from the file's
    when decoding converted it (YBR_FULL_422 JPEG → RGB).
    """

    array: np.ndarray
    photometric_interpretation: str
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    samples_per_pixel: int
    planar_configuration: int


@dataclass(frozen=True, slots=True)
class NativeFrame:
    """Uncompressed little-endian bytes of one frame, with the attributes that describe them."""

    data: bytes
    transfer_syntax_uid: str
    rows: int
    columns: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    photometric_interpretation: str
    planar_configuration: int


def frame_count(source: Source) -> int:
    with open_instance(source) as inst:
        return _frames(inst.parsed)


def decode_frame(source: Source, index: int, *, raw: bool = False) -> DecodedFrame:
    """Decode frame ``index`` (0-based) only; YBR is converted to RGB unless ``raw``."""
    with open_instance(source) as inst:
        return decode_open_frame(inst, index, raw=raw)


def decode_open_frame(inst: OpenInstance, index: int, *, raw: bool = False) -> DecodedFrame:
    _check_index(inst.parsed, index)
    try:
        array, props = decode_array(inst, index, raw=raw)
    except Exception as exc:
        ts = inst.parsed.transfer_syntax_uid
        raise FrameUndecodable(
            f"Frame {index + 1} cannot be decoded ({ts.name}): {first_line(exc)}."
        ) from exc
    assert isinstance(array, np.ndarray)
    pixels = inst.parsed.pixels
    assert pixels is not None
    return DecodedFrame(
        array=array,
        photometric_interpretation=str(
            props.get("photometric_interpretation", pixels.photometric_interpretation)
        ),
        bits_allocated=int(props.get("bits_allocated", pixels.bits_allocated)),
        bits_stored=int(props.get("bits_stored", pixels.bits_stored)),
        pixel_representation=int(props.get("pixel_representation", pixels.pixel_representation)),
        samples_per_pixel=int(props.get("samples_per_pixel", pixels.samples_per_pixel)),
        planar_configuration=int(props.get("planar_configuration", pixels.planar_configuration)),
    )


def encoded_frame(source: Source, index: int) -> bytes:
    """The stored (compressed) bitstream of frame ``index``, for pass-through to a client that
    accepts the stored transfer syntax. Raises ``FrameError`` for uncompressed files."""
    with open_instance(source) as inst, _stored_frame(index):
        location = _encapsulated(inst.parsed, index)
        inst.stream.seek(location.value_offset)
        return get_frame(
            inst.stream,
            index,
            number_of_frames=_frames(inst.parsed),
            extended_offsets=_extended_offsets(inst.parsed),
            endianness="<" if inst.parsed.transfer_syntax_uid.is_little_endian else ">",
        )


def frame_fragments(source: Source, index: int) -> list[bytes]:
    """The encapsulated fragment(s) that make up frame ``index``, as stored.

    With an offset table, one fragment per frame, or a single frame, only the frame's own
    items are read; otherwise pydicom finds frame boundaries by scanning earlier fragments.
    """
    with open_instance(source) as inst, _stored_frame(index):
        parsed = inst.parsed
        location = _encapsulated(parsed, index)
        frames = _frames(parsed)
        offsets = _fragment_offsets(inst, location)
        if frames == 1:
            chosen = offsets
        elif len(offsets) == frames:
            chosen = [offsets[index]]
        elif location.basic_offsets:
            first = offsets[0]
            lo = first + location.basic_offsets[index]
            hi = first + location.basic_offsets[index + 1] if index + 1 < frames else None
            chosen = [o for o in offsets if o >= lo and (hi is None or o < hi)]
        else:
            inst.stream.seek(location.value_offset)
            found = next(
                islice(
                    generate_fragmented_frames(
                        inst.stream,
                        number_of_frames=frames,
                        extended_offsets=_extended_offsets(parsed),
                    ),
                    index,
                    None,
                )
            )
            return list(found)
        return [_read_item(inst, offset) for offset in chosen]


def native_frame(source: Source, index: int) -> NativeFrame:
    """Frame ``index`` as Explicit VR Little Endian pixel bytes (WADO-RS
    ``transfer-syntax=1.2.840.10008.1.2.1``): decoded, byte-swapped from big endian, YBR
    converted to RGB for compressed sources, 1-bit data packed again."""
    with open_instance(source) as inst:
        parsed = inst.parsed
        native_source = not parsed.transfer_syntax_uid.is_compressed
        frame = decode_open_frame(inst, index, raw=native_source)
    array = frame.array
    if array.dtype.byteorder == ">" or (array.dtype.byteorder == "=" and sys.byteorder == "big"):
        array = array.astype(array.dtype.newbyteorder("<"))
    photometric = frame.photometric_interpretation
    if native_source and photometric == "YBR_FULL_422":
        photometric = "YBR_FULL"  # pydicom always expands the 4:2:2 subsampling
    planar = 0  # the decoded array is pixel-interleaved
    if frame.bits_allocated == 1:
        data = pack_bits(array, pad=False)
    else:
        data = np.ascontiguousarray(array).tobytes()
    pixels = parsed.pixels
    assert pixels is not None
    return NativeFrame(
        data=data,
        transfer_syntax_uid=ExplicitVRLittleEndian,
        rows=pixels.rows,
        columns=pixels.columns,
        samples_per_pixel=frame.samples_per_pixel,
        bits_allocated=frame.bits_allocated,
        bits_stored=frame.bits_stored,
        pixel_representation=frame.pixel_representation,
        photometric_interpretation=photometric,
        planar_configuration=planar,
    )


def _frames(parsed: ParsedInstance) -> int:
    if parsed.pixel_data is None or parsed.pixels is None:
        raise FrameError("The instance has no image (no pixel data).")
    return parsed.pixels.frames


def _check_index(parsed: ParsedInstance, index: int) -> None:
    frames = _frames(parsed)
    if not 0 <= index < frames:
        raise FrameOutOfRange(
            f"Frame {index + 1} was asked for, but the image has {frames} frame(s)."
        )


def _encapsulated(parsed: ParsedInstance, index: int) -> PixelDataLocation:
    _check_index(parsed, index)
    location = parsed.pixel_data
    assert location is not None
    if not location.encapsulated:
        raise FrameError(
            f"The image is stored uncompressed ({parsed.transfer_syntax_uid.name}); there is no "
            "compressed bitstream to pass through."
        )
    return location


def _extended_offsets(parsed: ParsedInstance) -> tuple[bytes, bytes] | None:
    ds = parsed.dataset
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        return ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths
    return None


def _fragment_offsets(inst: OpenInstance, location: PixelDataLocation) -> list[int]:
    """Absolute offsets of each fragment's item tag, found by reading item headers only."""
    order = "<" if inst.parsed.transfer_syntax_uid.is_little_endian else ">"
    fp = inst.stream
    fp.seek(location.value_offset)
    _, bot_length = struct.unpack(f"{order}LL", fp.read(8))
    fp.seek(bot_length, os.SEEK_CUR)
    offsets = []
    for _ in range(location.fragments):
        pos = fp.tell()
        _, length = struct.unpack(f"{order}LL", fp.read(8))
        offsets.append(pos)
        fp.seek(length, os.SEEK_CUR)
    return offsets


def _read_item(inst: OpenInstance, offset: int) -> bytes:
    order = "<" if inst.parsed.transfer_syntax_uid.is_little_endian else ">"
    fp = inst.stream
    fp.seek(offset)
    _, length = struct.unpack(f"{order}LL", fp.read(8))
    return fp.read(length)
