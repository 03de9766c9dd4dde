"""WADO-RS against the running app: instances as stored, metadata for viewers, frames
passed through or decoded, rendered images and thumbnails, archived and deleted studies,
another hospital's study, CORS and capabilities; every retrieve and refusal audited."""

# ruff: noqa: F811  (the dicom_data fixture is imported, then requested by name)

from __future__ import annotations

import io
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.uid import UID

from imaging.frames import encoded_frame, native_frame
from imaging.synth import Sizes, synth
from store.tables import AuditLog, Study
from tests.fixtures.hospitals import PASSWORD
from tests.integration.test_dicomweb_data import (  # noqa: F401
    DicomData,
    StudyFile,
    cors_preflight,
    describe,
    dicom_data,
    ingest,
    new_place,
)

pytestmark = pytest.mark.integration
OCTET = 'multipart/related; type="application/octet-stream"'


@pytest.fixture
async def doctor(new_api, dicom_data: DicomData):
    client = new_api()
    await client.login(dicom_data.home.doctor, PASSWORD)
    return client


def parts(res: httpx.Response) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/related response: (headers, body)."""
    assert res.status_code == 200, res.text
    content_type = res.headers["content-type"]
    assert content_type.startswith("multipart/related"), content_type
    boundary = content_type.split("boundary=")[1].split(";")[0].strip('"').encode()
    body = res.content
    assert body.endswith(b"--" + boundary + b"--\r\n")
    out = []
    for chunk in body.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk[2:].partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n") if ": " in line)
        out.append(({k.lower(): v for k, v in headers.items()}, data[:-2]))
    return out


def url(f: StudyFile) -> str:
    return f"/dicomweb/studies/{f.study}/series/{f.series}/instances/{f.sop}"


async def last_audit(username: str) -> dict:
    row = (
        await AuditLog.select()
        .where(AuditLog.username == username)
        .order_by(AuditLog.id, ascending=False)
        .first()
    )
    assert row is not None
    return row


async def test_retrieve_instances_as_stored(doctor, dicom_data: DicomData) -> None:
    ct = dicom_data.first("CT")
    study_files = {f.sop: f for f in dicom_data.files if f.study == ct.study}
    got = parts(await doctor.get(f"/dicomweb/studies/{ct.study}"))
    assert len(got) == len(study_files)
    for headers, data in got:
        assert headers["content-type"].startswith("application/dicom")
        sop = headers["content-location"].rsplit("/", 1)[1]
        assert data == study_files[sop].path.read_bytes()
    got = parts(
        await doctor.get(url(ct), headers={"Accept": 'multipart/related; type="application/dicom"'})
    )
    assert [data for _, data in got] == [ct.path.read_bytes()]
    row = await last_audit(dicom_data.home.doctor)
    assert (row["action"], row["target_id"], row["outcome"]) == (
        "dicomweb.retrieve",
        ct.study,
        "success",
    )
    assert row["hospital_id"] == dicom_data.home.hospital_id


async def test_metadata_has_what_viewers_need(doctor, dicom_data: DicomData) -> None:
    for modality in ("CT", "US", "MR"):
        f = dicom_data.first(modality)
        res = await doctor.get(f"/dicomweb/studies/{f.study}/series/{f.series}/metadata")
        assert res.status_code == 200, res.text
        assert res.headers["content-type"].startswith("application/dicom+json")
        items = res.json()
        assert len(items) == len([x for x in dicom_data.files if x.series == f.series])
        item = next(i for i in items if i["00080018"]["Value"] == [f.sop])
        for tag in ("00280010", "00280011", "00280100", "00280101", "00280002", "00280004"):
            assert item[tag]["Value"], tag
        assert item["00280008"]["Value"] in ([f.frames], [str(f.frames)])
        assert item["00083002"]["Value"] == [f.transfer_syntax]
        assert item["7FE00010"]["BulkDataURI"].endswith(url(f) + "/bulkdata/7FE00010")
        assert item["00100010"]["Value"][0]["Alphabetic"]
    study = await doctor.get(f"/dicomweb/studies/{f.study}/metadata")
    assert len(study.json()) == len([x for x in dicom_data.files if x.study == f.study])
    one = await doctor.get(url(f) + "/metadata")
    assert [i["00080018"]["Value"] for i in one.json()] == [[f.sop]]


async def test_frames_decoded_or_as_stored(doctor, dicom_data: DicomData) -> None:
    syntaxes: dict[str, StudyFile] = {}
    for f in dicom_data.files:
        syntaxes.setdefault(f.transfer_syntax, f)
    assert len(syntaxes) >= 3, syntaxes
    for syntax, f in syntaxes.items():
        native = parts(await doctor.get(url(f) + "/frames/1", headers={"Accept": OCTET}))
        assert len(native) == 1
        headers, data = native[0]
        assert headers["content-type"] == (
            "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
        )
        assert data == native_frame(f.path, 0).data
        stored = parts(
            await doctor.get(
                url(f) + "/frames/1", headers={"Accept": OCTET + "; transfer-syntax=*"}
            )
        )
        headers, data = stored[0]
        if UID(syntax).is_compressed:
            assert headers["content-type"].endswith(f"transfer-syntax={syntax}")
            assert data == encoded_frame(f.path, 0)
        else:
            assert data == native_frame(f.path, 0).data
        # OHIF's header (omitQuotationForMultipartRequest): unquoted, any syntax
        ohif = "multipart/related; type=application/octet-stream; transfer-syntax=*"
        again = parts(await doctor.get(url(f) + "/frames/1", headers={"Accept": ohif}))
        assert again == stored
    us = dicom_data.first("US")
    assert us.frames > 1
    listed = parts(await doctor.get(url(us) + f"/frames/1,{us.frames}", headers={"Accept": OCTET}))
    assert [d for _, d in listed] == [
        native_frame(us.path, 0).data,
        native_frame(us.path, us.frames - 1).data,
    ]
    row = await last_audit(dicom_data.home.doctor)
    assert row["action"] == "dicomweb.frames" and f"frames 1,{us.frames}" in row["detail"]


async def test_frames_negotiation_refusals(doctor, dicom_data: DicomData) -> None:
    compressed = next(f for f in dicom_data.files if UID(f.transfer_syntax).is_compressed)
    other = next(
        s
        for s in ("1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.90")
        if s != compressed.transfer_syntax
    )
    res = await doctor.get(
        url(compressed) + "/frames/1", headers={"Accept": f"{OCTET}; transfer-syntax={other}"}
    )
    assert res.status_code == 406
    assert compressed.transfer_syntax in res.json()["detail"]
    row = await last_audit(dicom_data.home.doctor)
    assert row["outcome"] == "failure" and "406" in row["detail"]


@pytest.mark.parametrize(
    ("frames", "status", "words"),
    [
        ("99", 404, "Frame 99 was asked for, but the image has"),
        ("0", 400, "frame numbers are whole numbers from 1"),
        ("1,x", 400, "malformed"),
    ],
)
async def test_bad_frame_numbers(
    doctor,
    dicom_data: DicomData,
    frames: str,
    status: int,
    words: str,
) -> None:
    ct = dicom_data.first("CT")
    res = await doctor.get(url(ct) + f"/frames/{frames}", headers={"Accept": OCTET})
    assert res.status_code == status, res.text
    assert words in res.json()["detail"]
    row = await last_audit(dicom_data.home.doctor)
    assert words in row["detail"] and row["outcome"] in ("denied", "failure")


async def test_rendered_and_thumbnails(doctor, dicom_data: DicomData) -> None:
    ct = dicom_data.first("CT")
    jpeg = await doctor.get(url(ct) + "/rendered")
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    picture = Image.open(io.BytesIO(jpeg.content))
    assert picture.format == "JPEG" and picture.size == (64, 64)
    png = await doctor.get(url(ct) + "/rendered", headers={"Accept": "image/png"})
    assert Image.open(io.BytesIO(png.content)).format == "PNG"
    narrow = await doctor.get(
        url(ct) + "/rendered", params={"window": "40,80"}, headers={"Accept": "image/png"}
    )
    wide = await doctor.get(
        url(ct) + "/rendered",
        params={"window": "40,2000,LINEAR"},
        headers={"Accept": "image/png"},
    )
    a = np.asarray(Image.open(io.BytesIO(narrow.content)))
    b = np.asarray(Image.open(io.BytesIO(wide.content)))
    assert a.std() > b.std()  # a narrow window has more contrast
    big = await doctor.get(url(ct) + "/rendered", params={"viewport": "256,128"})
    assert Image.open(io.BytesIO(big.content)).size == (128, 128)
    assert "warning" not in big.headers
    annotated = await doctor.get(url(ct) + "/rendered", params={"annotation": "patient"})
    assert annotated.status_code == 200
    assert "ignored: annotation" in annotated.headers["warning"]
    low = await doctor.get(url(ct) + "/rendered", params={"quality": "5", "viewport": "256,256"})
    high = await doctor.get(url(ct) + "/rendered", params={"quality": "95", "viewport": "256,256"})
    assert len(low.content) < len(high.content)
    us = dicom_data.first("US")
    frame = await doctor.get(url(us) + f"/frames/{us.frames}/rendered")
    assert Image.open(io.BytesIO(frame.content)).size == (128, 96)
    for path in (
        f"/dicomweb/studies/{ct.study}/thumbnail",
        f"/dicomweb/studies/{ct.study}/series/{ct.series}/thumbnail",
        url(ct) + "/thumbnail",
        url(us) + "/frames/2/thumbnail",
    ):
        res = await doctor.get(path)
        assert res.status_code == 200, (path, res.text)
        assert max(Image.open(io.BytesIO(res.content)).size) <= 128
    row = await last_audit(dicom_data.home.doctor)
    assert row["action"] == "dicomweb.thumbnail"


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("window=40", "'window' is malformed"),
        ("window=40,-5", "'window' is malformed"),
        ("window=40,400,CUBIC", "LINEAR, LINEAR_EXACT or SIGMOID"),
        ("viewport=0,10", "'viewport' is malformed"),
        ("quality=101", "'quality' must be"),
    ],
)
async def test_bad_render_parameters(
    doctor,
    dicom_data: DicomData,
    query: str,
    words: str,
) -> None:
    res = await doctor.get(url(dicom_data.first("CT")) + f"/rendered?{query}")
    assert res.status_code == 400, res.text
    assert words in res.json()["detail"]
    assert words in (await last_audit(dicom_data.home.doctor))["detail"]


async def test_rendered_refuses_other_formats(doctor, dicom_data: DicomData) -> None:
    res = await doctor.get(
        url(dicom_data.first("CT")) + "/rendered", headers={"Accept": "image/gif"}
    )
    assert res.status_code == 406


async def test_other_hospitals_study_is_not_found(doctor, dicom_data: DicomData) -> None:
    other = dicom_data.other_files[0]
    for path in (
        f"/dicomweb/studies/{other.study}",
        f"/dicomweb/studies/{other.study}/metadata",
        url(other) + "/frames/1",
        url(other) + "/rendered",
    ):
        res = await doctor.get(path)
        assert res.status_code == 404, path
        assert "may not see it" in res.json()["detail"]
    row = await last_audit(dicom_data.home.doctor)
    assert row["outcome"] == "denied"


async def test_archived_and_deleted_studies(new_api) -> None:
    place = await new_place("DWA-")
    paths = synth(Path(tempfile.mkdtemp()), patients=1, sizes=Sizes.small())
    await ingest(place.hospital_id, paths)
    files = [describe(p) for p in paths]
    by_study: dict[str, StudyFile] = {}
    for f in files:
        by_study.setdefault(f.study, f)
    archived, deleted, online = list(by_study.values())[:3]
    await Study.update({Study.tier: "archive"}).where(Study.study_uid == archived.study)
    await Study.update({Study.deleted_at: datetime.now(UTC)}).where(
        Study.study_uid == deleted.study
    )
    client = new_api()
    await client.login(place.doctor, PASSWORD)
    res = await client.get("/dicomweb/studies")
    listed = {i["0020000D"]["Value"][0]: i for i in res.json()}
    assert set(listed) == {archived.study, online.study}
    assert listed[archived.study]["00080056"]["Value"] == ["NEARLINE"]
    assert listed[online.study]["00080056"]["Value"] == ["ONLINE"]
    for path in (f"/dicomweb/studies/{archived.study}", url(archived) + "/frames/1"):
        res = await client.get(path)
        assert res.status_code == 409
        assert "archived" in res.json()["detail"] and "retrieval" in res.json()["detail"]
    res = await client.get(url(deleted) + "/rendered")
    assert res.status_code == 404
    assert (await client.get(url(online) + "/rendered")).status_code == 200


async def test_cors_and_capabilities(new_api, dicom_data: DicomData) -> None:
    client = new_api()
    preflight = await cors_preflight(client.http.request)
    assert "access-control-allow-credentials" not in preflight.headers
    refused = await client.get("/dicomweb/studies", headers={"Origin": "https://viewer.example"})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "*"
    caps = await client.http.request("OPTIONS", "/dicomweb")
    assert caps.status_code == 200
    assert "PatientName" in caps.json()["qido-rs"]["matching"]["study"]
    assert "GET" in caps.headers["allow"]


async def test_single_part_and_bulk_data(doctor, dicom_data: DicomData) -> None:
    ct, us = dicom_data.first("CT"), dicom_data.first("US")
    res = await doctor.get(url(ct) + "/frames/1", headers={"Accept": "application/octet-stream"})
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("application/octet-stream")
    assert res.content == native_frame(ct.path, 0).data
    res = await doctor.get(url(us) + "/frames/1,2", headers={"Accept": "application/octet-stream"})
    assert res.status_code == 406 and "multipart/related" in res.json()["detail"]
    pixels = parts(await doctor.get(url(us) + "/bulkdata/7FE00010", headers={"Accept": OCTET}))
    assert [d for _, d in pixels] == [native_frame(us.path, i).data for i in range(us.frames)]
    res = await doctor.get(url(ct) + "/bulkdata/00091234")
    assert res.status_code == 404 and "no element 00091234" in res.json()["detail"]
    res = await doctor.get(url(ct) + "/bulkdata/nonsense")
    assert res.status_code == 400
    # served again from the cache: the same bytes
    again = await doctor.get(url(ct) + "/frames/1", headers={"Accept": "application/octet-stream"})
    assert again.content == native_frame(ct.path, 0).data
