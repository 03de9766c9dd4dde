"""The original images' download over real HTTP (issue 15 point 7, SPEC 10.6): only where
the hospital allows it (403), only her own or her family's visible examination (404); the
security code texted by the login code's sender (its outbox row); wrong codes (400 with the
tries left) and the tenth invalidating the request (410), under concurrent requests too;
the link (30 minutes, 410 after) streaming a zip whose DICOMDIR a CD viewer reads; every
step an audit row of the patient realm."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest

from api import ratelimit
from api.patient_archive.downloads import CODE_TRIES
from store.db import transaction
from store.tables import AuditLog, PatientDownload, Study
from store.uow import now
from tests.fixtures.downloads import check_zip, download_code
from tests.fixtures.exams import make_exam, make_place, study_with_images
from tests.fixtures.patients import login_patient, make_person, match_patient, verify_self
from tests.fixtures.waiting import outbox_settled
from tests.integration.test_cloud_film import set_default

pytestmark = pytest.mark.integration
BASE = "/api/patient/downloads"
INTERVAL = "patient-download-code-interval"


@pytest.fixture
async def place_with(new_api: Any, uniq: Any, tmp_path: Path) -> dict[str, Any]:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, allow_download=True)
    study = await study_with_images(place.hospital_id, tmp_path / "study")
    patient = new_api()
    patient.phone = f"86{await login_patient(patient)}"
    person = await verify_self(patient)
    await match_patient(person["id"], place.hospital_id, study["exam_id"])
    return {"place": place, "study": study, "patient": patient, "person": person}


async def ask(patient: Any, exam_id: int) -> dict[str, Any]:
    """A security code for ``exam_id`` (the one-a-minute budget cleared first: each test
    asks for a few)."""
    await ratelimit.clear(INTERVAL, patient.phone)
    res = await patient.post(f"{BASE}/examinations/{exam_id}")
    assert res.status_code == 202, res.text
    return dict(res.json())


async def patient_user(patient: Any) -> str:
    """The audit log's name of the logged-in patient."""
    return f"patient:{(await patient.get('/api/patient/me')).json()['id']}"


async def audit_of(request_id: int) -> list[tuple[str, str]]:
    rows = await (
        AuditLog.select(AuditLog.action, AuditLog.outcome, AuditLog.username)
        .where(AuditLog.target_type == "patient_download", AuditLog.target_id == str(request_id))
        .order_by(AuditLog.id)
    )
    assert all(r["username"].startswith("patient:") for r in rows)
    return [(r["action"], r["outcome"]) for r in rows]


async def test_code_link_and_the_zip_a_cd_viewer_opens(
    place_with: dict, new_api: Any, tmp_path: Path
) -> None:
    patient, study = place_with["patient"], place_with["study"]
    asked = await ask(patient, study["exam_id"])
    assert asked["tries"] == CODE_TRIES and "****" in asked["phone"]
    code = await download_code(asked["id"])
    wrong = "000000" if code != "000000" else "111111"
    res = await patient.post(f"{BASE}/{asked['id']}/code", json={"code": wrong})
    assert res.status_code == 400, res.text
    assert res.json()["tries_left"] == CODE_TRIES - 1
    assert str(CODE_TRIES - 1) in res.json()["detail"]
    res = await patient.post(f"{BASE}/{asked['id']}/code", json={"code": code})
    assert res.status_code == 200, res.text
    link = res.json()
    assert link["url"].startswith(f"{BASE}/")
    row = await PatientDownload.select().where(PatientDownload.id == asked["id"]).first()
    assert row is not None and row["attempts"] == 1
    assert row["expires_at"] - row["issued_at"] == timedelta(minutes=30)
    token = link["url"].rsplit("/", 1)[1]
    assert token not in str(row.values()) and code not in str(row.values())
    # the code is single use: a link once
    again = await patient.post(f"{BASE}/{asked['id']}/code", json={"code": code})
    assert again.status_code == 400

    # the link alone (another device, no session) streams the zip
    res = await new_api().get(link["url"])
    assert res.status_code == 200, res.text
    assert res.headers["content-type"] == "application/zip"
    assert res.headers["content-disposition"].startswith('attachment; filename="AIMIS-')
    assert "content-length" not in res.headers  # streamed, chunk by chunk
    files = await check_zip(res.content, study["id"], tmp_path / "unzipped")
    assert files >= 2
    row = await PatientDownload.select().where(PatientDownload.id == asked["id"]).first()
    assert row is not None and row["downloads"] == 1

    assert await audit_of(asked["id"]) == [
        ("patient_download.code_request", "success"),
        ("patient_download.wrong_code", "failure"),
        ("patient_download.link", "success"),
        ("patient_download.link", "denied"),
        ("patient_download.start", "success"),
    ]
    # the examination's hospital admin sees the download in his operation log (point 10)
    place = place_with["place"]
    res = await place.admin.get("/api/manage/audit", params={"user": await patient_user(patient)})
    assert res.status_code == 200, res.text
    seen = {i["action"] for i in res.json()["items"] if i["target_id"] == str(asked["id"])}
    assert {"patient_download.code_request", "patient_download.start"} <= seen
    assert {i["hospital_id"] for i in res.json()["items"]} == {place.hospital_id}


