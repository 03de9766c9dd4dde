"""One frame at a time: only that frame is read and decoded; pass-through and native bytes."""

from __future__ import annotations

import time

import numpy as np
import pydicom
import pytest
from pydicom.encaps import generate_frames
from pydicom.uid import JPEGBaseline8Bit, JPEGLSLossless

from imaging.codecs import decoder_plugins, is_decodable, transfer_syntax_report
from imaging.frames import (
    FrameError,
    FrameOutOfRange,
    FrameUndecodable,
    decode_frame,
    encoded_frame,
    frame_count,
    frame_fragments,
    native_frame,
)
from imaging.read import parse_instance
from imaging.render import render_frame
from tests.unit.imaging.bundled import bundled

pytestmark = pytest.mark.unit

CLIP = "examples_ybr_color.dcm"  # 30 frames of JPEG baseline YBR_FULL_422


def _with_frame_destroyed(name: str, index: int) -> bytes:
    """The file's bytes with frame ``index``'s JPEG data overwritten (lengths kept)."""
    path = bundled(name)
    data = bytearray(path.read_bytes())
    location = parse_instance(path).pixel_data
    assert location is not None
    # past the offset table, walk to the fragment of ``index`` (one per frame in this file)
    pos = location.value_offset + 8 + len(location.basic_offsets) * 4
    for _ in range(index):
        pos += 8 + int.from_bytes(data[pos + 4 : pos + 8], "little")
    length = int.from_bytes(data[pos + 4 : pos + 8], "little")
    data[pos + 8 + 2 : pos + 8 + length] = b"\x00" * (length - 2)  # keep SOI, wreck the rest
    return bytes(data)


def test_one_frame_is_decoded_without_touching_the_others() -> None:
    broken = _with_frame_destroyed(CLIP, 17)
    with pytest.raises(RuntimeError, match="Unable to decode"):  # pydicom decodes all 30
        pydicom.dcmread(pydicom.filebase.DicomBytesIO(broken)).pixel_array  # noqa: B018
    for index in (0, 16, 18, 29):
        assert decode_frame(broken, index).array.shape == (240, 320, 3)
        assert render_frame(broken, index).shape == (240, 320, 3)
    with pytest.raises(FrameUndecodable, match="Frame 18 cannot be decoded"):
        decode_frame(broken, 17)


def test_one_frame_costs_a_fraction_of_the_whole_clip() -> None:
    path = bundled(CLIP)
    decode_frame(path, 29)  # warm up
    start = time.perf_counter()
    pydicom.dcmread(path).pixel_array  # noqa: B018
    whole = time.perf_counter() - start
    start = time.perf_counter()
    decode_frame(path, 29)
    one = time.perf_counter() - start
    assert one < whole / 3, (one, whole)


def test_frame_numbers_are_checked() -> None:
    path = bundled(CLIP)
    assert frame_count(path) == 30
    for bad in (-1, 30):
        with pytest.raises(FrameOutOfRange):
            decode_frame(path, bad)
        with pytest.raises(FrameOutOfRange):
            encoded_frame(path, bad)
    with pytest.raises(FrameError):
        encoded_frame(bundled("CT_small.dcm"), 0)  # uncompressed: nothing to pass through
    with pytest.raises(FrameError):
        frame_count(bundled("rtplan.dcm"))  # no image at all


@pytest.mark.parametrize("name", [CLIP, "SC_rgb_rle_2frame.dcm", "JPEG2000.dcm", "rtdose_rle.dcm"])
def test_pass_through_is_the_stored_bitstream(name: str) -> None:
    path = bundled(name)
    ds = pydicom.dcmread(path)
    frames = int(ds.get("NumberOfFrames") or 1)
    expected = list(generate_frames(ds.PixelData, number_of_frames=frames))
    for index in sorted({0, frames // 2, frames - 1}):
        assert encoded_frame(path, index) == expected[index]
        assert b"".join(frame_fragments(path, index)) == expected[index]


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_bigendian.dcm",
        "MR_small_implicit.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "image_dfl.dcm",
    ],
)
def test_native_frame_is_little_endian_and_lossless(name: str) -> None:
    reference = "image_dfl.dcm" if name == "image_dfl.dcm" else "MR_small.dcm"
    expected = pydicom.dcmread(bundled(reference)).pixel_array.astype(
        "<i2" if "MR" in name else "u1"
    )
    frame = native_frame(bundled(name), 0)
    assert frame.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert frame.data == expected.tobytes()


def test_native_frame_of_a_ybr_jpeg_is_rgb() -> None:
    frame = native_frame(bundled(CLIP), 3)
    assert frame.photometric_interpretation == "RGB"
    assert len(frame.data) == 240 * 320 * 3
    expected = pydicom.dcmread(bundled(CLIP)).pixel_array[3]
    got = np.frombuffer(frame.data, np.uint8).reshape(240, 320, 3)
    assert np.abs(got.astype(int) - expected.astype(int)).max() <= 1


def test_native_frame_repacks_one_bit_data() -> None:
    frame = native_frame(bundled("liver_1frame.dcm"), 0)
    assert frame.bits_allocated == 1
    assert len(frame.data) == 512 * 512 // 8


def test_jpeg_ls_decodes_with_charls_first() -> None:
    assert decoder_plugins(JPEGLSLossless)[0] == "pyjpegls"
    assert "pylibjpeg" in decoder_plugins(JPEGLSLossless)  # still there as a fallback
    assert decoder_plugins(JPEGBaseline8Bit)[0] == "pillow"
    assert is_decodable(JPEGLSLossless)
    assert is_decodable("1.2.840.10008.1.2.1")
    assert not is_decodable("1.2.840.10008.1.2.4.100")  # MPEG2: no decoder
    assert not is_decodable("not a uid")
    assert transfer_syntax_report()["missing"] == []
