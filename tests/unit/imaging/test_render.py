"""Rendering: the window formulas, inversion, colour, palettes, viewport and encoding."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_color_lut, apply_windowing, convert_color_space, pixel_array

from imaging.frames import DecodedFrame, decode_frame
from imaging.read import parse_instance
from imaging.render import (
    Window,
    WindowFunction,
    apply_window,
    parse_viewport,
    render,
    render_frame,
    to_display,
)
from tests.unit.imaging.bundled import bundled

pytestmark = pytest.mark.unit

CR_MONOCHROME1 = "dicomdirtests/77654033/CR1/6154"


def test_linear_window_matches_the_standard_by_hand() -> None:
    # PS3.3 C.11.2.1.2.1, c=40 w=400: x <= c-0.5-(w-1)/2 = -160 → 0; x > 239 → 255;
    # otherwise ((x - 39.5) / 399 + 0.5) * 255.
    values = np.array([-1000, -160, 40, 100, 239, 240], dtype=np.float32)
    out = apply_window(values, Window(40, 400))
    assert out[0] == 0 and out[1] == 0
    assert out[2] == pytest.approx(((40 - 39.5) / 399 + 0.5) * 255, abs=1e-3)  # 127.82
    assert out[3] == pytest.approx(((100 - 39.5) / 399 + 0.5) * 255, abs=1e-3)  # 166.16
    assert out[4] == pytest.approx(255.0, abs=0.7)
    assert out[5] == 255


@pytest.mark.parametrize("function", list(WindowFunction))
def test_window_functions_agree_with_pydicom(function: WindowFunction) -> None:
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored, ds.PixelRepresentation = 8, 0
    ds.WindowCenter, ds.WindowWidth, ds.VOILUTFunction = 100, 50, function.value
    values = np.arange(0, 256, dtype=np.uint8)
    expected = apply_windowing(values, ds)  # pydicom maps onto 0..255 for 8-bit unsigned
    ours = apply_window(values.astype(np.float32), Window(100, 50, function))
    np.testing.assert_allclose(ours, expected, atol=1e-3)


def test_window_parse() -> None:
    assert Window.parse("40,400") == Window(40, 400)
    assert Window.parse("-600, 1500, sigmoid") == Window(-600, 1500, WindowFunction.SIGMOID)
    for bad in ("40", "a,b", "40,0", "40,400,cubic", "1,2,3,4"):
        with pytest.raises(ValueError):
            Window.parse(bad)
    assert parse_viewport("512,256") == (512, 256)
    for bad in ("0,10", "10", "-1,4", "99999,1"):
        with pytest.raises(ValueError):
            parse_viewport(bad)


def test_monochrome1_is_inverted() -> None:
    path = bundled(CR_MONOCHROME1)
    parsed = parse_instance(path)
    assert parsed.pixels.photometric_interpretation == "MONOCHROME1"
    frame = decode_frame(path, 0)
    as_mono1 = to_display(frame, parsed.dataset).astype(int)
    as_mono2 = to_display(
        dataclasses.replace(frame, photometric_interpretation="MONOCHROME2"), parsed.dataset
    ).astype(int)
    assert np.abs(as_mono1 + as_mono2 - 255).max() <= 1
    # and the highest stored value (least attenuation on a MONOCHROME1 plate) is darkest
    brightest = np.unravel_index(np.argmax(frame.array), frame.array.shape)
    assert as_mono1[brightest] == as_mono1.min()


def test_explicit_window_overrides_the_file() -> None:
    path = bundled("CT_small.dcm")
    narrow = render_frame(path, window=Window(40, 80))
    wide = render_frame(path, window=Window(40, 2000))
    default = render_frame(path)
    assert (narrow == 0).mean() > (wide == 0).mean()
    assert not np.array_equal(default, narrow)


def test_palette_colour_produces_rgb() -> None:
    path = bundled("examples_palette.dcm")
    img = render_frame(path)
    assert img.ndim == 3 and img.shape[2] == 3 and img.dtype == np.uint8
    ds = pydicom.dcmread(path)
    expected = apply_color_lut(ds.pixel_array, ds)
    if expected.dtype != np.uint8:
        expected = (expected >> 8).astype(np.uint8)
    np.testing.assert_array_equal(img, expected[..., :3])
    assert len({tuple(p) for p in img.reshape(-1, 3)[::97]}) > 10  # really coloured


def test_ybr_becomes_rgb_close_to_pydicom() -> None:
    path = bundled("SC_ybr_full_422_uncompressed.dcm")
    img = render_frame(path)
    expected = convert_color_space(pixel_array(path, raw=True), "YBR_FULL", "RGB")
    assert np.abs(img.astype(int) - expected.astype(int)).max() <= 1


def test_ybr_jpeg_looks_like_the_lossless_rgb_original() -> None:
    reference = render_frame(bundled("SC_rgb_rle.dcm")).astype(int)
    for name in ("SC_rgb_dcmtk_+eb+cy+n1.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm"):
        img = render_frame(bundled(name)).astype(int)
        assert img.shape == reference.shape
        assert np.abs(img - reference).mean() < 4, name


def test_rgb_above_8_bits_is_scaled_down() -> None:
    eight = render_frame(bundled("SC_rgb_rle.dcm")).astype(int)
    for name in ("SC_rgb_rle_16bit.dcm", "SC_rgb_rle_32bit.dcm"):
        assert np.abs(render_frame(bundled(name)).astype(int) - eight).max() <= 1, name


def test_multi_frame_renders_any_frame() -> None:
    path = bundled("examples_ybr_color.dcm")
    first, last = render_frame(path, 0), render_frame(path, 29)
    assert first.shape == last.shape == (240, 320, 3)
    expected = pydicom.dcmread(path).pixel_array[29]
    assert np.abs(last.astype(int) - expected.astype(int)).max() <= 1


def test_viewport_keeps_the_aspect_ratio() -> None:
    path = bundled("JPEG2000.dcm")  # 1024 rows × 256 columns
    assert render_frame(path, viewport=(128, 128)).shape == (128, 32)
    assert render_frame(path, viewport=(2048, 2048)).shape == (2048, 512)
    with Image.open(io.BytesIO(render(path, viewport=(100, 400), fmt="png"))) as img:
        assert img.size == (100, 400)


def test_jpeg_quality_changes_the_size() -> None:
    path = bundled("CT_small.dcm")
    assert len(render(path, quality=30)) < len(render(path, quality=95))
    with pytest.raises(ValueError):
        render(path, fmt="gif")


def test_enhanced_multi_frame_uses_each_frames_functional_groups() -> None:
    header = Dataset()
    header.PhotometricInterpretation = "MONOCHROME2"
    header.BitsStored, header.PixelRepresentation = 12, 0
    shared = Dataset()
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept = 1, -1024
    shared.PixelValueTransformationSequence = [transform]
    header.SharedFunctionalGroupsSequence = [shared]
    frames = []
    for center, width in ((40, 400), (-600, 1500)):
        group, voi = Dataset(), Dataset()
        voi.WindowCenter, voi.WindowWidth = center, width
        group.FrameVOILUTSequence = [voi]
        frames.append(group)
    header.PerFrameFunctionalGroupsSequence = frames
    stored = np.array([[1024 + 40, 1024 - 600]], dtype=np.uint16)  # HU 40 and -600
    frame = DecodedFrame(stored, "MONOCHROME2", 16, 12, 0, 1, 0)
    soft_tissue, lung = to_display(frame, header, 0), to_display(frame, header, 1)
    assert abs(int(soft_tissue[0, 0]) - 128) <= 1 and soft_tissue[0, 1] == 0
    assert abs(int(lung[0, 1]) - 128) <= 1 and lung[0, 0] > 128
