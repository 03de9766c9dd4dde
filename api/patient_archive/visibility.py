"""When a matched examination becomes visible to its patient, and the timer that tells her.

A live match's ``visible_at`` follows the hospital's rule (``policy.visible_from``): set when
the match is made, again when the examination's report is reviewed (``report_reviewed``,
called by ``api.reports.steps`` in the review's transaction) and when the admin changes a
rule (``reschedule``). The archive shows a match once ``visible_at <= now``. One pending
``cloud_film`` timer per match (``store.timers.keep_timer``) falls due at ``visible_at``;
the sweep (``flows/timers.py``) calls ``fire``, which checks the rule again and queues the
patient's notice (outbox ``notify-patient``, ``flows/patient_archive.py``). The migration
run's "notify" step fires the timers of its examinations that are already due, so an
examination visible at once is told without waiting for the next sweep.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.patient_archive import policy
from store.tables import Examination, ExamReport, PatientMatch, Timer
from store.timers import keep_timer
from store.uow import UnitOfWork, now

CASE = "patient_match"
TIMER = "cloud_film"
NOTICE = "notify-patient"


async def reviewed_at(exam_id: int) -> datetime | None:
    row = (
        await ExamReport.select(ExamReport.reviewed_at, ExamReport.state)
        .where(ExamReport.examination == exam_id)
        .first()
    )
    if row is None or row["state"] != "reviewed":
        return None
    return row["reviewed_at"]


async def visible_at_of(match: dict[str, Any], exam: dict[str, Any]) -> datetime | None:
    rule = await policy.rule_for(int(exam["hospital"]), exam["check_item"])
    return policy.visible_from(
        rule,
        matched_at=match["matched_at"],
        exam_time=exam["exam_time"],
        reviewed_at=await reviewed_at(int(exam["id"])),
    )


async def settle(match_id: int) -> datetime | None:
    """Compute the match's ``visible_at`` again and keep its timer in step (in the caller's
    transaction). A match already told keeps its time."""
    match = await PatientMatch.select().where(PatientMatch.id == match_id).first()
    if match is None or match["unmatched_at"] is not None or match["notified_at"] is not None:
        return match["visible_at"] if match else None
    exam = await Examination.select().where(Examination.id == match["examination"]).first()
    assert exam is not None
    at = await visible_at_of(match, exam)
    await PatientMatch.update({PatientMatch.visible_at: at}).where(PatientMatch.id == match_id)
    await keep_timer(CASE, match_id, TIMER, at)
    return at


async def _waiting(*where: Any) -> list[int]:
    rows = await PatientMatch.select(PatientMatch.id).where(
        PatientMatch.unmatched_at.is_null(), PatientMatch.notified_at.is_null(), *where
    )
    return [int(r["id"]) for r in rows]


async def report_reviewed(uow: UnitOfWork, exam_id: int) -> int:
    """The examination's report was reviewed: its waiting matches get their time."""
    ids = await _waiting(PatientMatch.examination == exam_id)
    for match_id in ids:
        await settle(match_id)
    return len(ids)


async def reschedule(hospital_id: int, check_item_id: int | None) -> int:
    """A rule changed: the waiting matches under it get their time again."""
    item = (
        PatientMatch.examination.check_item.is_null()
        if check_item_id is None
        else PatientMatch.examination.check_item == check_item_id
    )
    ids = await _waiting(PatientMatch.hospital == hospital_id, item)
    for match_id in ids:
        await settle(match_id)
    return len(ids)


async def fire(uow: UnitOfWork, match_id: int, _timer_id: int = 0) -> bool:
    """The match's timer fell due: if the match is still live and visible under the rule as
    it is now, queue the patient's notice; False when the case moved on (moot)."""
    match = await PatientMatch.select().where(PatientMatch.id == match_id).first()
    if match is None or match["unmatched_at"] is not None or match["notified_at"] is not None:
        return False
    exam = await Examination.select().where(Examination.id == match["examination"]).first()
    if exam is None or exam["deleted_at"] is not None:
        return False
    at = await visible_at_of(match, exam)
    if at != match["visible_at"]:
        await PatientMatch.update({PatientMatch.visible_at: at}).where(PatientMatch.id == match_id)
    if at is None or at > now():
        await keep_timer(CASE, match_id, TIMER, at)  # not yet after all: wait again
        return False
    await uow.outbox(NOTICE, {"match_id": match_id}, key=f"{NOTICE}-{match_id}")
    await uow.audit(
        "patient_match.visible",
        CASE,
        match_id,
        hospital_id=int(match["hospital"]),
        detail=f"examination {exam['id']} visible to patient person {match['person']}",
    )
    return True


async def fire_due(uow: UnitOfWork, exam_ids: list[int]) -> int:
    """Fire now the due timers of these examinations' matches (claimed as the sweep claims
    them: at most once); returns how many notices were queued."""
    if not exam_ids:
        return 0
    ids = await _waiting(PatientMatch.examination.is_in(exam_ids))
    fired = 0
    for match_id in ids:
        claimed = (
            await Timer.update({Timer.fired_at: now()})
            .where(
                Timer.case_type == CASE,
                Timer.case_id == match_id,
                Timer.kind == TIMER,
                Timer.fired_at.is_null(),
                Timer.cancelled.eq(False),
                Timer.due_at <= now(),
            )
            .returning(Timer.id)
        )
        if claimed and await fire(uow, match_id, int(claimed[0]["id"])):
            fired += 1
    return fired
