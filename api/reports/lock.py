"""The report lock (SPEC 2.5): one editor at a time.

A lock freed by an administrator or by its expiry is a timeline step of the report, written
by the engine (``store.engine.note``: history row and audit row).

The lock is two columns of the report (holder, due time). Taking it is one conditional
``UPDATE`` — free, mine, or expired — so of two doctors clicking "Write" exactly one wins,
on SQLite and PostgreSQL alike. Autosaves and keep-alives extend it; an explicit save, a
submission, a review, the holder's "unlock" and a hospital admin release it; after 30
minutes without either it reads as free, and its ``Timer`` row lets the scheduled sweep
(``flows/timers.py``) clear it and tell the page live ("lock freed").
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from api.reports.access import (
    CASE,
    Access,
    access,
    ensure_report,
    for_writing,
    names,
    page_topic,
)
from api.reports.schemas import Done, LockRead, PersonRead
from kernel.domain import Permission
from kernel.errors import Conflict, Forbidden
from kernel.i18n import N_, Msg, gettext
from store import locks
from store.engine import note
from store.tables import ExamReport
from store.timers import keep_timer
from store.uow import Actor, Ctx, UnitOfWork, now, unit_of_work

LOCK_MINUTES = 30
LOCK_TIMER = "report_lock_expiry"
EDITABLE = ("draft", "returned")


def live_lock(row: dict[str, Any] | None, at: datetime | None = None) -> tuple[int | None, Any]:
    """(holder, until) of a lock that has not expired; (None, None) otherwise."""
    return locks.live(row["lock_user"], row["lock_until"], at) if row else (None, None)


async def lock_read(row: dict[str, Any] | None, actor: Actor) -> LockRead:
    holder, until = live_lock(row)
    if holder is None:
        return LockRead()
    who = await names(holder)
    return LockRead(
        PersonRead(holder, who.get(holder, "")), until.isoformat(), holder == actor.user_id
    )


def free_or_mine(actor: Actor, at: datetime) -> Any:
    return locks.free_or_mine(ExamReport.lock_user, ExamReport.lock_until, actor, at)


async def held_elsewhere(report_id: int, actor: Actor) -> Conflict | None:
    row = await ExamReport.select().where(ExamReport.id == report_id).first()
    return await locks.held_by_other(
        row["lock_user"] if row else None,
        row["lock_until"] if row else None,
        actor,
        N_(
            "{name} is editing the report (locked until {local:%H:%M}); you can edit it when "
            "they have saved or the lock is freed."
        ),
    )


async def set_timer(report_id: int, due: datetime | None) -> None:
    """Keep one pending expiry timer per report in step with the lock."""
    await keep_timer(CASE, report_id, LOCK_TIMER, due)


async def lock_event(
    uow: UnitOfWork, exam_id: int, report_id: int, event: str, **extra: Any
) -> None:
    """Ids only on the page topic: the page re-fetches what its reader may see."""
    payload = {"case_type": CASE, "case_id": report_id, "exam_id": exam_id, "event": event, **extra}
    await uow.event(page_topic(exam_id), f"{CASE}.{event}", payload)


async def take(ctx: Ctx, exam_id: int) -> LockRead:
    """Take the lock, or extend it (keep-alive) when it is already mine."""
    assert ctx.actor is not None
    found = await for_writing(ctx.actor, exam_id, Permission.report_write)
    report = await ensure_report(ctx, found)
    if report["state"] not in EDITABLE:
        raise Conflict(
            "The report is {state}; it is edited only as a draft or after the "
            "reviewer returned it.",
            state=Msg(report["state"], context="report state"),
            extra={"state": report["state"]},
        )
    actor = found.actor
    at = now()
    until = at + timedelta(minutes=LOCK_MINUTES)
    async with unit_of_work(ctx) as uow:
        taken = (
            await ExamReport.update(
                {ExamReport.lock_user: actor.user_id, ExamReport.lock_until: until}
            )
            .where(
                ExamReport.id == report["id"],
                ExamReport.state.is_in(list(EDITABLE)),
                free_or_mine(actor, at),
            )
            .returning(ExamReport.id)
        )
        if taken:
            await set_timer(report["id"], until)
            await lock_event(
                uow, exam_id, report["id"], "locked", user_id=actor.user_id, until=until.isoformat()
            )
            fresh = report["lock_user"] != actor.user_id or live_lock(report, at)[0] is None
            if fresh:  # a keep-alive is not worth an audit row a few minutes
                await uow.audit(
                    f"{CASE}.lock", CASE, report["id"], detail=f"until {until:%H:%M} UTC"
                )
    if not taken:
        raise await held_elsewhere(report["id"], actor) or Conflict(
            "The report cannot be locked now; reload the page.",
        )
    return LockRead(
        PersonRead(actor.user_id, (await names(actor.user_id))[actor.user_id]),
        until.isoformat(),
        True,
    )


async def release(ctx: Ctx, exam_id: int) -> Done:
    """The holder lets the report go without saving. Anyone else's "unlock" is refused with
    who holds it (the lock stays): an administrator frees a lock with ``admin_release``."""
    assert ctx.actor is not None
    found = await access(ctx.actor, exam_id)
    report = await ExamReport.select().where(ExamReport.examination == exam_id).first()
    if report is None:
        return Done(message=gettext("The report is free for others to edit."))
    refused = await locks.held_by_other(
        report["lock_user"],
        report["lock_until"],
        found.actor,
        N_(
            "{name} holds the lock of this report (until {local:%H:%M}); only they can "
            "unlock it, or an administrator of the reporting hospital with 'Release the lock'."
        ),
    )
    if refused:
        raise refused
    async with unit_of_work(ctx) as uow:
        if await clear(uow, found, report, holder=found.actor.user_id):
            await uow.audit(f"{CASE}.unlock", CASE, report["id"])
    return Done(message=gettext("The report is free for others to edit."))


async def admin_release(ctx: Ctx, exam_id: int) -> Done:
    """A hospital admin of the reporting hospital frees a lock someone left behind."""
    actor = ctx.actor
    assert actor is not None
    found = await access(actor, exam_id)
    if actor.kind != "hospital_admin" or not found.in_reporting_hospital:
        raise Forbidden(
            "Only an administrator of the reporting hospital releases a report lock.",
        )
    report = await ExamReport.select().where(ExamReport.examination == exam_id).first()
    holder = live_lock(report)[0]
    if report is None or holder is None:
        raise Conflict("Nobody holds the lock of this report.")
    async with unit_of_work(ctx) as uow:
        await clear(uow, found, report, holder=holder, released_by=actor.user_id)
        await tell_holder(uow, exam_id, report["id"], holder)
        await note(
            uow,
            CASE,
            report["id"],
            "lock_released",
            report["state"],
            reason="by an administrator",
            summary={"user_id": holder},
            audit="lock_release",
            detail=f"lock of user {holder} released",
        )
    name = (await names(holder)).get(holder, f"user {holder}")
    return Done(message=f"The lock of {name} is released; the report is free to edit.")


async def tell_holder(uow: UnitOfWork, exam_id: int, report_id: int, holder: int) -> None:
    """The holder of a lock an administrator released hears it: live on his own topic (his
    open editor hears the page topic's "lock freed" too) and as a notice linking the report."""
    payload = {"case_type": CASE, "case_id": report_id, "exam_id": exam_id}
    await uow.event(f"user:{holder}", f"{CASE}.lock_released", payload)
    await uow.outbox(
        "notify",
        {
            "business_type": "diagnosis",
            "event": "lock_released",
            "case_type": CASE,
            "case_id": report_id,
            "user_ids": [holder],
            "link": f"/exams/{exam_id}/report",
        },
        key=f"notify-{CASE}-{report_id}-lock-released-{now().isoformat()}",
    )


async def clear(
    uow: UnitOfWork, found: Access, report: dict[str, Any], *, holder: int, **extra: Any
) -> bool:
    """Free the lock if ``holder`` holds it; the page hears "lock freed" (with ``extra``)."""
    done = (
        await ExamReport.update({ExamReport.lock_user: None, ExamReport.lock_until: None})
        .where(ExamReport.id == report["id"], ExamReport.lock_user == holder)
        .returning(ExamReport.id)
    )
    if done:
        await set_timer(report["id"], None)
        await lock_event(uow, found.exam_id, report["id"], "lock_freed", user_id=holder, **extra)
    return bool(done)


async def expire(uow: UnitOfWork, report_id: int) -> bool:
    """The lock's due time passed without an autosave or keep-alive (SPEC 2.5): free it,
    with a history row, an audit row and "lock freed" on the page. Called by the timer
    sweep inside its transaction; False when the lock was saved, released or extended."""
    row = await ExamReport.select().where(ExamReport.id == report_id).first()
    if row is None or row["lock_user"] is None:
        return False
    holder = int(row["lock_user"])
    freed = (
        await ExamReport.update({ExamReport.lock_user: None, ExamReport.lock_until: None})
        .where(
            ExamReport.id == report_id,
            ExamReport.lock_user == holder,
            ExamReport.lock_until <= now(),
        )
        .returning(ExamReport.id)
    )
    if not freed:
        return False
    exam_id = int(row["examination"])
    await lock_event(uow, exam_id, report_id, "lock_freed", user_id=holder, expired=True)
    await note(
        uow,
        CASE,
        report_id,
        "lock_expired",
        row["state"],
        reason=f"no change for {LOCK_MINUTES} minutes",
        summary={"user_id": holder},
        audit="lock_expired",
        detail=f"lock of user {holder} expired after {LOCK_MINUTES} minutes without a change",
        hospital_id=int(row["hospital"]),
    )
    return True