async def test_her_family_members_examination_too(place_with: dict, tmp_path: Path) -> None:
    patient, place = place_with["patient"], place_with["place"]
    me = (await patient.get("/api/patient/me")).json()
    father = await make_person(
        "王大明", account={"id": me["id"], "phone": ""}, relationship="father"
    )
    other = await study_with_images(place.hospital_id, tmp_path / "father")
    await match_patient(father["id"], place.hospital_id, other["exam_id"])
    asked = await ask(patient, other["exam_id"])
    res = await patient.post(
        f"{BASE}/{asked['id']}/code", json={"code": await download_code(asked["id"])}
    )
    assert res.status_code == 200, res.text
    got = await patient.get(res.json()["url"])
    assert got.status_code == 200
    await check_zip(got.content, other["id"], tmp_path / "unzipped")


async def test_refusals(place_with: dict, new_api: Any, uniq: Any, tmp_path: Path) -> None:
    patient, place, study = place_with["patient"], place_with["place"], place_with["study"]
    before = await PatientDownload.count()
    # not hers, not visible yet, no such examination: the archive's 404
    others = await make_exam(place.hospital_id)
    hidden = await make_exam(place.hospital_id)
    await match_patient(place_with["person"]["id"], place.hospital_id, hidden, visible=False)
    for exam_id in (others, hidden, 2**31 - 1):
        res = await patient.post(f"{BASE}/examinations/{exam_id}")
        assert res.status_code == 404, res.text
    stranger = new_api()
    await login_patient(stranger)
    await verify_self(stranger, name="李四")
    assert (await stranger.post(f"{BASE}/examinations/{study['exam_id']}")).status_code == 404
    assert (await new_api().post(f"{BASE}/examinations/{study['exam_id']}")).status_code == 401
    # another account's request: 404
    asked = await ask(patient, study["exam_id"])
    res = await stranger.post(f"{BASE}/{asked['id']}/code", json={"code": "123456"})
    assert res.status_code == 404
    assert await PatientDownload.count() == before + 1

    # an expired code: 410
    async with transaction():
        await PatientDownload.update(
            {PatientDownload.code_expires_at: now() - timedelta(seconds=1)}
        ).where(PatientDownload.id == asked["id"])
    code = await download_code(asked["id"])
    res = await patient.post(f"{BASE}/{asked['id']}/code", json={"code": code})
    assert res.status_code == 410 and "expired" in res.json()["detail"]

    # an expired link: 410
    asked = await ask(patient, study["exam_id"])
    res = await patient.post(
        f"{BASE}/{asked['id']}/code", json={"code": await download_code(asked["id"])}
    )
    url = res.json()["url"]
    async with transaction():
        await PatientDownload.update(
            {PatientDownload.expires_at: now() - timedelta(seconds=1)}
        ).where(PatientDownload.id == asked["id"])
    res = await new_api().get(url)
    assert res.status_code == 410 and "30 minutes" in res.json()["detail"]
    assert (await new_api().get(f"{BASE}/not-a-token")).status_code == 404
    assert ("patient_download.start", "denied") in await audit_of(asked["id"])

    # the hospital switches downloads off: the live link and new codes are 403
    asked = await ask(patient, study["exam_id"])
    res = await patient.post(
        f"{BASE}/{asked['id']}/code", json={"code": await download_code(asked["id"])}
    )
    url = res.json()["url"]
    await set_default(place.admin, allow_download=False)
    count = await PatientDownload.count()
    res = await patient.post(f"{BASE}/examinations/{study['exam_id']}")
    assert res.status_code == 403, res.text
    assert "does not offer" in res.json()["detail"]
    assert await PatientDownload.count() == count
    assert (await new_api().get(url)).status_code == 403
    page = await patient.get(f"/patient/examinations/{study['exam_id']}")
    assert page.status_code == 200 and 'id="download"' not in page.text
    await set_default(place.admin, allow_download=True)
    page = await patient.get(f"/patient/examinations/{study['exam_id']}")
    assert 'id="download-ask"' in page.text

    # the study moved to the archive tier: 409 saying so, nothing streamed
    asked = await ask(patient, study["exam_id"])
    res = await patient.post(
        f"{BASE}/{asked['id']}/code", json={"code": await download_code(asked["id"])}
    )
    async with transaction():
        await Study.update({Study.tier: "archive"}).where(Study.id == study["id"])
    res = await new_api().get(res.json()["url"])
    assert res.status_code == 409 and "archive" in res.json()["detail"]
    async with transaction():
        await Study.update({Study.tier: "online"}).where(Study.id == study["id"])


