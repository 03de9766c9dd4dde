"""STOW-RS over real HTTP on loopback, sent by a real DICOMweb client (``dicomweb-client``)
with an API token and by hand-written multipart bodies: per-instance outcomes, status codes,
duplicates, refusals that store nothing and are audited."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file

from imaging.synth import Sizes, synth
from store.tables import AuditLog, Hospital, Instance, MigrationItem, MigrationRun, Outbox, User

pytestmark = pytest.mark.integration


async def stow(
    app_url: str, token: str, body: bytes, content_type: str, path: str = "/dicomweb/studies"
) -> httpx.Response:
    """A STOW-RS request with the bearer token."""
    async with httpx.AsyncClient(base_url=app_url) as http:
        return await http.post(
            path,
            content=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )


def bundled(name: str) -> bytes:
    return Path(get_testdata_file(name, download=False)).read_bytes()


def multipart(parts: list[tuple[str, bytes]], boundary: str = "") -> tuple[bytes, str]:
    boundary = boundary or uuid.uuid4().hex
    body = b""
    for content_type, data in parts:
        body += f"--{boundary}\r\nContent-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return synth(tmp_path_factory.mktemp("stow"), patients=1, sizes=Sizes.small())


@pytest.fixture
async def token(api) -> str:
    """An API token of dr.chen (EAST, radiologist), made by EAST's admin."""
    await api.login("admin.east", "Demo@2026", admin=True)
    user = await User.select(User.id).where(User.username == "dr.chen").first()
    res = await api.post("/api/tokens/", json={"user_id": user["id"], "name": "PACS"})
    assert res.status_code == 201, res.text
    return res.json()["token"]


async def east() -> Any:
    return await Hospital.select().where(Hospital.code == "EAST").first()


async def test_a_dicomweb_client_stores_a_study(app_url, token, study) -> None:
    client = DICOMwebClient(url=f"{app_url}/dicomweb", headers={"Authorization": f"Bearer {token}"})
    datasets = [dcmread(p) for p in study]
    before = (await east())["storage_used_bytes"]
    response = await asyncio.to_thread(client.store_instances, datasets)
    referenced = response.ReferencedSOPSequence
    assert len(referenced) == len(study) and "FailedSOPSequence" not in response
    assert {r.ReferencedSOPInstanceUID for r in referenced} == {d.SOPInstanceUID for d in datasets}
    first = next(d for d in datasets if d.SOPInstanceUID == referenced[0].ReferencedSOPInstanceUID)
    assert referenced[0].RetrieveURL.endswith(
        f"/dicomweb/studies/{first.StudyInstanceUID}/series/{first.SeriesInstanceUID}"
        f"/instances/{first.SOPInstanceUID}"
    )
    hid = (await east())["id"]
    stored = await Instance.select(Instance.hospital).where(
        Instance.sop_uid.is_in([d.SOPInstanceUID for d in datasets])
    )
    assert len(stored) == len(study) and {r["hospital"] for r in stored} == {hid}
    assert (await east())["storage_used_bytes"] > before
    run = (
        await MigrationRun.select()
        .where(MigrationRun.source == "stow")
        .order_by(MigrationRun.id, ascending=False)
        .first()
    )
    assert (run["hospital"], run["stored_count"], run["created_by"]) == (
        hid,
        len(study),
        (await User.select(User.id).where(User.username == "dr.chen").first())["id"],
    )
    outbox = await Outbox.select().where(Outbox.idempotency_key == f"migration-{run['id']}")
    assert len(outbox) == 1 and outbox[0]["kind"] == "migration"

    # the same study again: every instance reported stored, nothing new on disk
    used = (await east())["storage_used_bytes"]
    again = await asyncio.to_thread(client.store_instances, datasets)
    assert len(again.ReferencedSOPSequence) == len(study)
    assert (await east())["storage_used_bytes"] == used


