"""QIDO-RS against the running app: match keys, wildcards, ranges, UID lists, includefield,
paging, warnings, scoping by hospital, and malformed parameters refused and audited."""

# ruff: noqa: F811  (the dicom_data fixture is imported, then requested by name)

from __future__ import annotations

import httpx
import pytest

from store.tables import AuditLog
from tests.fixtures.hospitals import PASSWORD
from tests.integration.test_dicomweb_data import (  # noqa: F401
    DicomData,
    dicom_data,
)

pytestmark = pytest.mark.integration
JSON = {"Accept": "application/dicom+json"}


@pytest.fixture
async def doctor(new_api, dicom_data: DicomData):
    client = new_api()
    await client.login(dicom_data.home.doctor, PASSWORD)
    return client


def values(item: dict, tag: str) -> list:
    return item.get(tag, {}).get("Value", [])


def uids(res: httpx.Response, tag: str = "0020000D") -> set[str]:
    assert res.status_code == 200, res.text
    return {values(item, tag)[0] for item in res.json()}


async def test_studies_lists_exactly_what_the_hospital_has(doctor, dicom_data: DicomData) -> None:
    res = await doctor.get("/dicomweb/studies", headers=JSON)
    assert res.headers["content-type"].startswith("application/dicom+json")
    assert uids(res) == set(dicom_data.studies())
    assert not {f.study for f in dicom_data.other_files} & uids(res)
    item = next(i for i in res.json() if values(i, "0020000D")[0] == dicom_data.first("CT").study)
    ct = [f for f in dicom_data.files if f.study == dicom_data.first("CT").study]
    assert values(item, "00080061") == ["CT"]
    assert values(item, "00201208") == [len(ct)]
    assert values(item, "00201206") == [1]
    assert values(item, "00100020") == [ct[0].patient_id]
    alphabetic, _, ideographic = ct[0].patient_name.partition("=")
    assert values(item, "00100010") == [{"Alphabetic": alphabetic, "Ideographic": ideographic}]
    assert values(item, "00080056") == ["ONLINE"]
    assert values(item, "00081190")[0].endswith(f"/dicomweb/studies/{ct[0].study}")
    assert item["00080005"]["Value"] == ["ISO_IR 192"]
    assert list(item) == sorted(item)


async def test_match_keys(doctor, dicom_data: DicomData) -> None:
    ct = dicom_data.first("CT")
    by_patient = {f.study for f in dicom_data.files if f.patient_id == ct.patient_id}
    res = await doctor.get("/dicomweb/studies", params={"PatientID": ct.patient_id})
    assert uids(res) == by_patient
    res = await doctor.get("/dicomweb/studies", params={"00100020": ct.patient_id})
    assert uids(res) == by_patient
    surname = ct.patient_name.split("^")[0]
    same_surname = {f.study for f in dicom_data.files if f.patient_name.startswith(surname + "^")}
    res = await doctor.get("/dicomweb/studies", params={"PatientName": surname.lower() + "^*"})
    assert uids(res) == same_surname
    pattern = "?" + surname[1:].upper() + "^*"
    assert uids(await doctor.get("/dicomweb/studies", params={"PatientName": pattern})) >= (
        same_surname
    )
    ideographic = ct.patient_name.partition("=")[2]
    family = ideographic.split("^")[0]
    res = await doctor.get("/dicomweb/studies", params={"PatientName": f"{family}^*"})
    assert uids(res) == {
        f.study for f in dicom_data.files if f.patient_name.partition("=")[2].startswith(family)
    }
    res = await doctor.get("/dicomweb/studies", params={"PatientName": ideographic})
    assert uids(res) == {
        f.study for f in dicom_data.files if f.patient_name.partition("=")[2] == ideographic
    }
    res = await doctor.get("/dicomweb/studies", params={"PatientName": "ZZZ-NOBODY*"})
    assert uids(res) == set()
    res = await doctor.get("/dicomweb/studies", params={"AccessionNumber": ct.accession})
    assert uids(res) == {ct.study}
    wildcard = ct.accession[:3] + "*" + ct.accession[-2:]
    res = await doctor.get("/dicomweb/studies", params={"AccessionNumber": wildcard})
    assert ct.study in uids(res)
    # not a person's name: matched case-sensitively, on SQLite as on PostgreSQL
    res = await doctor.get("/dicomweb/studies", params={"AccessionNumber": wildcard.lower()})
    assert ct.study not in uids(res)
    res = await doctor.get("/dicomweb/studies", params={"ModalitiesInStudy": "CT"})
    assert uids(res) == {f.study for f in dicom_data.files if f.modality == "CT"}
    res = await doctor.get("/dicomweb/studies", params={"ModalitiesInStudy": "MR,US"})
    assert uids(res) == {f.study for f in dicom_data.files if f.modality in ("MR", "US")}
    two = sorted(dicom_data.studies())[:2]
    res = await doctor.get("/dicomweb/studies", params={"StudyInstanceUID": ",".join(two)})
    assert uids(res) == set(two)
    res = await doctor.get("/dicomweb/studies", params={"StudyInstanceUID": "\\".join(two)})
    assert uids(res) == set(two)


