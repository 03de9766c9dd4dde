"""Synthetic studies round-trip: every file ingests strictly, decodes, renders, and its UIDs,
patient and transfer syntax are what the generator meant."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from imaging.frames import decode_frame
from imaging.read import ParsedInstance, validate_for_ingest
from imaging.render import render_frame
from imaging.synth import Sizes, fake_patient, synth

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, ParsedInstance]]:
    out = tmp_path_factory.mktemp("synth")
    files = synth(out, patients=3, seed=2024, sizes=Sizes.small())
    return [(path, validate_for_ingest(path)) for path in files]


def test_every_modality_and_syntax_is_written(studies: list) -> None:
    modalities = {parsed.modality for _, parsed in studies}
    assert modalities == {"CT", "MR", "DX", "CR", "US", "MG"}
    syntaxes = {parsed.transfer_syntax_uid for _, parsed in studies}
    assert {
        ExplicitVRLittleEndian,
        RLELossless,
        JPEGLSLossless,
        JPEG2000Lossless,
        JPEGBaseline8Bit,
    } <= syntaxes


def test_every_file_decodes_and_renders(studies: list) -> None:
    for path, parsed in studies:
        last = parsed.number_of_frames - 1
        for index in sorted({0, last}):
            img = render_frame(path, index)
            assert img.dtype == np.uint8 and img.std() > 5, path  # not a blank picture


def test_uids_are_consistent(studies: list) -> None:
    by_study: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    series_study: dict[str, str] = {}
    instances: set[str] = set()
    for path, parsed in studies:
        ds = parsed.dataset
        by_study[parsed.study_instance_uid].add(
            (parsed.patient_id, str(ds.AccessionNumber), path.parent.parent.name)
        )
        assert series_study.setdefault(parsed.series_instance_uid, parsed.study_instance_uid) == (
            parsed.study_instance_uid
        )
        assert parsed.sop_instance_uid not in instances
        instances.add(parsed.sop_instance_uid)
        assert ds.file_meta.MediaStorageSOPInstanceUID == parsed.sop_instance_uid
        assert ds.file_meta.MediaStorageSOPClassUID == parsed.sop_class_uid
    assert all(len(values) == 1 for values in by_study.values())  # one patient, one folder
    assert len(by_study) == 9  # three studies for each of three patients


def test_ct_is_a_plausible_hu_series(studies: list) -> None:
    ct = sorted(
        (p for p in studies if p[1].modality == "CT"),
        key=lambda p: int(p[1].dataset.InstanceNumber),
    )
    series = defaultdict(list)
    for path, parsed in ct:
        series[parsed.series_instance_uid].append((path, parsed))
    for members in series.values():
        positions = [float(p.dataset.ImagePositionPatient[2]) for _, p in members]
        assert positions == sorted(positions, reverse=True) and len(set(positions)) == len(members)
        path, parsed = members[len(members) // 2]
        ds = parsed.dataset
        hu = decode_frame(path, 0).array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
        assert hu.min() < -900 and hu.max() > 700  # air and bone
        assert ds.PixelSpacing and list(ds.ImageOrientationPatient) == [1, 0, 0, 0, 1, 0]
        assert ds.BitsAllocated == 16 and ds.BitsStored == 12


def test_cr_is_monochrome1_and_bone_renders_bright(studies: list) -> None:
    (path, parsed), *_ = [p for p in studies if p[1].modality == "CR"]
    assert parsed.pixels.photometric_interpretation == "MONOCHROME1"
    stored = decode_frame(path, 0).array
    img = render_frame(path, 0)
    # the lowest stored values are the densest (bone) on a MONOCHROME1 image: brightest
    assert img[stored <= np.percentile(stored, 2)].mean() > img.mean() + 60


def test_ultrasound_is_a_colour_jpeg_clip(studies: list) -> None:
    (path, parsed), *_ = [p for p in studies if p[1].modality == "US"]
    assert parsed.transfer_syntax_uid == JPEGBaseline8Bit
    assert parsed.pixels.photometric_interpretation == "YBR_FULL_422"
    assert parsed.number_of_frames == Sizes.small().us_frames
    assert render_frame(path, parsed.number_of_frames - 1).shape[2] == 3


def test_requested_syntax_is_used(tmp_path: Path) -> None:
    files = synth(
        tmp_path, patients=1, seed=5, sizes=Sizes.small(), transfer_syntaxes={"CT": RLELossless}
    )
    ct = [validate_for_ingest(f) for f in files if "_CT" in f.parent.name]
    assert ct and {p.transfer_syntax_uid for p in ct} == {RLELossless}


def test_fake_patients_are_plausible() -> None:
    import random

    rng = random.Random(1)
    for _ in range(20):
        patient = fake_patient(rng)
        alphabetic, ideographic = patient.name.split("=")
        assert "^" in alphabetic and "^" in ideographic and patient.sex in "MF"
        assert patient.patient_id.startswith("SYN") and len(patient.birth_date) == 8