async def test_some_bad_parts_give_202_with_each_failure(app_url, token, study) -> None:
    good = study[0].read_bytes()
    body, content_type = multipart(
        [
            ("application/dicom", good),
            ("application/dicom", bundled("MR_truncated.dcm")),
            ("application/dicom", b"hello, not dicom"),
            ("application/pdf", b"%PDF-1.4"),
        ]
    )
    res = await stow(app_url, token, body, content_type)
    assert res.status_code == 202, res.text
    assert res.headers["content-type"].startswith("application/dicom+json")
    data = res.json()
    assert len(data["00081199"]["Value"]) == 1
    failed = data["00081198"]["Value"]
    assert [f["00081197"]["Value"][0] for f in failed] == [0xC000, 0xC000, 0xC000]
    run_id = int(res.headers["x-aimis-migration-run"])
    items = (
        await MigrationItem.select(MigrationItem.status, MigrationItem.code)
        .where(MigrationItem.migration == run_id)
        .order_by(MigrationItem.id)
    )
    assert [(i["status"], i["code"]) for i in items] == [
        ("duplicate", ""),
        ("refused", "truncated"),
        ("refused", "not-dicom"),
        ("refused", "not-dicom"),
    ]
    audit = await AuditLog.count().where(
        AuditLog.action == "migration.refuse_file", AuditLog.target_id == str(run_id)
    )
    assert audit == 3


async def test_instances_of_another_study_are_refused_409(app_url, token, study) -> None:
    body, content_type = multipart([("application/dicom", study[0].read_bytes())])
    res = await stow(app_url, token, body, content_type, path="/dicomweb/studies/1.2.3.4.5")
    assert res.status_code == 409, res.text
    [failed] = res.json()["00081198"]["Value"]
    assert failed["00081197"]["Value"] == [0xA900]
    assert failed["00081155"]["Value"] == [dcmread(study[0]).SOPInstanceUID]


@pytest.mark.parametrize(
    ("content_type", "status", "says"),
    [
        ("application/dicom", 415, "multipart/related"),
        ('multipart/related; type="application/dicom+xml"; boundary=x', 415, "dicom+xml"),
        ('multipart/related; type="application/dicom"', 400, "boundary"),
    ],
)
async def test_a_body_of_the_wrong_kind_is_refused_and_audited(
    app_url, token, content_type, status, says
) -> None:
    runs = await MigrationRun.count()
    res = await stow(app_url, token, b"whatever", content_type)
    assert res.status_code == status, res.text
    assert says in res.text
    assert await MigrationRun.count() == runs
    row = await AuditLog.select().order_by(AuditLog.id, ascending=False).first()
    assert row["action"].startswith("POST /dicomweb/studies") and says in row["detail"]


async def test_empty_multipart_is_a_400(app_url, token) -> None:
    body, content_type = multipart([])
    res = await stow(app_url, token, body, content_type)
    assert res.status_code == 400 and "no DICOM part" in res.text


async def test_who_may_not_store(app_url, new_api, study) -> None:
    body, content_type = multipart([("application/dicom", study[0].read_bytes())])
    async with httpx.AsyncClient(base_url=app_url) as http:
        anonymous = await http.post(
            "/dicomweb/studies", content=body, headers={"Content-Type": content_type}
        )
    assert anonymous.status_code == 401
    alliance = new_api()
    await alliance.login("alliance.admin", "Demo@2026", admin=True)
    res = await alliance.post(
        "/dicomweb/studies", content=body, headers={"Content-Type": content_type}
    )
    assert res.status_code == 403 and "alliance administrator" in res.text
    clinician = new_api()
    await clinician.login("dr.zhao", "Demo@2026")  # WEST clinician: no report writing
    res = await clinician.post(
        "/dicomweb/studies", content=body, headers={"Content-Type": content_type}
    )
    assert res.status_code == 403
    audit = await AuditLog.select().order_by(AuditLog.id, ascending=False).first()
    assert audit["username"] == "dr.zhao" and audit["outcome"] == "denied"
