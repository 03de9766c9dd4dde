"""The dispatcher's side of the outbox table: claim, renew, finish. No Prefect here.

A claim is one ``UPDATE ... WHERE`` that re-checks the row's state, so two dispatchers
never hold one row (SQLite serialises writers; PostgreSQL re-evaluates the condition on the
row it waited for). A claimed row is ``running`` and its ``next_at`` is the lease deadline:
a dispatcher that dies stops renewing and the row is due again when the lease runs out.
``attempts`` is incremented by the claim and doubles as the fencing token: every later
write names the value it claimed, so a holder whose row was taken over changes nothing.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from store.db import transaction
from store.tables import Notification, Outbox
from store.uow import now

PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"


class PermanentFailure(Exception):
    """Raised by a flow when trying again cannot help: the row fails at once."""


def worth_retrying(_task: object, _task_run: object, state: Any) -> bool:
    """A task's ``retry_condition_fn``: a PermanentFailure is not retried either."""
    return not isinstance(state.data, PermanentFailure)


async def payload_of(outbox_id: int) -> dict[str, Any]:
    """The row's payload; a row that does not exist fails for good."""
    row = await Outbox.select(Outbox.payload).where(Outbox.id == outbox_id).first()
    if row is None:
        raise PermanentFailure(f"outbox row {outbox_id} does not exist")
    return dict(msgspec.json.decode(row["payload"] or "{}"))


async def failure_of(state: Any) -> tuple[str, bool]:
    """Why a Prefect run or task run (its final ``State``) did not complete, and whether
    trying again cannot help (it raised a ``PermanentFailure``)."""
    error = await state.aresult(raise_on_failure=False)
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}", isinstance(error, PermanentFailure)
    return str(state.message or state.name), False


class Job(msgspec.Struct, frozen=True):
    id: int
    kind: str
    key: str
    attempts: int


class Outcome(msgspec.Struct, frozen=True):
    """What one row of a batch run came to (a batch flow returns one per row it was given):
    ``ok``, or the reason, ``permanent`` when trying again cannot help."""

    outbox_id: int
    ok: bool
    error: str = ""
    permanent: bool = False


def _due(at, kinds: list[str]):  # type: ignore[no-untyped-def]
    """Rows of these kinds that are pending and due, or running with an expired lease.
    Rows of other kinds stay untouched until a dispatcher that handles them runs."""
    return (
        Outbox.status.is_in([PENDING, RUNNING]) & (Outbox.next_at <= at) & Outbox.kind.is_in(kinds)
    )


async def has_due(kinds: list[str]) -> bool:
    return bool(await Outbox.exists().where(_due(now(), kinds)))


async def unhandled(kinds: list[str]) -> dict[str, int]:
    """Waiting rows of kinds no flow handles here, by kind."""
    rows = await Outbox.select(Outbox.kind).where(
        Outbox.status == PENDING, Outbox.kind.not_in(kinds)
    )
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["kind"]] = counts.get(row["kind"], 0) + 1
    return counts


async def claim(kinds: list[str], limit: int, lease_seconds: float) -> list[Job]:
    at = now()
    candidates = (
        await Outbox.select(Outbox.id).where(_due(at, kinds)).order_by(Outbox.next_at).limit(limit)
    )
    if not candidates:
        return []
    rows = (
        await Outbox.update(
            {
                Outbox.status: RUNNING,
                Outbox.next_at: at + timedelta(seconds=lease_seconds),
                Outbox.attempts: Outbox.attempts + 1,
            }
        )
        .where(Outbox.id.is_in([c["id"] for c in candidates]), _due(at, kinds))
        .returning(Outbox.id, Outbox.kind, Outbox.idempotency_key, Outbox.attempts)
    )
    return sorted(
        (Job(r["id"], r["kind"], r["idempotency_key"], r["attempts"]) for r in rows),
        key=lambda job: job.id,
    )


