"""Ingest validation: whatever the bytes, a typed result or a refusal with a reason."""

from __future__ import annotations

import io

import pytest

from imaging.read import (
    LENIENT,
    STRICT,
    IngestPolicy,
    IngestRefused,
    RefusalCode,
    parse_instance,
    validate_for_ingest,
)
from tests.unit.imaging.bundled import bundled

pytestmark = pytest.mark.unit


def test_a_good_file_gives_its_identity_and_image() -> None:
    parsed = validate_for_ingest(bundled("CT_small.dcm"))
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.1"
    assert parsed.sop_class_uid == "1.2.840.10008.5.1.4.1.1.2"
    assert parsed.sop_instance_uid and parsed.study_instance_uid and parsed.series_instance_uid
    assert parsed.patient_id == "1CT1" and parsed.modality == "CT"
    assert parsed.pixels is not None and (parsed.pixels.rows, parsed.pixels.columns) == (128, 128)
    assert parsed.pixel_data is not None and not parsed.pixel_data.encapsulated
    assert "PixelData" not in parsed.dataset  # the header only


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "stream"])
def test_every_kind_of_source_is_read(kind: str) -> None:
    path = bundled("MR_small_jpeg_ls_lossless.dcm")
    source = {
        "path": path,
        "str": str(path),
        "bytes": path.read_bytes(),
        "stream": io.BytesIO(path.read_bytes()),
    }[kind]
    assert validate_for_ingest(source).sop_instance_uid  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["CT_small.dcm", "JPEG2000.dcm", "examples_ybr_color.dcm", "MR_small_RLE.dcm"]
)
def test_an_image_cut_anywhere_is_refused(name: str) -> None:
    # (A non-image cut exactly between two elements is a well-formed shorter file; a cut
    # inside an element is caught: see rtplan_truncated.dcm in the bundled set.)
    data = bundled(name).read_bytes()
    for cut in range(0, len(data), max(1, len(data) // 40)):
        with pytest.raises(IngestRefused) as refused:
            validate_for_ingest(data[:cut])
        assert refused.value.code in (
            RefusalCode.NOT_DICOM,
            RefusalCode.TRUNCATED,
            RefusalCode.MALFORMED,
            RefusalCode.MISSING_UID,
            RefusalCode.MISSING_PATIENT_ID,
            RefusalCode.INCOMPLETE_PIXEL_MODULE,
            RefusalCode.NO_PIXEL_DATA,
        ), (cut, refused.value.reason)


def test_corrupt_fragment_headers_are_refused() -> None:
    data = bytearray(bundled("JPEG2000.dcm").read_bytes())
    location = parse_instance(bytes(data)).pixel_data
    assert location is not None
    first_item = location.value_offset + 8 + 4 * len(location.basic_offsets)
    data[first_item : first_item + 4] = b"\x10\x00\x10\x00"  # not an item tag
    with pytest.raises(IngestRefused) as refused:
        validate_for_ingest(bytes(data))
    assert refused.value.code is RefusalCode.MALFORMED


def test_patient_identity_is_required_by_default_only() -> None:
    path = bundled("SC_rgb_jpeg_app14_dcmd.dcm")  # empty Patient ID
    with pytest.raises(IngestRefused) as refused:
        validate_for_ingest(path, STRICT)
    assert refused.value.code is RefusalCode.MISSING_PATIENT_ID
    assert "Patient ID" in refused.value.reason
    assert validate_for_ingest(path, LENIENT).patient_id == ""


def test_size_limit() -> None:
    path = bundled("CT_small.dcm")
    with pytest.raises(IngestRefused) as refused:
        validate_for_ingest(path, IngestPolicy(max_bytes=1000))
    assert refused.value.code is RefusalCode.TOO_LARGE


def test_deflated_dataset_is_inflated_and_checked() -> None:
    parsed = validate_for_ingest(bundled("image_dfl.dcm"), LENIENT)
    assert parsed.transfer_syntax_uid == "1.2.840.10008.1.2.1.99"
    assert parsed.pixels is not None and parsed.pixels.rows == 512
    data = bundled("image_dfl.dcm").read_bytes()
    with pytest.raises(IngestRefused):
        validate_for_ingest(data[: len(data) // 2], LENIENT)


def test_reasons_name_the_problem() -> None:
    reasons = {}
    for name in ("MR_truncated.dcm", "badVR.dcm", "no_meta.dcm", "JPEG-lossy.dcm"):
        with pytest.raises(IngestRefused) as refused:
            validate_for_ingest(bundled(name))
        reasons[name] = refused.value.reason
    assert "8,192 bytes" in reasons["MR_truncated.dcm"]
    assert "Number of Frames" in reasons["badVR.dcm"] and "'1A'" in reasons["badVR.dcm"]
    assert "file meta" in reasons["no_meta.dcm"]
    assert "cannot be decoded" in reasons["JPEG-lossy.dcm"]
