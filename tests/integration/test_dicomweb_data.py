"""Test data for the DICOMweb tests: two fresh hospitals of the demo alliance, a doctor in
each, and real DICOM files (small synthetic studies in every modality) put into the index
through the ingest function (``api.ingest.steps.ingest_file``), never written here.

Imported by the ``test_dicomweb_*`` modules for its fixtures; it has no tests itself.
"""

from __future__ import annotations

import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydicom import dcmread

from api.ingest.steps import create_run, ingest_file
from imaging.read import LENIENT
from imaging.synth import Sizes, synth
from store.uow import Ctx
from tests.conftest import unique
from tests.fixtures.hospitals import Staff, make_hospital


@dataclass
class Place:
    hospital_id: int
    code: str
    doctor: str
    admin: str = ""  # its hospital admin (creates its doctors' API tokens)


@dataclass
class StudyFile:
    path: Path
    study: str
    series: str
    sop: str
    modality: str
    patient_id: str
    patient_name: str
    study_date: str
    accession: str
    transfer_syntax: str
    frames: int


@dataclass
class DicomData:
    home: Place  # the hospital whose doctor searches
    other: Place  # another hospital of the same alliance
    files: list[StudyFile] = field(default_factory=list)
    other_files: list[StudyFile] = field(default_factory=list)

    def studies(self) -> dict[str, list[StudyFile]]:
        out: dict[str, list[StudyFile]] = {}
        for f in self.files:
            out.setdefault(f.study, []).append(f)
        return out

    def first(self, modality: str) -> StudyFile:
        return next(f for f in self.files if f.modality == modality)


async def cors_preflight(request: Callable[..., Awaitable[httpx.Response]]) -> httpx.Response:
    """A viewer on another origin asks before reading /dicomweb/studies: any origin, with an
    Authorization header."""
    res = await request(
        "OPTIONS",
        "/dicomweb/studies",
        headers={
            "Origin": "https://viewer.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert res.status_code == 204
    assert res.headers["access-control-allow-origin"] == "*"
    assert "Authorization" in res.headers["access-control-allow-headers"]
    return res


def describe(path: Path) -> StudyFile:
    ds = dcmread(path, stop_before_pixels=True)
    return StudyFile(
        path=path,
        study=str(ds.StudyInstanceUID),
        series=str(ds.SeriesInstanceUID),
        sop=str(ds.SOPInstanceUID),
        modality=str(ds.get("Modality", "")),
        patient_id=str(ds.get("PatientID", "")),
        patient_name=str(ds.get("PatientName", "")),
        study_date=str(ds.get("StudyDate", "")),
        accession=str(ds.get("AccessionNumber", "")),
        transfer_syntax=str(ds.file_meta.TransferSyntaxUID),
        frames=int(ds.get("NumberOfFrames", 1) or 1),
    )


async def new_place(prefix: str) -> Place:
    made = await make_hospital(
        None,
        unique,
        prefix=prefix,
        name="DICOMweb {code}",
        demo_alliance=True,
        department=None,
        staff={
            "doctor": Staff(prefix="dw.doc.", display_name="DICOMweb Doctor", login=False),
            "admin": Staff(
                admin=True, prefix="dw.adm.", display_name="DICOMweb Admin", login=False
            ),
        },
    )
    return Place(made.id, made.code, made["doctor"].username, made["admin"].username)


async def ingest(hospital_id: int, paths: list[Path], lenient: bool = False) -> None:
    run_id = await create_run(Ctx(), hospital_id, "import", "dicomweb tests")
    for path in paths:
        result = await ingest_file(
            run_id, path, file_name=path.name, policy=LENIENT if lenient else None
        )
        assert result.ok, (path, result)


@pytest.fixture(scope="session")
async def dicom_data(database: str, demo: dict) -> DicomData:
    home, other = await new_place("DW-"), await new_place("DWX-")
    folder = Path(tempfile.mkdtemp(prefix="aimis-dicomweb-"))
    home_paths = synth(folder / "home", patients=3, sizes=Sizes.small())
    other_paths = synth(folder / "other", patients=1, sizes=Sizes.small())
    await ingest(home.hospital_id, home_paths)
    await ingest(other.hospital_id, other_paths)
    return DicomData(
        home,
        other,
        [describe(p) for p in home_paths],
        [describe(p) for p in other_paths],
    )