async def test_date_ranges(doctor, dicom_data: DicomData) -> None:
    dates = sorted({f.study_date for f in dicom_data.files})
    lo, hi = dates[0], dates[-1]
    in_range = {f.study for f in dicom_data.files if lo <= f.study_date <= dates[len(dates) // 2]}
    res = await doctor.get(
        "/dicomweb/studies", params={"StudyDate": f"{lo}-{dates[len(dates) // 2]}"}
    )
    assert uids(res) == in_range
    res = await doctor.get("/dicomweb/studies", params={"StudyDate": f"-{lo}"})
    assert uids(res) == {f.study for f in dicom_data.files if f.study_date == lo}
    res = await doctor.get("/dicomweb/studies", params={"StudyDate": f"{hi}-"})
    assert uids(res) == {f.study for f in dicom_data.files if f.study_date == hi}
    res = await doctor.get("/dicomweb/studies", params={"StudyDate": hi})
    assert uids(res) == {f.study for f in dicom_data.files if f.study_date == hi}
    res = await doctor.get(
        "/dicomweb/studies", params={"StudyDate": f"{lo}-{hi}", "ModalitiesInStudy": "CT"}
    )
    assert uids(res) == {f.study for f in dicom_data.files if f.modality == "CT"}


async def test_paging_and_warnings(doctor, dicom_data: DicomData) -> None:
    everything = await doctor.get("/dicomweb/studies")
    order = [values(i, "0020000D")[0] for i in everything.json()]
    assert "warning" not in everything.headers
    page1 = await doctor.get("/dicomweb/studies", params={"limit": 2, "offset": 0})
    page2 = await doctor.get("/dicomweb/studies", params={"limit": 2, "offset": 2})
    assert [values(i, "0020000D")[0] for i in page1.json() + page2.json()] == order[:4]
    assert "offset 2" in page1.headers["warning"]
    assert page1.headers["warning"].startswith("299 ")
    res = await doctor.get(
        "/dicomweb/studies",
        params={"limit": 101, "offset": 0, "fuzzymatching": "true", "PatientAge": "040Y"},
    )
    assert uids(res) == set(order)
    warning = res.headers["warning"]
    assert "fuzzymatching" in warning and "PatientAge" in warning
    ohif = await doctor.get(
        "/dicomweb/studies?limit=101&offset=0&fuzzymatching=false&includefield=00081030%2C00080060"
    )
    assert uids(ohif) == set(order)
    assert all("00081030" in i for i in ohif.json())
    res = await doctor.get("/dicomweb/studies", params={"includefield": "all", "limit": 5000})
    assert uids(res) == set(order)
    assert "maximum of 1000" in res.headers["warning"]


async def test_series_and_instances(doctor, dicom_data: DicomData) -> None:
    ct = dicom_data.first("CT")
    res = await doctor.get(f"/dicomweb/studies/{ct.study}/series")
    assert uids(res, "0020000E") == {ct.series}
    item = res.json()[0]
    assert values(item, "00080060") == ["CT"]
    assert values(item, "0020000D") == [ct.study]
    series_files = [f for f in dicom_data.files if f.series == ct.series]
    assert values(item, "00201209") == [len(series_files)]
    res = await doctor.get(f"/dicomweb/studies/{ct.study}/series/{ct.series}/instances")
    assert uids(res, "00080018") == {f.sop for f in series_files}
    first = res.json()[0]
    assert values(first, "00280010") and values(first, "00280008") == [1]
    assert values(first, "00083002") == [ct.transfer_syntax]
    assert values(first, "00081190")[0].endswith(
        f"/studies/{ct.study}/series/{ct.series}/instances/{values(first, '00080018')[0]}"
    )
    res = await doctor.get(f"/dicomweb/studies/{ct.study}/instances")
    assert uids(res, "00080018") == {f.sop for f in dicom_data.files if f.study == ct.study}
    res = await doctor.get("/dicomweb/series", params={"Modality": "US"})
    assert uids(res, "0020000E") == {f.series for f in dicom_data.files if f.modality == "US"}
    res = await doctor.get(
        "/dicomweb/series", params={"PatientID": ct.patient_id, "Modality": "CT"}
    )
    assert uids(res, "0020000E") == {ct.series}
    res = await doctor.get("/dicomweb/instances", params={"SOPInstanceUID": ct.sop})
    assert uids(res, "00080018") == {ct.sop}
    other = dicom_data.other_files[0]
    res = await doctor.get("/dicomweb/instances", params={"SOPInstanceUID": other.sop})
    assert uids(res, "00080018") == set()
    res = await doctor.get(f"/dicomweb/studies/{other.study}/series")
    assert uids(res, "0020000E") == set()


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("limit=abc", "'limit' is malformed"),
        ("limit=0", "'limit' is malformed"),
        ("offset=-1", "'offset' is malformed"),
        ("StudyDate=2020-01-01", "not a date"),
        ("StudyDate=20201301", "not a date"),
        ("StudyDate=20201231-20200101", "starts (20201231) after it ends"),
        ("StudyInstanceUID=1.2.abc", "not a UID"),
        ("ModalitiesInStudy=C%25T", "not a code string"),
        ("includefield=NoSuchThing", "names no DICOM attribute"),
        ("fuzzymatching=maybe", "true or false"),
        ("PatinetID=123", "'PatinetID' is unknown"),
        ("PatientID=1&PatientID=2", "more than once"),
    ],
)
async def test_malformed_parameters_are_refused_and_audited(
    doctor,
    dicom_data: DicomData,
    query: str,
    words: str,
) -> None:
    before = await AuditLog.count().where(AuditLog.username == dicom_data.home.doctor)
    res = await doctor.get(f"/dicomweb/studies?{query}")
    assert res.status_code == 400, res.text
    assert words in res.json()["detail"]
    row = (
        await AuditLog.select()
        .where(AuditLog.username == dicom_data.home.doctor)
        .order_by(AuditLog.id, ascending=False)
        .first()
    )
    assert await AuditLog.count().where(AuditLog.username == dicom_data.home.doctor) == before + 1
    assert row["outcome"] == "failure" and words in row["detail"]
    assert row["action"].startswith("GET /dicomweb/studies")


