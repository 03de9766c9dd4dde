"""Cloud film (SPEC 8.7, 9.1, 10.3): the hospital admin's rules over real HTTP, matching in a
real ingest of synthetic DICOM through the migration run's own steps, the manual proof and
its refusals, visibility after the review, un-matching on soft delete and on a corrected ID
number. The patient realm's routes come with ``api/patients``: the patient's operations are
called here as the service functions they will call."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from api.ingest.steps import create_run, ingest_file
from api.patient_archive import matching
from api.patient_archive.schemas import ManualMatch, MatchRead
from flows.migration import migrate_inline
from imaging.synth import Sizes, synth
from kernel.errors import BadRequest, NotFound, TooManyRequests
from store.engine import timeline
from store.tables import (
    AuditLog,
    BodyPart,
    CheckItem,
    DeviceType,
    Examination,
    Outbox,
    PatientMatch,
    Study,
    Timer,
)
from store.uow import Ctx, now
from tests.fixtures.exams import make_exam, make_place
from tests.fixtures.patients import make_account, make_person, new_id_number
from tests.fixtures.reports import make_hospital as make_report_hospital
from tests.fixtures.reports import submitted, url

pytestmark = pytest.mark.integration
CTX = Ctx(ip="127.0.0.1", user_agent="patient test")
RULES = "/api/patient-archive/rules"


async def match_by_hand(person_id: int, exam_id: int) -> list[MatchRead]:
    """The person's proof by hand: the accession number of examination ``exam_id``."""
    row = await Examination.select(Examination.accession_number).where(Examination.id == exam_id)
    proof = ManualMatch(accession_number=row[0]["accession_number"])
    return await matching.manual_match(CTX, person_id, proof)


async def set_default(place_admin: Any, **values: Any) -> dict[str, Any]:
    current = (await place_admin.get(RULES)).json()["default"]
    body = {
        "version": current["version"],
        "enabled": True,
        "visible_when": "at_once",
        "visible_hours": 0,
        "match_by_phone": False,
        "allow_download": False,
        **values,
    }
    res = await place_admin.put(f"{RULES}/default", json=body)
    assert res.status_code == 200, res.text
    return dict(res.json())


async def check_item(hospital_id: int, code: str = "CT-CHEST") -> int:
    at = now()
    t = await DeviceType.insert(
        DeviceType(hospital=hospital_id, code="CT", name="CT", created_at=at)
    ).returning(DeviceType.id)
    b = await BodyPart.insert(
        BodyPart(hospital=hospital_id, code="CHEST", name="胸部", created_at=at)
    ).returning(BodyPart.id)
    row = await CheckItem.insert(
        CheckItem(
            hospital=hospital_id,
            code=code,
            name="胸部CT平扫",
            device_type=t[0]["id"],
            body_part=b[0]["id"],
            cloud_film=False,
            created_at=at,
        )
    ).returning(CheckItem.id)
    return int(row[0]["id"])


async def live_matches(exam_id: int) -> list[dict[str, Any]]:
    return list(
        await PatientMatch.select().where(
            PatientMatch.examination == exam_id, PatientMatch.unmatched_at.is_null()
        )
    )


async def exam_of(paths: list[Path]) -> dict[str, Any]:
    """The examination made from the study of the files ``paths`` (arrived)."""
    uid = dcmread(paths[0], stop_before_pixels=True).StudyInstanceUID
    study = await Study.select(Study.id).where(Study.study_uid == uid).first()
    assert study is not None
    row = await Examination.select().where(Examination.study == study["id"]).first()
    assert row is not None
    return row


# --- the rules -----------------------------------------------------------------------------


