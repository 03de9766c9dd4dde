"""The patient's archive over real HTTP (issue 15 points 3 and 5): the proof, the list, one
examination's report and images, in the patient realm only. Another account's person or
examination, a match not visible yet, another study's UIDs, a deleted examination: each a
404 that reveals nothing; the staff DICOMweb stays closed to a patient; every read and
proof is an audit row of ``patient:<account>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store.db import transaction
from store.tables import AuditLog, Examination, PatientMatch, Study
from tests.fixtures.exams import make_exam, make_place, study_with_images
from tests.fixtures.patients import login_patient, new_id_number, verify_self
from tests.integration.test_cloud_film import set_default

pytestmark = pytest.mark.integration
BASE = "/api/patient/archive"


def shown_name(exam: dict[str, Any]) -> str:
    return str(exam["patient_name"]).split(" ", 1)[0]


async def exam_row(exam_id: int) -> dict[str, Any]:
    row = await Examination.select().where(Examination.id == exam_id).first()
    assert row is not None
    return row


async def account_id(api: Any) -> int:
    return int((await api.get("/api/patient/me")).json()["id"])


async def first_image(api: Any, exam_id: int) -> tuple[dict, str]:
    res = await api.get(f"{BASE}/examinations/{exam_id}")
    assert res.status_code == 200, res.text
    body = res.json()
    image = body["images"][0]
    wado = f"{BASE}/{exam_id}/wado/series/{image['series_uid']}"
    return body, f"{wado}/instances/{image['sop_uid']}/frames/{image['frame']}"


async def test_prove_list_view_and_images_of_her_own_examination_only(
    new_api, uniq, tmp_path: Path
) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="at_once")
    study = await study_with_images(place.hospital_id, tmp_path / "a")
    exam = await exam_row(study["exam_id"])
    other_study = await study_with_images(place.hospital_id, tmp_path / "b")

    she = new_api()
    await login_patient(she)
    person = await verify_self(she, name=shown_name(exam))
    assert (await she.get(f"{BASE}/examinations")).json() == []
    hospitals = (await she.get(f"{BASE}/hospitals")).json()
    assert {"id": place.hospital_id, "name": hospitals[0]["name"]} in hospitals or any(
        h["id"] == place.hospital_id for h in hospitals
    )

    wrong = await she.post(
        f"{BASE}/persons/{person['id']}/proof", json={"accession_number": "NO-SUCH-NUMBER"}
    )
    assert wrong.status_code == 400, wrong.text
    assert (await she.get(f"{BASE}/examinations")).json() == []
    res = await she.post(
        f"{BASE}/persons/{person['id']}/proof",
        json={"accession_number": exam["accession_number"]},
    )
    assert res.status_code == 200, res.text
    assert res.json() == {"matched": 1, "visible": 1, "examination_ids": [exam["id"]]}

    listed = (await she.get(f"{BASE}/examinations")).json()
    assert [e["id"] for e in listed] == [exam["id"]]
    assert listed[0]["hospital_id"] == place.hospital_id
    assert listed[0]["person_id"] == person["id"]
    assert listed[0]["report_state"] == "pending"
    body, frame = await first_image(she, exam["id"])
    assert body["report"] is None  # not reviewed: nothing of a report is shown
    assert body["study_uid"] == study["study_uid"]
    thumb = await she.get(f"{frame}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:2] == b"\xff\xd8"
    original = await she.get(f"{frame}/rendered")
    assert original.status_code == 200 and original.content[:2] == b"\xff\xd8"
    assert original.content != thumb.content  # the frame itself, not its thumbnail
    series = body["images"][0]["series_uid"]
    assert (await she.get(f"{BASE}/{exam['id']}/wado/series/{series}/thumbnail")).status_code == 200

    # another study's UIDs under her examination, or its examination id: 404
    other = await exam_row(other_study["exam_id"])
    other_inst = (await Study.select().where(Study.id == other_study["id"]).first()) or {}
    assert other_inst
    from store.tables import Instance

    oi = (
        await Instance.select(Instance.sop_uid, Instance.series.series_uid.as_alias("series_uid"))
        .where(Instance.study == other_study["id"])
        .first()
    )
    assert oi is not None
    foreign = f"{BASE}/{exam['id']}/wado/series/{oi['series_uid']}"
    assert (await she.get(f"{foreign}/thumbnail")).status_code == 404
    assert (
        await she.get(f"{foreign}/instances/{oi['sop_uid']}/frames/1/rendered")
    ).status_code == 404
    mixed = f"{BASE}/{exam['id']}/wado/series/{series}/instances/{oi['sop_uid']}/frames/1/rendered"
    assert (await she.get(mixed)).status_code == 404
    assert (await she.get(f"{BASE}/examinations/{other['id']}")).status_code == 404
    own = f"{BASE}/{other['id']}/wado/series/{oi['series_uid']}/thumbnail"
    assert (await she.get(own)).status_code == 404
    # the staff DICOMweb stays closed to her session
    staff = f"/dicomweb/studies/{study['study_uid']}/series/{series}/thumbnail"
    assert (await she.get(staff)).status_code == 401

    # another account: nothing of hers, not even whether it exists
    stranger = new_api()
    await login_patient(stranger)
    await verify_self(stranger, name=shown_name(exam))
    assert (await stranger.get(f"{BASE}/examinations")).json() == []
    refused = await stranger.get(f"{BASE}/examinations/{exam['id']}")
    assert refused.status_code == 404
    assert (
        refused.json()["detail"]
        == (await she.get(f"{BASE}/examinations/999999999")).json()["detail"]
    )
    assert (await stranger.get(f"{frame}/thumbnail")).status_code == 404
    took = await stranger.post(
        f"{BASE}/persons/{person['id']}/proof", json={"accession_number": exam["accession_number"]}
    )
    assert took.status_code == 404
    assert (
        await stranger.get(f"{BASE}/examinations", params={"person_id": person["id"]})
    ).status_code == 404
    # no session at all, and a doctor's session: 401
    assert (await new_api().get(f"{BASE}/examinations")).status_code == 401
    assert (await place.doctor.get(f"{BASE}/examinations/{exam['id']}")).status_code == 401

    # audited in the patient realm, with the examination's hospital in the proof's rows
    mine = f"patient:{await account_id(she)}"
    rows = await AuditLog.select(AuditLog.action, AuditLog.outcome, AuditLog.hospital_id).where(
        AuditLog.username == mine
    )
    actions = {(r["action"], r["outcome"]) for r in rows}
    assert {
        ("patient_match.manual", "denied"),
        ("patient_match.manual", "success"),
        ("patient_archive.list", "success"),
        ("patient_archive.view", "success"),
        ("patient_archive.image", "success"),
    } <= actions
    assert any(
        r["hospital_id"] == place.hospital_id for r in rows if r["action"] == "patient_match.manual"
    )

    # soft-deleted at the hospital: gone from her archive
    listed = (
        await place.admin.get("/api/archive/studies", params={"tier": "online", "q": ""})
    ).json()
    version = next(s["version"] for s in listed["items"] if s["id"] == study["id"])
    res = await place.admin.post(
        f"/api/archive/studies/{study['id']}/delete",
        json={"version": version, "reason": "wrong patient"},
    )
    assert res.status_code == 200, res.text
    assert (await she.get(f"{BASE}/examinations")).json() == []
    assert (await she.get(f"{BASE}/examinations/{exam['id']}")).status_code == 404
    assert (await she.get(f"{frame}/thumbnail")).status_code == 404


async def test_not_visible_yet_and_by_date_and_hospital(new_api, uniq, tmp_path: Path) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="after_review")
    study = await study_with_images(place.hospital_id, tmp_path)
    exam = await exam_row(study["exam_id"])
    she = new_api()
    await login_patient(she)
    person = await verify_self(she, name=shown_name(exam))
    zone_day = exam["exam_time"].astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
    res = await she.post(
        f"{BASE}/persons/{person['id']}/proof",
        json={"exam_date": zone_day.isoformat(), "hospital_id": place.hospital_id},
    )
    assert res.status_code == 200, res.text
    assert res.json() == {"matched": 1, "visible": 0, "examination_ids": []}
    assert (await she.get(f"{BASE}/examinations")).json() == []
    assert (await she.get(f"{BASE}/examinations/{exam['id']}")).status_code == 404
    images = await she.get(f"{BASE}/{exam['id']}/wado/series/x/thumbnail")
    assert images.status_code == 404
    bad = await she.post(f"{BASE}/persons/{person['id']}/proof", json={})
    assert bad.status_code == 400


async def test_verification_matches_nothing_before_the_proof_then_the_rest_follows(
    new_api, uniq
) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="at_once")
    number = new_id_number()
    first = await make_exam(place.hospital_id, name="LIN^YUN=林云", date="20260110")
    later = await make_exam(place.hospital_id, name="LIN^YUN=林云", date="20260301")
    async with transaction():
        await Examination.update({Examination.patient_id_number: number}).where(
            Examination.id.is_in([first, later])
        )
    she = new_api()
    await login_patient(she)
    person = await verify_self(she, name="林云", id_number=number)
    # verified: match_existing ran, and made nothing (the ID number's form is no proof)
    assert not await PatientMatch.exists().where(PatientMatch.person == person["id"])
    assert (await she.get(f"{BASE}/examinations")).json() == []
    accession = (await exam_row(first))["accession_number"]
    res = await she.post(
        f"{BASE}/persons/{person['id']}/proof", json={"accession_number": accession}
    )
    assert res.status_code == 200, res.text
    listed = (await she.get(f"{BASE}/examinations")).json()
    assert [e["id"] for e in listed] == [later, first]  # newest first; the later one by number