async def test_searches_are_audited(doctor, dicom_data: DicomData) -> None:
    ct = dicom_data.first("CT")
    res = await doctor.get("/dicomweb/studies", params={"PatientID": ct.patient_id})
    assert res.status_code == 200
    row = (
        await AuditLog.select()
        .where(AuditLog.username == dicom_data.home.doctor, AuditLog.action == "dicomweb.search")
        .order_by(AuditLog.id, ascending=False)
        .first()
    )
    assert row["outcome"] == "success"
    assert f"PatientID={ct.patient_id}" in row["detail"]


async def test_not_acceptable_and_not_logged_in(new_api, dicom_data: DicomData) -> None:
    anonymous = new_api()
    res = await anonymous.get("/dicomweb/studies")
    assert res.status_code == 401
    assert "Log in" in res.json()["detail"]
    res = await anonymous.get("/dicomweb/studies", headers={"Authorization": "Bearer aimis_nope"})
    assert res.status_code == 401
    assert res.json()["detail"] == "The bearer token is unknown."
    row = await AuditLog.select().order_by(AuditLog.id, ascending=False).first()
    assert row["outcome"] == "denied" and "The bearer token is unknown." in row["detail"]
    doctor = new_api()
    await doctor.login(dicom_data.home.doctor, PASSWORD)
    res = await doctor.get("/dicomweb/studies", headers={"Accept": "application/dicom+xml"})
    assert res.status_code == 406