async def test_rules_edited_by_the_hospital_admin_with_versions_and_refusals(
    new_api, uniq, alliance
) -> None:
    place = await make_place(new_api, uniq)
    other = await make_place(new_api, uniq)
    item = await check_item(place.hospital_id)
    foreign = await check_item(other.hospital_id)
    read = (await place.admin.get(RULES)).json()
    assert read["module_on"] is True
    assert read["default"] | {"version": 0} == {
        "enabled": False,
        "visible_when": "after_review",
        "visible_hours": 0,
        "match_by_phone": False,
        "allow_download": False,
        "version": 0,
        "matched": 0,
        "notified": 0,
    }
    assert [i["id"] for i in read["check_items"]] == [item]
    version = read["default"]["version"]
    good = {
        "version": version,
        "enabled": True,
        "visible_when": "after_hours",
        "visible_hours": 24,
        "match_by_phone": True,
        "allow_download": True,
    }
    for bad, words in (
        ({"visible_when": "sometimes"}, "at_once"),
        ({"visible_hours": 0}, "at least 1"),
        ({"visible_hours": 24 * 366}, "between 0 and"),
        ({"visible_hours": "x"}, ""),
    ):
        res = await place.admin.put(f"{RULES}/default", json={**good, **bad})
        assert res.status_code == 400, res.text
        assert words in res.text
    assert (await place.admin.get(RULES)).json()["default"]["version"] == version
    res = await place.admin.put(f"{RULES}/default", json=good)
    assert res.status_code == 200, res.text
    assert res.json()["default"]["visible_hours"] == 24
    stale = await place.admin.put(f"{RULES}/default", json=good)
    assert stale.status_code == 409 and "version" in stale.text

    item_row = next(i for i in res.json()["check_items"] if i["id"] == item)
    body = {"version": item_row["version"], "enabled": True, "visible_when": "at_once"}
    res = await place.admin.put(f"{RULES}/check-items/{item}", json=body)
    assert res.status_code == 200, res.text
    assert next(i for i in res.json()["check_items"] if i["id"] == item)["enabled"] is True
    # the dictionary reads the same row
    got = await CheckItem.select(CheckItem.cloud_film_visible).where(CheckItem.id == item).first()
    assert got == {"cloud_film_visible": "at_once"}
    # another hospital's check item is not found, and its rules are not his to read
    res = await place.admin.put(f"{RULES}/check-items/{foreign}", json={**body, "version": 1})
    assert res.status_code == 404
    other_read = (await other.admin.get(RULES)).json()
    assert other_read["default"]["enabled"] is False
    assert [i["id"] for i in other_read["check_items"]] == [foreign]
    # a doctor may not, the alliance admin sees the figures only
    assert (await place.doctor.get(RULES)).status_code in (401, 403)
    assert (await alliance.get(RULES)).status_code == 403
    res = await alliance.put(f"{RULES}/default", json=good)
    assert res.status_code == 403
    figures = (await alliance.get("/api/patient-archive/overview")).json()
    mine = next(f for f in figures if f["hospital_id"] == place.hospital_id)
    assert mine["module_on"] is True and mine["check_items_on"] == 1
    assert set(mine) == {
        "hospital_id",
        "name",
        "module_on",
        "check_items_on",
        "matched",
        "notified",
    }
    assert (await place.admin.get("/api/patient-archive/overview")).status_code == 403
    audits = await AuditLog.select(AuditLog.action, AuditLog.target_type, AuditLog.detail).where(
        AuditLog.hospital_id == place.hospital_id, AuditLog.action == "cloud_film.rule"
    )
    assert [a["target_type"] for a in audits] == ["cloud_film_rule", "check_item"]
    assert "after_hours 24 h" in audits[0]["detail"]


async def test_a_hospital_without_the_module_shows_nothing(new_api, uniq) -> None:
    place = await make_place(new_api, uniq, modules=["remote_diagnosis"])
    assert (await place.admin.get(RULES)).json()["module_on"] is False
    exam = await make_exam(place.hospital_id, name="QIAN^YU=钱玉")
    person = await make_person("钱玉")
    with pytest.raises(BadRequest):
        await match_by_hand(person["id"], exam)
    assert await live_matches(exam) == []


# --- matching in a real ingest -------------------------------------------------------------


def studies_of(paths: list[Path]) -> dict[str, list[Path]]:
    by: dict[str, list[Path]] = {}
    for p in paths:
        by.setdefault(str(dcmread(p, stop_before_pixels=True).StudyInstanceUID), []).append(p)
    return by


def label(paths: list[Path], *, pn: str, id_number: str = "", phone: str = "") -> None:
    """The hospital's PACS wrote the patient's name, national ID and phone into the files."""
    for p in paths:
        ds = dcmread(p)
        ds.PatientName = pn
        if id_number:
            item = Dataset()
            item.PatientID = id_number
            item.TypeOfPatientID = "TEXT"
            item.IssuerOfPatientID = "RESIDENT_ID_CARD"
            ds.OtherPatientIDsSequence = Sequence([item])
        if phone:
            ds.PatientTelephoneNumbers = phone
        ds.save_as(p)