def _held(job: Job):  # type: ignore[no-untyped-def]
    return (Outbox.id == job.id) & (Outbox.status == RUNNING) & (Outbox.attempts == job.attempts)


async def renew(job: Job, lease_seconds: float) -> bool:
    """Extend the lease; False if another dispatcher has taken the row over."""
    rows = (
        await Outbox.update({Outbox.next_at: now() + timedelta(seconds=lease_seconds)})
        .where(_held(job))
        .returning(Outbox.id)
    )
    return bool(rows)


async def release(job: Job, reason: str, delay_seconds: float) -> None:
    """Give the row back untried (Prefect was not reachable): it does not count."""
    await Outbox.update(
        {
            Outbox.status: PENDING,
            Outbox.attempts: Outbox.attempts - 1,
            Outbox.next_at: now() + timedelta(seconds=delay_seconds),
            Outbox.error: reason[:2000],
        }
    ).where(_held(job))


async def _scrubbed(job: Job, secrets: tuple[str, ...]) -> dict:
    """The payload without its secrets; the update is written by the caller."""
    row = await Outbox.select(Outbox.payload).where(Outbox.id == job.id).first()
    payload = msgspec.json.decode(row["payload"]) if row and row["payload"] else {}
    return {k: v for k, v in payload.items() if k not in secrets}


async def _close(
    job: Job, status: str, error: str, flow_run_id: str, secrets: tuple[str, ...]
) -> bool:
    """The row's end (done or failed) with its secrets scrubbed, if the job still holds it."""
    values: dict = {
        Outbox.status: status,
        Outbox.done_at: now(),
        Outbox.error: error[:2000],
        Outbox.flow_run_id: flow_run_id,
    }
    if secrets:  # a kind without secrets keeps its payload as it is: no read, no rewrite
        values[Outbox.payload] = msgspec.json.encode(await _scrubbed(job, secrets)).decode()
    rows = await Outbox.update(values).where(_held(job)).returning(Outbox.id)
    return bool(rows)


async def complete(job: Job, flow_run_id: str, secrets: tuple[str, ...]) -> bool:
    async with transaction():
        return await _close(job, DONE, "", flow_run_id, secrets)


async def complete_all(jobs: list[Job], flow_run_id: str) -> int:
    """``complete`` for rows of a kind without secrets, one statement per attempt number
    (the fencing token) instead of one per row; returns how many were still held."""
    by_attempts: dict[int, list[int]] = {}
    for job in jobs:
        by_attempts.setdefault(job.attempts, []).append(job.id)
    done = 0
    async with transaction():
        for attempts, ids in by_attempts.items():
            rows = (
                await Outbox.update(
                    {
                        Outbox.status: DONE,
                        Outbox.done_at: now(),
                        Outbox.error: "",
                        Outbox.flow_run_id: flow_run_id,
                    }
                )
                .where(
                    Outbox.id.is_in(ids),
                    Outbox.status == RUNNING,
                    Outbox.attempts == attempts,
                )
                .returning(Outbox.id)
            )
            done += len(rows)
    return done


async def retry_later(job: Job, error: str, flow_run_id: str, delay_seconds: float) -> bool:
    rows = (
        await Outbox.update(
            {
                Outbox.status: PENDING,
                Outbox.next_at: now() + timedelta(seconds=delay_seconds),
                Outbox.error: error[:2000],
                Outbox.flow_run_id: flow_run_id,
            }
        )
        .where(_held(job))
        .returning(Outbox.id)
    )
    return bool(rows)


async def give_up(job: Job, error: str, flow_run_id: str, secrets: tuple[str, ...]) -> bool:
    """Final failure: the row and its undelivered notifications are failed, secrets gone."""
    async with transaction():
        rows = await _close(job, FAILED, error, flow_run_id, secrets)
        if rows:
            await Notification.update({Notification.status: FAILED}).where(
                Notification.outbox_id == job.id, Notification.status != "sent"
            )
    return bool(rows)
