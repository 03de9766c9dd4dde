"""Every file bundled with pydicom either renders and serves frames, or is refused with a
reason; none may fail with anything else."""

from __future__ import annotations

import io
import warnings

import pydicom
import pytest
from PIL import Image

from imaging.frames import encoded_frame, frame_fragments, native_frame
from imaging.read import LENIENT, STRICT, IngestRefused, validate_for_ingest
from imaging.render import render, thumbnail
from tests.unit.imaging.bundled import IDENTITY_ONLY, REFUSED, bundled, bundled_names

pytestmark = pytest.mark.unit

NAMES = bundled_names()


def _has_pixel_data(name: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return "PixelData" in pydicom.dcmread(bundled(name), force=True)
        except Exception:
            return False


PIXEL_NAMES = [name for name in NAMES if _has_pixel_data(name)]


def test_the_bundled_set_is_there() -> None:
    assert len(NAMES) > 150 and len(PIXEL_NAMES) > 90
    assert set(REFUSED) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_bundled_file_is_served_or_refused_with_a_reason(name: str) -> None:
    path = bundled(name)
    try:
        parsed = validate_for_ingest(path, LENIENT)
    except IngestRefused as refused:
        assert REFUSED.get(name) == refused.code, f"{name}: {refused.code}: {refused.reason}"
        assert len(refused.reason) > 20 and refused.reason.endswith(".")
        return
    assert name not in REFUSED, f"{name} should have been refused ({REFUSED[name]})"
    if parsed.pixel_data is None:
        return
    last = parsed.number_of_frames - 1
    for index in sorted({0, last}):
        _assert_image(render(path, index, fmt="jpeg", quality=85), "JPEG", parsed)
        _assert_image(render(path, index, fmt="png"), "PNG", parsed)
        frame = native_frame(path, index)
        assert frame.transfer_syntax_uid == "1.2.840.10008.1.2.1"
        if frame.bits_allocated >= 8:
            samples = frame.rows * frame.columns * frame.samples_per_pixel
            assert len(frame.data) == samples * frame.bits_allocated // 8
        if parsed.pixel_data.encapsulated:
            stored = encoded_frame(path, index)
            assert stored and b"".join(frame_fragments(path, index)).rstrip(b"\0") == stored.rstrip(
                b"\0"
            )
    with Image.open(io.BytesIO(thumbnail(path))) as thumb:
        assert max(thumb.size) <= 128


def _assert_image(data: bytes, fmt: str, parsed: object) -> None:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == fmt
        img.load()
        pixels = parsed.pixels  # type: ignore[attr-defined]
        assert img.size == (pixels.columns, pixels.rows)
        assert img.mode in ("L", "RGB")


@pytest.mark.parametrize("name", PIXEL_NAMES)
def test_everything_pydicom_decodes_is_accepted(name: str) -> None:
    """What pydicom itself can read and decode passes ingest; strictly, it is refused only
    for lacking a patient identity."""
    path = bundled(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pydicom.dcmread(path).pixel_array  # noqa: B018
        except Exception:
            assert name in REFUSED, f"pydicom cannot decode {name}, so ingest must refuse it"
            return
    parsed = validate_for_ingest(path, LENIENT)
    assert parsed.pixel_data is not None
    try:
        validate_for_ingest(path, STRICT)
    except IngestRefused as refused:
        assert refused.code in IDENTITY_ONLY, refused.reason