async def arrive(hospital_id: int, paths: list[Path]) -> int:
    run_id = await create_run(CTX, hospital_id, "import", "cloud film test")
    for p in paths:
        assert (await ingest_file(run_id, p)).ok
    assert await migrate_inline(run_id) == "notified"
    return run_id


async def test_examinations_are_matched_by_id_number_in_the_migration_run(
    new_api, uniq, tmp_path
) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="at_once")
    number = new_id_number()
    person = await make_person("孙丽", id_number=number)
    stranger = await make_person("孙丽")  # same name, another ID number
    first, second, third = studies_of(synth(tmp_path, patients=1, sizes=Sizes.small())).values()
    for paths in (first, second, third):
        label(paths, pn="SUN^LI=孙丽", id_number=number)

    # Before her first proof nothing is matched: a typed-in ID number proves nothing.
    run_1 = await arrive(place.hospital_id, first)
    exam_1 = await exam_of(first)
    assert exam_1["patient_id_number"] == number
    assert await live_matches(exam_1["id"]) == []
    steps_1 = {s["event"]: s["summary"] for s in await timeline("migration", run_1)}

    # The manual proof: the examination number and her name.
    made = await matching.manual_match(
        CTX, person["id"], ManualMatch(accession_number=exam_1["accession_number"])
    )
    assert [(m.examination_id, m.how) for m in made] == [(exam_1["id"], "manual")]
    assert made[0].visible_at is not None  # "at once"

    # From now on her examinations arrive matched: the run's own "match" step.
    run_2 = await arrive(place.hospital_id, second)
    exam_2 = await exam_of(second)
    [match] = await live_matches(exam_2["id"])
    assert (match["person"], match["how"], match["hospital"]) == (
        person["id"],
        "id_number",
        place.hospital_id,
    )
    assert match["visible_at"] is not None and match["visible_at"] <= now()
    # the run's history: its "match" step counts the examination recorded and the match
    # made (one more than the first run's), its "notify" step the notice queued
    steps_2 = {s["event"]: s["summary"] for s in await timeline("migration", run_2)}
    assert steps_2["match"]["matched"] == steps_1["match"]["matched"] + 1
    assert (steps_1["notify"]["notified"], steps_2["notify"]["notified"]) == (0, 1)
    # visible at once: the run's "notify" step queued her notice (its timer claimed)
    notices = await Outbox.select(Outbox.kind).where(
        Outbox.idempotency_key == f"notify-patient-{match['id']}"
    )
    assert notices == [{"kind": "notify-patient"}]
    timers = await Timer.select(Timer.fired_at).where(
        Timer.case_type == "patient_match", Timer.case_id == match["id"]
    )
    assert len(timers) == 1 and timers[0]["fired_at"] is not None
    assert not await PatientMatch.exists().where(PatientMatch.person == stranger["id"])

    # A run again changes nothing (each step idempotent).
    assert await matching.match_run(run_2, [int(exam_2["study"])]) == 0
    # The admin's operation log lists the matches.
    log = await place.admin.get("/api/manage/audit", params={"action": "patient_match.id_number"})
    assert log.status_code == 200, log.text
    assert str(match["id"]) in log.text


async def test_phone_matching_only_where_allowed_and_never_ambiguous(
    new_api, uniq, tmp_path
) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="at_once", match_by_phone=False)
    account = await make_account()
    mother = await make_person("周芳", account=account)
    proof = await make_exam(place.hospital_id, name="ZHOU^FANG=周芳")
    await match_by_hand(mother["id"], proof)
    one, two = list(studies_of(synth(tmp_path, patients=1, sizes=Sizes.small())).values())[:2]
    local = account["phone"][2:]  # as a hospital writes it: 138…
    label(one, pn="ZHOU^FANG=周芳", phone=local)
    await arrive(place.hospital_id, one)
    exam_one = await exam_of(one)
    assert await live_matches(exam_one["id"]) == []  # phone matching is off
    await set_default(place.admin, visible_when="at_once", match_by_phone=True)
    assert await matching.match_existing(mother["id"]) == 1
    assert [m["how"] for m in await live_matches(exam_one["id"])] == ["phone"]
    # A second person of the account with the same name: the phone no longer says who.
    await make_person("周芳", account=account, relationship="mother")
    label(two, pn="ZHOU^FANG=周芳", phone=local)
    await arrive(place.hospital_id, two)
    exam_two = await exam_of(two)
    assert await live_matches(exam_two["id"]) == []


