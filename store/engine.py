"""The process engine: the one writer of a process step's history, live events, audit and
outbox rows.

- ``apply``: a trigger on a persisted case. allowed? guards? (``states``) → one transaction:
  the new state with a version check, a history row, the step's declared effects
  (sub-records, outbox rows) and notice, live events and an audit row → after commit, the
  unit of work publishes the events. Of concurrent triggers on one case exactly one wins:
  the conditional ``UPDATE ... WHERE version = ?`` lets one through and the others get 409
  with the current state.
- ``create``: a transition from no state: the case row in the machine's initial state at
  version 1, then the same history → effects → events → audit sequence.
- declared steps: what a process's declaration (``states.machine.declare``) names for a
  trigger (who is told, which after-effects run) the feature's home binds to functions with
  ``bind``; ``create`` and ``apply`` run them after the history row, in the same unit of
  work (an effect that raises rolls the whole step back), then write the ``notify`` outbox
  row for the audiences' users (one more per notice of its own, ``Said.also``; each person
  gets one notice per step).
- ``note``: a timeline step that is not a transition (a lock taken or freed, a file added, a
  report saved): a history row with the state unchanged, its events (and audit) in the
  caller's unit of work.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import msgspec
from piccolo.table import Table

from kernel.errors import Conflict, NotFound
from states.machine import Process
from store.sql import case as case_sql
from store.sql import case_history as history_sql
from store.tables import CaseHistory
from store.uow import Ctx, UnitOfWork, now, unit_of_work


@dataclass(frozen=True)
class Applied:
    case_id: int
    event: str
    from_state: str
    to_state: str
    version: int
    history_id: int


@dataclass(frozen=True)
class Done:
    """A step as its declared audiences and after-effects see it (inside its transaction)."""

    uow: UnitOfWork
    process: str
    case_id: int
    trigger: str
    from_state: str
    to_state: str
    version: int
    history_id: int
    facts: Any = None
    reason: str = ""

    @property
    def ctx(self) -> Ctx:
        return self.uow.ctx


Audience = Callable[[Done], Awaitable[Iterable[int]]]
"""The user ids a named audience of a step stands for."""
Effect = Callable[[Done], Awaitable[None]]
"""A named after-effect: sub-records, events, timers, outbox rows of a step."""


@dataclass(frozen=True)
class Binding:
    audiences: Mapping[str, Audience]
    effects: Mapping[str, Effect]
    business_type: str
    link: Callable[[Done], Awaitable[str]] | None
    describe: Callable[[Done], Awaitable[str]] | None
    notice: Callable[[Done], Awaitable[dict[str, Any]]] | None = None


_bindings: dict[str, Binding] = {}


def bind(
    process: Process[Any],
    *,
    audiences: Mapping[str, Audience] | None = None,
    effects: Mapping[str, Effect] | None = None,
    business_type: str = "",
    link: Callable[[Done], Awaitable[str]] | None = None,
    describe: Callable[[Done], Awaitable[str]] | None = None,
    notice: Callable[[Done], Awaitable[dict[str, Any]]] | None = None,
) -> None:
    """The feature's home binds the names of ``process.declared`` to functions (every name
    it declares; a missing one is an error at import). ``business_type`` and ``link`` shape
    the notice (``notice``: more of the case its texts say, e.g. a priority); ``describe``
    the audit detail of a creation."""
    audiences, effects = dict(audiences or {}), dict(effects or {})
    missing = (process.declared.audiences - audiences.keys()) | (
        process.declared.effects - effects.keys()
    )
    if missing:
        raise ValueError(f"{process.name}: nothing bound to {', '.join(sorted(missing))}")
    _bindings[process.name] = Binding(
        audiences, effects, business_type or process.name, link, describe, notice
    )


def binding(process: Process[Any]) -> Binding | None:
    return _bindings.get(process.name)


async def _declared(process: Process[Any], done: Done) -> None:
    said = process.declared.said(done.trigger)
    if not said.tell and not said.after and not said.also:
        return
    bound = _bindings.get(process.name)
    if bound is None:
        raise RuntimeError(
            f"{process.name} declares what its {done.trigger!r} step leaves, but nothing bound "
            "it: import the process's home (api/<feature>/steps.py)"
        )
    for name in said.after:
        await bound.effects[name](done)
    told: set[int] = set()
    extra = await bound.notice(done) if bound.notice else {}
    notices = [*((t.notice, t.to, f"-{t.notice}") for t in said.also)]
    notices.append((said.notice or done.trigger, said.tell, ""))
    for event, audiences, suffix in notices:
        users: set[int] = set()
        for name in audiences:
            users.update(await bound.audiences[name](done))
        users -= told  # one notice per person and step: the first that names him
        told |= users
        if not users:
            continue
        await done.uow.outbox(
            "notify",
            {
                "business_type": bound.business_type,
                "event": event,
                "case_type": process.name,
                "case_id": done.case_id,
                "user_ids": sorted(users),
                "link": await bound.link(done) if bound.link else "",
                **extra,
            },
            key=f"notify-{process.name}-{done.case_id}-{done.history_id}{suffix}",
        )


async def current(table: type[Table], case_id: int, what: str) -> dict[str, Any]:
    """The case's id, state, version (and hospital, where it has one)."""
    row = await case_sql.of(table).current.one(case_id=case_id)
    if row is None:
        raise NotFound(f"No {what} with id {case_id} exists.")
    return row