async def test_ten_wrong_codes_invalidate_under_concurrency(place_with: dict, new_api: Any) -> None:
    patient, study = place_with["patient"], place_with["study"]
    asked = await ask(patient, study["exam_id"])
    code = await download_code(asked["id"])
    guesses = [f"{(int(code) + i) % 1_000_000:06d}" for i in range(1, 21)]
    results = await asyncio.gather(
        *(patient.post(f"{BASE}/{asked['id']}/code", json={"code": g}) for g in guesses)
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(400) == CODE_TRIES - 1, codes
    assert codes.count(410) == 20 - (CODE_TRIES - 1), codes
    gone = next(r for r in results if r.status_code == 410)
    assert "invalidated" in gone.json()["detail"]
    row = await PatientDownload.select().where(PatientDownload.id == asked["id"]).first()
    assert row is not None and row["attempts"] == CODE_TRIES
    assert row["invalidated_at"] is not None and row["token_hash"] is None
    # the right code comes too late
    res = await patient.post(f"{BASE}/{asked['id']}/code", json={"code": code})
    assert res.status_code == 410
    trail = await audit_of(asked["id"])
    assert trail.count(("patient_download.wrong_code", "failure")) == CODE_TRIES
    # a new code is a new request
    fresh = await ask(patient, study["exam_id"])
    res = await patient.post(
        f"{BASE}/{fresh['id']}/code", json={"code": await download_code(fresh["id"])}
    )
    assert res.status_code == 200, res.text


async def test_the_security_code_reaches_the_log_channel(place_with: dict, dispatcher: Any) -> None:
    """Through the real dispatcher (no SMS provider: the demo's log channel), in the words
    of a download code, and gone from the outbox row once delivered."""
    asked = await ask(place_with["patient"], place_with["study"]["exam_id"])
    code = await download_code(asked["id"])
    settled = await outbox_settled(f"patient-download-{asked['id']}", log=dispatcher.output)
    assert (settled["status"], settled["attempts"]) == ("done", 1), settled["error"]
    assert "code" not in msgspec.json.decode(settled["payload"])
    phone = place_with["patient"].phone[2:]
    lines = [
        line
        for line in dispatcher.output().splitlines()
        if f"message for patient phone {phone[:3]}****{phone[-4:]}" in line and code in line
    ]
    assert len(lines) == 1, dispatcher.output()[-3000:]
    assert "security code for downloading the original images" in lines[0]
