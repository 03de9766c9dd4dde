"""Timers: due times in the database (``Timer`` rows), swept every minute by the
``sweep-timers`` deployment of ``prefect.yaml`` so admins see each sweep in the dashboard
(DESIGN.md). Whoever sets a due time writes the row in the transaction of the change; this
flow only fires what is due.

Each due timer is claimed and worked in one transaction: ``UPDATE timer SET fired_at = now
WHERE id = ? AND fired_at IS NULL AND NOT cancelled AND due_at <= now RETURNING …``, then its
effect (the lock released, the outbox row written) before the commit. Two sweeps that overlap
(a slow one and the next minute's, two workers) may both try a timer: the conditional update
lets exactly one through (SQLite serialises writers; PostgreSQL re-checks the condition on
the row it waited for). A failure rolls the claim back with the effect, so the timer stays
due for the next sweep: nothing fires twice, nothing is dropped.

Timers of kinds this module does not know are left alone (a newer version handles them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from api.consultations.reminders import REMINDER, send_reminder
from api.consultations.report import LOCK_TIMER, expire_lock
from api.live import use_shared_channel
from api.patient_archive import visibility as cloud_film
from api.reports import lock as exam_report_lock
from api.teaching import reminders as course_reminders
from api.ward_rounds import reminders as ward_round
from api.ward_rounds import steps as ward_round_steps
from kernel.settings import get_settings
from store.tables import Timer
from store.uow import Ctx, UnitOfWork, now, unit_of_work

CTX = Ctx(ip="prefect", user_agent="sweep_timers")
BATCH = 200

Action = Callable[[UnitOfWork, int, int], Awaitable[bool]]


async def _expire_report_lock(uow: UnitOfWork, case_id: int, _timer_id: int) -> bool:
    return await expire_lock(uow, case_id)


async def _expire_exam_report_lock(uow: UnitOfWork, case_id: int, _timer_id: int) -> bool:
    return await exam_report_lock.expire(uow, case_id)


ACTIONS: dict[tuple[str, str], Action] = {
    ("consultation", LOCK_TIMER): _expire_report_lock,
    ("consultation", REMINDER): send_reminder,
    ("exam_report", exam_report_lock.LOCK_TIMER): _expire_exam_report_lock,
    (cloud_film.CASE, cloud_film.TIMER): cloud_film.fire,
    (ward_round_steps.CASE, ward_round_steps.REMINDER): ward_round.send_reminder,
    (ward_round_steps.CASE, ward_round_steps.START): ward_round.start,
    (ward_round_steps.CASE, ward_round_steps.OVERRUN): ward_round.overrun,
    ("course", course_reminders.REMINDER): course_reminders.send_reminder,
}


class DueTimer(msgspec.Struct, frozen=True):
    id: int
    case_type: str
    case_id: int
    kind: str

    @property
    def run_name(self) -> str:
        """The flow-run name names the case, e.g. ``reminder-consultation-12``."""
        return f"{self.kind.replace('_', '-')}-{self.case_type}-{self.case_id}"


def _due(at: Any) -> tuple:
    return (
        Timer.due_at <= at,
        Timer.fired_at.is_null(),
        Timer.cancelled == False,  # noqa: E712
        Timer.kind.is_in(sorted({kind for _, kind in ACTIONS})),
    )


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def due_timers(limit: int = BATCH) -> list[DueTimer]:
    rows = (
        await Timer.select(Timer.id, Timer.case_type, Timer.case_id, Timer.kind)
        .where(*_due(now()))
        .order_by(Timer.due_at)
        .limit(limit)
    )
    return [
        DueTimer(r["id"], r["case_type"], r["case_id"], r["kind"])
        for r in rows
        if (r["case_type"], r["kind"]) in ACTIONS
    ]


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def claim_and_fire(timer_id: int) -> str:
    """Claim one timer and do its work in the same transaction; says what happened."""
    async with unit_of_work(CTX) as uow:
        claimed = (
            await Timer.update({Timer.fired_at: now()})
            .where(Timer.id == timer_id, *_due(now()))
            .returning(Timer.case_type, Timer.case_id, Timer.kind)
        )
        if not claimed:
            return "taken"  # fired by an overlapping sweep, or cancelled or moved meanwhile
        row = claimed[0]
        action = ACTIONS[(row["case_type"], row["kind"])]
        done = await action(uow, int(row["case_id"]), timer_id)
    return "fired" if done else "moot"


@flow(name="fire-timer", persist_result=False)
async def fire_timer(timer_id: int) -> str:
    """One due timer, as its own flow run named after the case."""
    outcome = await claim_and_fire(timer_id)
    get_run_logger().info("timer %s: %s", timer_id, outcome)
    return outcome


@flow(name="sweep-timers", persist_result=False)
async def sweep_timers(limit: int = BATCH) -> dict[str, int]:
    """Fire every due timer (at most ``limit`` a run; the next minute's run takes the rest).
    Returns how many were fired, moot (the case moved on: no lock to free, consultation
    over), taken by an overlapping sweep, or failed (they stay due)."""
    use_shared_channel(get_settings().redis.url)
    counts = {"fired": 0, "moot": 0, "taken": 0, "failed": 0}
    for timer in await due_timers(limit):
        run = fire_timer.with_options(flow_run_name=timer.run_name)
        state = await run(timer_id=timer.id, return_state=True)
        if state.is_completed():
            counts[await state.aresult()] += 1
        else:
            counts["failed"] += 1
    get_run_logger().info("timers: %s", counts)
    if counts["failed"]:
        raise RuntimeError(f"{counts['failed']} timer(s) failed and stay due: {counts}")
    return counts