# --- the manual proof ------------------------------------------------------------------------


async def test_manual_match_refusals_change_nothing_and_tries_are_limited(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="after_review")
    exam = await make_exam(place.hospital_id, name="SUN^LI=孙丽", date="20261102")
    row = await Examination.select().where(Examination.id == exam).first()
    person = await make_person("孙丽")
    wrong_name = await make_person("孙莉")
    before = await AuditLog.count().where(AuditLog.action == "patient_match.manual")

    with pytest.raises(BadRequest) as refused:
        await matching.manual_match(
            CTX, wrong_name["id"], ManualMatch(accession_number=row["accession_number"])
        )
    assert "carries the name 孙莉" in refused.value.message
    assert "姓名为 孙莉 的检查" in refused.value.text("zh")
    with pytest.raises(BadRequest) as unknown:
        await matching.manual_match(CTX, person["id"], ManualMatch(accession_number="NOPE-1"))
    assert unknown.value.message == refused.value.message.replace("孙莉", "孙丽")  # no hint
    with pytest.raises(BadRequest, match="examination number"):
        await matching.manual_match(CTX, person["id"], ManualMatch())
    with pytest.raises(NotFound):
        await matching.manual_match(CTX, 10**9, ManualMatch(accession_number="x"))
    assert await live_matches(exam) == []
    denied = (
        await AuditLog.select(AuditLog.detail, AuditLog.hospital_id)
        .where(AuditLog.action == "patient_match.manual", AuditLog.outcome == "denied")
        .order_by(AuditLog.id, ascending=False)
        .limit(2)
    )
    assert {d["detail"] for d in denied} == {"no such examination", "the name does not agree"}
    assert await AuditLog.count().where(AuditLog.action == "patient_match.manual") == before + 2

    # The date and the hospital, with the name in its alphabetic form, prove it too.
    liu = await make_person("Sun Li")
    made = await matching.manual_match(
        CTX, liu["id"], ManualMatch(exam_date=date(2026, 11, 2), hospital_id=place.hospital_id)
    )
    assert [m.examination_id for m in made] == [exam]
    assert made[0].visible_at is None  # after the review
    again = await matching.manual_match(
        CTX, liu["id"], ManualMatch(accession_number=row["accession_number"])
    )
    assert [m.id for m in again] == [m.id for m in made]  # one live match per person and exam

    # Ten wrong tries an hour, also when they come at once.
    guesser = await make_person("孙丽")
    tries = [
        matching.manual_match(CTX, guesser["id"], ManualMatch(accession_number=f"G-{i}"))
        for i in range(14)
    ]
    outcomes = await asyncio.gather(*tries, return_exceptions=True)
    kinds = [type(o).__name__ for o in outcomes]
    assert kinds.count("BadRequest") == matching.MANUAL_TRIES.limit, kinds
    assert kinds.count("TooManyRequests") == 14 - matching.MANUAL_TRIES.limit
    with pytest.raises(TooManyRequests):  # even the right number now waits
        await matching.manual_match(
            CTX, guesser["id"], ManualMatch(accession_number=row["accession_number"])
        )
    assert not await PatientMatch.exists().where(PatientMatch.person == guesser["id"])


def test_names_agree_across_the_forms_of_a_dicom_name() -> None:
    assert matching.names_agree("孙丽", "SUN^LI=孙丽", "孙丽 SUN LI")
    assert matching.names_agree("sun li", "SUN^LI=孙丽", "")
    assert matching.names_agree("Sun-Li", "SUN^LI", "")
    assert matching.names_agree("孙丽", "", "孙丽 SUN LI")  # the list's name, corrected by an admin
    assert not matching.names_agree("孙莉", "SUN^LI=孙丽", "孙丽 SUN LI")
    assert not matching.names_agree("", "SUN^LI=孙丽", "")
    assert matching.phone_key("+86 138-0000-0001") == matching.phone_key("13800000001")


# --- visibility, un-matching -----------------------------------------------------------------


