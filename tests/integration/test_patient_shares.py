"""Patient share links over real HTTP (issue 15 point 6, SPEC 10.5): made only for a visible
examination of the patient's own or family's, the recipient's password with its limits
(concurrent guesses), the link session scoped to one study (changed UIDs: 404), expiry,
revocation (410), and the audit rows the patient's list reads."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from api import ratelimit
from store.db import transaction
from store.tables import AuditLog, PatientMatch, PatientShare
from store.uow import now
from tests.fixtures.exams import make_exam, make_place, study_with_images
from tests.fixtures.patients import login_patient, make_person, match_patient, verify_self

pytestmark = pytest.mark.integration


@pytest.fixture
async def shared(new_api: Any, uniq: Any, tmp_path: Path) -> dict[str, Any]:
    place = await make_place(new_api, uniq)
    study = await study_with_images(place.hospital_id, tmp_path)
    patient = new_api()
    await login_patient(patient)
    person = await verify_self(patient)
    await match_patient(person["id"], place.hospital_id, study["exam_id"])
    return {"place": place, "study": study, "patient": patient, "person": person}


async def make_link(patient: Any, exam_id: int, **kw: Any) -> dict[str, Any]:
    res = await patient.post("/api/patient/shares/", json={"examination_id": exam_id, **kw})
    assert res.status_code == 200, res.text
    return dict(res.json())


async def audit(share_id: int, action: str) -> list[dict[str, Any]]:
    return await AuditLog.select().where(
        AuditLog.target_type == "patient_share",
        AuditLog.target_id == str(share_id),
        AuditLog.action == action,
    )


async def test_only_visible_own_examinations(shared: dict, new_api: Any) -> None:
    patient, place = shared["patient"], shared["place"]
    other = await make_exam(place.hospital_id)
    hidden = await make_exam(place.hospital_id)
    await match_patient(shared["person"]["id"], place.hospital_id, hidden, visible=False)
    before = await PatientShare.count()
    for exam_id in (other, hidden, 2**31 - 1):
        res = await patient.post("/api/patient/shares/", json={"examination_id": exam_id})
        assert res.status_code == 404, res.text
    stranger = new_api()
    await login_patient(stranger)
    await verify_self(stranger, name="李四")
    res = await stranger.post(
        "/api/patient/shares/", json={"examination_id": shared["study"]["exam_id"]}
    )
    assert res.status_code == 404
    for bad in ({"days": 2}, {"password": "12"}, {"days": 0}):
        res = await patient.post(
            "/api/patient/shares/", json={"examination_id": shared["study"]["exam_id"], **bad}
        )
        assert res.status_code == 400, res.text
    assert await PatientShare.count() == before
    anonymous = new_api()
    res = await anonymous.post("/api/patient/shares/", json={"examination_id": other})
    assert res.status_code == 401


async def test_open_view_tamper_revoke(shared: dict, new_api: Any, tmp_path: Path) -> None:
    patient, study = shared["patient"], shared["study"]
    made = await make_link(patient, study["exam_id"], days=1)
    assert len(made["password"]) == 8 and made["url"].startswith("/s/")
    stored = await PatientShare.select().where(PatientShare.id == made["id"]).first()
    assert stored is not None
    token = made["url"].removeprefix("/s/")
    assert token not in str(stored.values()) and made["password"] not in str(stored.values())

    doctor = new_api()
    res = await doctor.get(f"{made['url']}/view")
    assert res.status_code == 401
    page = await doctor.get(made["url"])
    assert page.status_code == 200 and 'id="open-form"' in page.text
    res = await doctor.post(f"{made['url']}/open", json={"password": "wrong-one"})
    assert res.status_code == 403
    res = await doctor.post(f"{made['url']}/open", json={"password": made["password"]})
    assert res.status_code == 200, res.text
    view = (await doctor.get(f"{made['url']}/view")).json()
    assert view["id"] == study["exam_id"] and view["images"]
    first = view["images"][0]
    base = f"{made['url']}/images/{view['study_uid']}/{first['series_uid']}/{first['sop_uid']}"
    res = await doctor.get(f"{base}/1")
    assert res.status_code == 200 and res.content[:2] == b"\xff\xd8"
    res = await doctor.get(f"{base}/1?thumbnail=true")
    assert res.status_code == 200 and res.content[:2] == b"\xff\xd8"
    # another study's image, a changed UID, a frame past the end: 404
    other = await study_with_images(shared["place"].hospital_id, tmp_path / "other")
    assert other["study_uid"] != view["study_uid"]
    for path in (
        f"{made['url']}/images/{other['study_uid']}/{first['series_uid']}/{first['sop_uid']}/1",
        f"{made['url']}/images/{view['study_uid']}/1.2.3/{first['sop_uid']}/1",
        f"{made['url']}/images/{view['study_uid']}/{first['series_uid']}/1.2.3/1",
        f"{base}/999",
    ):
        assert (await doctor.get(path)).status_code == 404, path
    page = await doctor.get(made["url"])
    assert page.status_code == 200 and 'id="share-images"' in page.text

    assert len(await audit(made["id"], "patient_share.open")) == 1
    assert len(await audit(made["id"], "patient_share.wrong_password")) == 1
    mine = (await patient.get("/api/patient/shares/")).json()
    row = next(r for r in mine if r["id"] == made["id"])
    assert row["state"] == "active" and row["openings"] == 1
    assert row["opened"][0]["address"] == "127.0.*.*"

    res = await patient.post(f"/api/patient/shares/{made['id']}/revoke")
    assert res.status_code == 200
    assert (await doctor.get(f"{made['url']}/view")).status_code == 410
    assert (await doctor.get(f"{base}/1")).status_code == 410
    page = await doctor.get(made["url"])
    assert page.status_code == 410 and "share-gone" in page.text
    res = await new_api().post(f"{made['url']}/open", json={"password": made["password"]})
    assert res.status_code == 410
    assert (await patient.post(f"/api/patient/shares/{made['id']}/revoke")).status_code == 404
    assert len(await audit(made["id"], "patient_share.revoke")) == 1
    # another patient cannot revoke or list it
    stranger = new_api()
    await login_patient(stranger)
    assert (await stranger.get("/api/patient/shares/")).json() == []


async def test_family_and_unmatched(shared: dict, new_api: Any) -> None:
    """A family member's visible examination may be shared; a removed member's, and a link
    whose match was undone, no longer (404 to make, 410 to open)."""
    patient, place = shared["patient"], shared["place"]
    me = (await patient.get("/api/patient/me")).json()
    account = {"id": me["id"], "phone": me["phone"]}
    father = await make_person("王大明", account=account, relationship="father")
    exam_id = await make_exam(place.hospital_id)
    await match_patient(father["id"], place.hospital_id, exam_id)
    made = await make_link(patient, exam_id, password="secret-4")
    doctor = new_api()
    assert (
        await doctor.post(f"{made['url']}/open", json={"password": "secret-4"})
    ).status_code == 200
    assert (await doctor.get(f"{made['url']}/view")).json()["id"] == exam_id
    res = await patient.delete(f"/api/patient/persons/{father['id']}")
    assert res.status_code == 200, res.text
    assert (await doctor.get(f"{made['url']}/view")).status_code == 410
    assert (await doctor.get(made["url"])).status_code == 410
    res = await patient.post("/api/patient/shares/", json={"examination_id": exam_id})
    assert res.status_code == 404
    # the own examination's match undone (a correction): its link closes too
    own = await make_link(patient, shared["study"]["exam_id"], password="secret-5")
    async with transaction():
        await PatientMatch.update({PatientMatch.unmatched_at: now()}).where(
            PatientMatch.examination == shared["study"]["exam_id"]
        )
    res = await new_api().post(f"{own['url']}/open", json={"password": "secret-5"})
    assert res.status_code == 410


async def test_expired_link(shared: dict, new_api: Any) -> None:
    made = await make_link(shared["patient"], shared["study"]["exam_id"], password="secret-1")
    assert made["password"] == ""
    doctor = new_api()
    assert (
        await doctor.post(f"{made['url']}/open", json={"password": "secret-1"})
    ).status_code == 200
    async with transaction():
        await PatientShare.update({PatientShare.expires_at: now() - timedelta(seconds=1)}).where(
            PatientShare.id == made["id"]
        )
    assert (await doctor.get(f"{made['url']}/view")).status_code == 410
    assert (await doctor.get(made["url"])).status_code == 410
    assert (
        await new_api().post(f"{made['url']}/open", json={"password": "secret-1"})
    ).status_code == 410
    assert (await new_api().get("/s/no-such-token")).status_code == 404


async def test_wrong_passwords_lock_under_concurrency(shared: dict, new_api: Any) -> None:
    made = await make_link(shared["patient"], shared["study"]["exam_id"], password="secret-2")
    clients = [new_api() for _ in range(20)]
    results = await asyncio.gather(
        *(
            c.post(f"{made['url']}/open", json={"password": f"guess-{i}"})
            for i, c in enumerate(clients)
        )
    )
    codes = sorted(r.status_code for r in results)
    assert codes.count(403) == 5, codes
    # the rest refused without a comparison: the link is locked (423), or the address's
    # budget, shared by these clients, is spent while the locked tries are given back (429)
    assert set(codes) <= {403, 423, 429} and codes.count(423) >= 10, codes
    row = await PatientShare.select().where(PatientShare.id == made["id"]).first()
    assert row is not None and row["failures"] == 5 and row["locked_at"] is not None
    res = await new_api().post(f"{made['url']}/open", json={"password": "secret-2"})
    assert res.status_code == 423
    assert len(await audit(made["id"], "patient_share.wrong_password")) == 5
    mine = (await shared["patient"].get("/api/patient/shares/")).json()
    assert next(r for r in mine if r["id"] == made["id"])["state"] == "locked"


async def test_address_limit(shared: dict, new_api: Any) -> None:
    """Wrong passwords from one address across links: at most the address's budget
    (``ADDRESS_RULE``) are compared; then 429 with Retry-After, the right password too."""
    from api.patient_shares.service import ADDRESS_RULE, WRONG_PER_LINK

    guesser = new_api()
    refused = None
    tries = 0
    links = []
    while refused is None and tries <= ADDRESS_RULE.limit:
        made = await make_link(shared["patient"], shared["study"]["exam_id"], password="secret-3")
        links.append(made)
        for _ in range(WRONG_PER_LINK - 1):
            res = await guesser.post(f"{made['url']}/open", json={"password": "nope-nope"})
            tries += 1
            if res.status_code == 429:
                refused = res
                break
            assert res.status_code == 403, res.text
    assert refused is not None and tries <= ADDRESS_RULE.limit + 1
    assert int(refused.headers["retry-after"]) > 0
    res = await guesser.post(f"{links[-1]['url']}/open", json={"password": "secret-3"})
    assert res.status_code == 429
    res = await guesser.get(f"{links[-1]['url']}/view")
    assert res.status_code == 401
    # the loopback address's budget is every later test's: give it back
    await ratelimit.clear(ADDRESS_RULE.name, ratelimit.address_subject("127.0.0.1"))