async def apply(
    ctx: Ctx,
    process: Process[Any],
    table: type[Table],
    case_id: int,
    trigger: str,
    facts: Any = None,
    *,
    version: int | None = None,
    reason: str = "",
    summary: dict[str, Any] | None = None,
    topics: Sequence[str] = (),
) -> Applied:
    """Apply ``trigger``; ``version`` is the one the client saw (None: the one read now)."""
    row = await current(table, case_id, process.name)
    seen = row["version"] if version is None else version
    state = process.states(row["state"])
    if seen != row["version"]:
        raise _stale(process, case_id, row)
    decision = process.decide(state, trigger, facts)
    if not decision.allowed:
        raise Conflict(decision.reason, extra={"state": state.value, "version": row["version"]})
    assert decision.dest is not None
    dest: Enum = decision.dest
    step = case_sql.of(table).step
    async with unit_of_work(ctx) as uow:
        updated = await step.one(state=dest.value, case_id=case_id, version=seen)
        if updated is None:
            raise _stale(process, case_id, await current(table, case_id, process.name))
        actor = ctx.actor
        history_id = await _history(
            ctx, process.name, case_id, trigger, state.value, dest.value, reason, summary
        )
        done = Done(
            uow,
            process.name,
            case_id,
            trigger,
            state.value,
            dest.value,
            seen + 1,
            history_id,
            facts,
            reason,
        )
        await _declared(process, done)
        payload = _payload(
            process.name, case_id, trigger, state.value, dest.value, seen + 1, history_id, summary
        )
        for topic in (f"case:{process.name}:{case_id}", *topics):
            await uow.event(topic, f"{process.name}.{trigger}", payload)
        await uow.audit(
            f"{process.name}.{trigger}",
            process.name,
            case_id,
            detail=f"{state.value} → {dest.value}" + (f": {reason}" if reason else ""),
            # a step the system takes (a flow, a timer) belongs to the case's hospital's log
            hospital_id=None if actor else row.get("hospital"),
        )
    return Applied(case_id, trigger, state.value, dest.value, seen + 1, history_id)