async def test_after_review_the_match_becomes_visible_and_its_timer_falls_due(
    new_api, uniq
) -> None:
    h = await make_report_hospital(new_api, uniq)
    await set_default(h.admin, visible_when="after_review")
    exam = await make_exam(h.id, name="WU^MEI=吴梅")
    person = await make_person("吴梅")
    [made] = await match_by_hand(person["id"], exam)
    assert made.visible_at is None
    assert not await Timer.exists().where(
        Timer.case_type == "patient_match", Timer.case_id == made.id, Timer.cancelled.eq(False)
    )
    report = await submitted(h, exam)
    res = await h.reviewer.post(url(exam, "/approve"), json={"version": report["version"]})
    assert res.status_code == 200, res.text
    [match] = await live_matches(exam)
    assert match["visible_at"] is not None
    assert abs(match["visible_at"] - now()) < timedelta(minutes=5)
    timer = (
        await Timer.select()
        .where(
            Timer.case_type == "patient_match", Timer.case_id == made.id, Timer.fired_at.is_null()
        )
        .first()
    )
    assert timer is not None and timer["due_at"] == match["visible_at"]


async def test_soft_delete_and_a_corrected_id_number_undo_the_matches(
    new_api, uniq, tmp_path
) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="after_hours", visible_hours=48)
    number = new_id_number()
    person = await make_person("郑华", id_number=number)
    proof = await make_exam(place.hospital_id, name="ZHENG^HUA=郑华")
    await match_by_hand(person["id"], proof)
    first, second = list(studies_of(synth(tmp_path, patients=1, sizes=Sizes.small())).values())[:2]
    for paths in (first, second):
        label(paths, pn="ZHENG^HUA=郑华", id_number=number)
        await arrive(place.hospital_id, paths)
    exams = [await exam_of(p) for p in (first, second)]
    matches = [(await live_matches(e["id"]))[0] for e in exams]
    assert all(m["how"] == "id_number" for m in matches)

    # The admin soft-deletes the first study: its match goes, its timer is cancelled.
    study = await Study.select(Study.id, Study.version).where(Study.id == exams[0]["study"]).first()
    res = await place.admin.post(
        f"/api/archive/studies/{study['id']}/delete",
        json={"version": study["version"], "reason": "wrong patient"},
    )
    assert res.status_code == 200, res.text
    gone = await PatientMatch.select().where(PatientMatch.id == matches[0]["id"]).first()
    assert gone["unmatched_at"] is not None and "wrong patient" in gone["unmatch_reason"]
    assert not await Timer.exists().where(
        Timer.case_type == "patient_match",
        Timer.case_id == matches[0]["id"],
        Timer.cancelled.eq(False),
        Timer.fired_at.is_null(),
    )

    # Restored: matched again by its ID number (a new live row; the old one stays undone).
    study = await Study.select(Study.id, Study.version).where(Study.id == exams[0]["study"]).first()
    res = await place.admin.post(
        f"/api/archive/studies/{study['id']}/restore",
        json={"version": study["version"], "reason": "right patient after all"},
    )
    assert res.status_code == 200, res.text
    [back] = await live_matches(exams[0]["id"])
    assert back["how"] == "id_number" and back["id"] != matches[0]["id"]

    # The second examination's ID number is corrected: not hers any more.
    corrected = new_id_number()
    res = await place.admin.patch(
        f"/api/exams/{exams[1]['id']}",
        json={"version": exams[1]["version"], "patient_id_number": corrected},
    )
    assert res.status_code == 200, res.text
    assert await live_matches(exams[1]["id"]) == []
    undone = await AuditLog.select(AuditLog.detail).where(
        AuditLog.action == "patient_match.unmatch", AuditLog.hospital_id == place.hospital_id
    )
    assert len(undone) == 2 and "corrected" in undone[-1]["detail"]


async def test_a_scanned_report_code_is_a_proof_when_the_name_agrees(new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="at_once")
    number = new_id_number()
    exam = await make_exam(place.hospital_id, name="HE^JING=何静")
    later = await make_exam(place.hospital_id, name="HE^JING=何静")
    await Examination.update({Examination.patient_id_number: number}).where(Examination.id == later)
    stranger = await make_person("何敬")
    with pytest.raises(BadRequest, match="does not carry the name 何敬"):
        await matching.qr_match(CTX, stranger["id"], exam)
    assert await live_matches(exam) == []
    person = await make_person("何静", id_number=number)
    [made] = await matching.qr_match(CTX, person["id"], exam)
    assert (made.examination_id, made.how) == (exam, "qr")
    # the code proved her: her other examination followed by its ID number
    assert [(m["person"], m["how"]) for m in await live_matches(later)] == [
        (person["id"], "id_number")
    ]
