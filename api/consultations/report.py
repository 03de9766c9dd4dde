"""The consultation report (SPEC 3.5): participants edit it one at a time.

The lock is two columns on the consultation (holder, due time). Taking it is one conditional
``UPDATE`` — free, mine, or expired — so of two people clicking "Edit" exactly one wins on
SQLite and PostgreSQL alike. A save or a keep-alive extends it, a save releases it, and after
30 minutes without either it is treated as free on every read; the due time is also a
``Timer`` row so the scheduled sweep (someone else's flow) can clear it and tell the room.
A save carries the ``report_version`` it started from: a stale one is a 409, never a silent
overwrite, and each save keeps a ``ConsultationReportVersion`` row.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from api.consultations import access
from api.consultations.schemas import Done, PersonRead, ReportIn, ReportLock, StepIn
from api.consultations.service import actor_of
from api.consultations.steps import (
    CASE,
    LOCK_TIMER,
    facts,
    invites_of,
    load,
    publish,
    record_step,
    step,
)
from kernel.errors import BadRequest, Conflict, Forbidden
from kernel.i18n import N_, Msg, gettext
from states.consultation import ConsultationState
from store import locks
from store.tables import Consultation, ConsultationReportVersion, User
from store.timers import keep_timer
from store.uow import Actor, Ctx, UnitOfWork, now, unit_of_work

LOCK_MINUTES = 30
MAX_REPORT_CHARS = 100_000


def lock_free_or_mine(actor: Actor, at: datetime) -> Any:
    return locks.free_or_mine(
        Consultation.report_lock_user, Consultation.report_lock_until, actor, at
    )


async def _editor(ctx: Ctx, consultation_id: int) -> tuple[Actor, dict[str, Any]]:
    actor = actor_of(ctx)
    who = await access.involvement(actor, consultation_id)
    if not who.editor:
        raise Forbidden(
            "Only the participants of the consultation edit its report.",
        )
    row = await load(consultation_id)
    if row["state"] != ConsultationState.in_progress:
        raise Conflict(
            "The report is written while the consultation is in progress; it is {state}.",
            state=Msg(row["state"].replace("_", " "), context="consultation state"),
            extra={"state": row["state"]},
        )
    return actor, row


async def _held_elsewhere(consultation_id: int, actor: Actor) -> Conflict | None:
    row = await load(consultation_id)
    return await locks.held_by_other(
        row["report_lock_user"],
        row["report_lock_until"],
        actor,
        N_(
            "{name} is editing the report (locked until {local:%H:%M}); try again when "
            "they have saved."
        ),
    )


async def _timer(consultation_id: int, due: datetime | None) -> None:
    """Keep one pending expiry timer per consultation in step with the lock."""
    await keep_timer(CASE, consultation_id, LOCK_TIMER, due)


async def take_lock(ctx: Ctx, consultation_id: int) -> ReportLock:
    """Take the lock, or extend it (keep-alive) when it is already mine."""
    actor, _ = await _editor(ctx, consultation_id)
    at = now()
    until = at + timedelta(minutes=LOCK_MINUTES)
    async with unit_of_work(ctx) as uow:
        taken = (
            await Consultation.update(
                {
                    Consultation.report_lock_user: actor.user_id,
                    Consultation.report_lock_until: until,
                }
            )
            .where(
                Consultation.id == consultation_id,
                Consultation.state == ConsultationState.in_progress.value,
                lock_free_or_mine(actor, at),
            )
            .returning(Consultation.id)
        )
        if taken:
            await _timer(consultation_id, until)
            await publish(
                uow,
                consultation_id,
                "report_locked",
                {"user_id": actor.user_id, "until": until.isoformat()},
            )
            await uow.audit("consultation.report_lock", CASE, consultation_id)
    if not taken:
        raise await _held_elsewhere(consultation_id, actor) or Conflict(
            "The report cannot be locked now; reload the page.",
        )
    name = await User.select(User.display_name).where(User.id == actor.user_id).first()
    return ReportLock(
        PersonRead(actor.user_id, name["display_name"] if name else ""), until.isoformat()
    )


async def release_lock(ctx: Ctx, consultation_id: int) -> Done:
    """The holder lets the report go; anyone else is told who holds it (the lock stays)."""
    actor = actor_of(ctx)
    await access.involvement(actor, consultation_id)
    if held := await _held_elsewhere(consultation_id, actor):
        raise Conflict(
            "{lock_holder_name} holds the lock of the report; only they can unlock "
            "it (it frees itself after {lock_minutes} minutes without a save).",
            lock_holder_name=held.extra["lock_holder_name"],
            lock_minutes=LOCK_MINUTES,
            extra=held.extra,
        )
    async with unit_of_work(ctx) as uow:
        released = (
            await Consultation.update(
                {Consultation.report_lock_user: None, Consultation.report_lock_until: None}
            )
            .where(
                Consultation.id == consultation_id, Consultation.report_lock_user == actor.user_id
            )
            .returning(Consultation.id)
        )
        if released:
            await _timer(consultation_id, None)
            await publish(uow, consultation_id, "report_unlocked", {"user_id": actor.user_id})
            await uow.audit("consultation.report_unlock", CASE, consultation_id)
    return Done(message=gettext("The report is free for others to edit."))


async def expire_lock(uow: UnitOfWork, consultation_id: int) -> bool:
    """The lock's due time passed without a save or keep-alive (SPEC 2.5, 3.5): free it,
    with a history row, an audit row and a live event for the room. Called by the timer
    sweep inside its transaction; False if the lock was saved, released or extended."""
    at = now()
    row = (
        await Consultation.select(Consultation.report_lock_user, Consultation.state)
        .where(Consultation.id == consultation_id)
        .first()
    )
    if row is None or row["report_lock_user"] is None:
        return False
    holder = row["report_lock_user"]
    released = (
        await Consultation.update(
            {Consultation.report_lock_user: None, Consultation.report_lock_until: None}
        )
        .where(
            Consultation.id == consultation_id,
            Consultation.report_lock_user == holder,
            Consultation.report_lock_until <= at,
        )
        .returning(Consultation.id)
    )
    if not released:
        return False
    await record_step(
        uow,
        consultation_id,
        "report_lock_expired",
        row["state"],
        reason=f"no save for {LOCK_MINUTES} minutes",
        summary={"user_id": holder},
    )
    await uow.audit(
        "consultation.report_lock_expired",
        CASE,
        consultation_id,
        detail=f"lock of user {holder} expired after {LOCK_MINUTES} minutes without a save",
    )
    return True


async def save(ctx: Ctx, consultation_id: int, data: ReportIn) -> Done:
    actor, row = await _editor(ctx, consultation_id)
    if len(data.text) > MAX_REPORT_CHARS:
        raise BadRequest(
            "The report is {n} characters long; at most {max_report_chars} fit.",
            n=len(data.text),
            max_report_chars=MAX_REPORT_CHARS,
        )
    at = now()
    new_version = data.report_version + 1
    async with unit_of_work(ctx) as uow:
        saved = (
            await Consultation.update(
                {
                    Consultation.report_text: data.text,
                    Consultation.report_version: new_version,
                    Consultation.report_lock_user: None,
                    Consultation.report_lock_until: None,
                }
            )
            .where(
                Consultation.id == consultation_id,
                Consultation.state == ConsultationState.in_progress.value,
                Consultation.report_version == data.report_version,
                lock_free_or_mine(actor, at),
            )
            .returning(Consultation.id)
        )
        if saved:
            await ConsultationReportVersion.insert(
                ConsultationReportVersion(
                    consultation=consultation_id,
                    version=new_version,
                    text=data.text,
                    author=actor.user_id,
                    created_at=at,
                )
            )
            await _timer(consultation_id, None)
            await record_step(
                uow,
                consultation_id,
                "save_report",
                row["state"],
                summary={"report_version": new_version, "length": len(data.text)},
            )
            await uow.audit(
                "consultation.report_save",
                CASE,
                consultation_id,
                detail=f"report version {new_version}, {len(data.text)} characters",
            )
    if not saved:
        raise await _save_refusal(consultation_id, actor, data.report_version)
    return Done(message=gettext("Report saved."), report_version=new_version)


async def _save_refusal(consultation_id: int, actor: Actor, seen: int) -> Conflict:
    locked = await _held_elsewhere(consultation_id, actor)
    if locked:
        return locked
    row = await load(consultation_id)
    if row["report_version"] != seen:
        last = (
            await ConsultationReportVersion.select(ConsultationReportVersion.author)
            .where(ConsultationReportVersion.consultation == consultation_id)
            .order_by(ConsultationReportVersion.id, ascending=False)
            .first()
        )
        author = (
            await User.select(User.display_name).where(User.id == last["author"]).first()
            if last
            else None
        )
        by = Msg(" by {name}", name=author["display_name"]) if author else ""
        return Conflict(
            "The report was saved{by} meanwhile (version {report_version}, you "
            "edited version {seen}). Copy your text, reload, and merge your changes.",
            by=by,
            report_version=row["report_version"],
            seen=seen,
            extra={"report_version": row["report_version"]},
        )
    return Conflict(
        "The report cannot be saved now; the consultation is {state}.",
        state=Msg(row["state"], context="consultation state"),
    )


async def submit(ctx: Ctx, consultation_id: int, data: StepIn) -> Done:
    """Submit the saved report: the consultation is finished."""
    actor, row = await _editor(ctx, consultation_id)
    locked = await _held_elsewhere(consultation_id, actor)
    if locked:
        raise locked
    invites = await invites_of(consultation_id)
    # its effects and notice: the declaration (states.consultation), bound in steps.py
    done = await step(
        ctx,
        consultation_id,
        "submit_report",
        facts(invites, report_length=len(row["report_text"].strip())),
        data.version,
        summary={"report_version": row["report_version"]},
    )
    return Done(message=gettext("The report is submitted."), version=done.version)