async def create(
    ctx: Ctx,
    process: Process[Any],
    table: type[Table],
    values: dict[str, Any],
    *,
    reason: str = "",
    summary: dict[str, Any] | None = None,
    topics: Sequence[str] = (),
    facts: Any = None,
) -> Applied:
    """Insert a case of ``process`` (``values``: its columns by name, without state and
    version) in the machine's initial state, version 1, with its history row, declared
    effects (they see ``facts``), live events and audit row in one unit of work (the
    caller's, when it has one open)."""
    initial: Enum = process.initial
    event = process.declared.created
    columns = {table._meta.get_column_by_name(name): value for name, value in values.items()}
    columns[table._meta.get_column_by_name("state")] = initial.value
    columns[table._meta.get_column_by_name("version")] = 1
    async with unit_of_work(ctx) as uow:
        inserted = await table.insert(table(_data=columns)).returning(table._meta.primary_key)
        case_id = int(inserted[0][table._meta.primary_key._meta.name])
        history_id = await _history(
            ctx, process.name, case_id, event, "", initial.value, reason, summary
        )
        done = Done(
            uow, process.name, case_id, event, "", initial.value, 1, history_id, facts, reason
        )
        await _declared(process, done)
        payload = _payload(process.name, case_id, event, "", initial.value, 1, history_id, summary)
        for topic in (f"case:{process.name}:{case_id}", *topics):
            await uow.event(topic, f"{process.name}.{event}", payload)
        bound = _bindings.get(process.name)
        await uow.audit(
            f"{process.name}.{event}",
            process.name,
            case_id,
            detail=await bound.describe(done)
            if bound and bound.describe
            else f"→ {initial.value}" + (f": {reason}" if reason else ""),
            # filed under the case's hospital, like a step without a user
            hospital_id=values.get("hospital"),
        )
    return Applied(case_id, event, "", initial.value, 1, history_id)


async def note(
    uow: UnitOfWork,
    case_type: str,
    case_id: int,
    event: str,
    state: str,
    *,
    from_state: str | None = None,
    reason: str = "",
    summary: dict[str, Any] | None = None,
    topics: Sequence[str] = (),
    payload: dict[str, Any] | None = None,
    audit: str = "",
    detail: str = "",
    hospital_id: int | None = None,
) -> int:
    """A timeline step that is not a transition, in the caller's unit of work: its history
    row (state unchanged unless ``from_state`` says where it came from), a live event
    ``<case_type>.<event>`` on each of ``topics`` (body: ids, the event, ``payload`` and the
    history row's id) and, when ``audit`` names its action, the audit row
    ``<case_type>.<audit>``. Returns the history row's id."""
    history_id = await _history(
        uow.ctx,
        case_type,
        case_id,
        event,
        state if from_state is None else from_state,
        state,
        reason,
        summary,
    )
    body = {"case_type": case_type, "case_id": case_id, "event": event, **(payload or {})}
    body.setdefault("history_id", history_id)
    for topic in topics:
        await uow.event(topic, f"{case_type}.{event}", body)
    if audit:
        action = f"{case_type}.{audit}"
        await uow.audit(action, case_type, case_id, detail=detail, hospital_id=hospital_id)
    return history_id


async def _history(
    ctx: Ctx,
    case_type: str,
    case_id: int,
    event: str,
    from_state: str,
    to_state: str,
    reason: str,
    summary: dict[str, Any] | None,
) -> int:
    actor = ctx.actor
    row = await history_sql.INSERT.one(
        case_type=case_type,
        case_id=case_id,
        actor_id=actor.user_id if actor else None,
        actor_name=actor.username if actor else "system",
        event=event,
        from_state=from_state,
        to_state=to_state,
        reason=reason[:2000],
        summary=msgspec.json.encode(summary or {}).decode(),
        at=now(),
        ip=ctx.ip[:64],
    )
    assert row is not None
    return int(row["id"])


def _payload(
    case_type: str,
    case_id: int,
    event: str,
    source: str,
    dest: str,
    version: int,
    history_id: int,
    summary: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "case_type": case_type,
        "case_id": case_id,
        "event": event,
        "from": source,
        "to": dest,
        "version": version,
        "history_id": history_id,
        **(summary or {}),
    }


def _stale(process: Process[Any], case_id: int, row: dict[str, Any]) -> Conflict:
    return Conflict(
        f"This {process.name} was changed by someone else meanwhile; it is now "
        f"{row['state']}. Reload and try again.",
        extra={"state": row["state"], "version": row["version"]},
    )


async def timeline(case_type: str, case_id: int) -> list[dict[str, Any]]:
    rows = (
        await CaseHistory.select()
        .where(CaseHistory.case_type == case_type, CaseHistory.case_id == case_id)
        .order_by(CaseHistory.id)
    )
    for row in rows:
        row["summary"] = msgspec.json.decode(row["summary"]) if row["summary"] else {}
    return rows
