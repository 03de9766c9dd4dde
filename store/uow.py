"""Unit of work: one write transaction holding the change, its audit row, its live events
and its outbox rows; events are published only after the commit.

Every service that changes state or reads patient data goes through ``unit_of_work`` so the
audit row can never be missing from a committed change (SPEC 8.10, 1.7).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableSet
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

import msgspec

from store.db import engine, transaction
from store.sql import audit_log
from store.sql import event as event_sql
from store.sql import outbox as outbox_sql
from store.tables import User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """The authenticated user a request acts for."""

    user_id: int
    username: str
    kind: str
    alliance_id: int | None
    hospital_id: int | None
    department_id: int | None
    permissions: frozenset[str]
    session_id: int
    realm: str

    @property
    def is_admin(self) -> bool:
        return self.kind in ("alliance_admin", "hospital_admin")


def actor_columns(user: Any = User) -> tuple[Any, ...]:
    """The columns ``actor_from_row`` reads, on ``user``: ``User`` itself, or a foreign key to
    it (``Session.user``, ``ApiToken.user``) whose columns come back as ``"user.<name>"``."""
    return (
        user.id,
        user.username,
        user.kind,
        user.alliance,
        user.hospital,
        user.department,
        user.role.permissions,
    )


_live_columns: dict[tuple[str, str], tuple[Any, ...]] = {}


def live_actor_columns(user: Any) -> tuple[Any, ...]:
    """``actor_columns`` through the foreign key ``user`` of a login session or an API token,
    with what says whether the account and its hospital are live (``user.active``,
    ``user.frozen``, ``user.hospital.active``), checked on every use.

    Built once per foreign key: every attribute step through a Piccolo foreign key copies
    columns (``ForeignKey.__getattribute__`` was a quarter of a warm ``/rendered``'s time,
    py-spy, issue 18), and these are read on every request that carries a session or token."""
    key = (user._meta.table._meta.tablename, user._meta.name)
    columns = _live_columns.get(key)
    if columns is None:
        columns = _live_columns[key] = (
            user.active,
            user.frozen,
            user.hospital.active,
            *actor_columns(user),
        )
    return columns


def actor_from_row(
    row: dict[str, Any], *, prefix: str = "", session_id: int = 0, realm: str = "app"
) -> Actor:
    """The Actor of a row selected with ``actor_columns`` (``prefix``: ``"user."`` when they
    were selected through a foreign key); its permissions are its role's."""
    perms = row[f"{prefix}role.permissions"]
    return Actor(
        user_id=row[f"{prefix}id"],
        username=row[f"{prefix}username"],
        kind=row[f"{prefix}kind"],
        alliance_id=row[f"{prefix}alliance"],
        hospital_id=row[f"{prefix}hospital"],
        department_id=row[f"{prefix}department"],
        permissions=frozenset(msgspec.json.decode(perms) if perms else []),
        session_id=session_id,
        realm=realm,
    )


async def actor_for(user: int | str, *, realm: str = "app") -> Actor:
    """The Actor of an account (by id or user name) acting without a login session: the
    demo's steps, benchmarks. Logins build theirs from the session (api.accounts)."""
    key = User.id == user if isinstance(user, int) else User.username == user
    row = await User.select(*actor_columns()).where(key).first()
    if row is None:
        raise LookupError(f"no account {user!r}")
    return actor_from_row(row, realm=realm)


@dataclass(frozen=True)
class Ctx:
    """Who acts, and from where: everything an audit row needs."""

    actor: Actor | None = None
    ip: str = ""
    user_agent: str = ""


class LiveEvent(msgspec.Struct, frozen=True):
    """One message on the live channel. ``id`` increases monotonically across all topics."""

    id: int
    topic: str
    type: str
    payload: dict[str, Any]
    at: str


Publisher = Callable[[list[LiveEvent]], Awaitable[None]]


async def _no_publisher(events: list[LiveEvent]) -> None:
    return None


_publisher: list[Publisher] = [_no_publisher]
_local_ids: list[MutableSet[int] | None] = [None]


def set_publisher(publisher: Publisher) -> None:
    """Wired by the composition root: the live channel's publish function."""
    _publisher[0] = publisher


def track_local_events(ids: MutableSet[int] | None) -> None:
    """Keep the ids of the events this process writes (and so publishes itself after the
    commit) in ``ids``: a tail of the event table then publishes only the others' events.
    Ids are added at the insert, before the commit, and removed again on a rollback."""
    _local_ids[0] = ids


def now() -> datetime:
    return datetime.now(UTC)


class AuditFields(TypedDict, total=False):
    """The optional fields of an audit row (``write_audit``; defaults: success, no detail,
    the actor's hospital and account)."""

    outcome: str
    detail: str
    hospital_id: int | None
    user_id: int | None
    username: str


@dataclass
class UnitOfWork:
    ctx: Ctx
    events: list[LiveEvent] = field(default_factory=list)

    async def audit(
        self,
        action: str,
        target_type: str = "",
        target_id: object = "",
        **fields: Unpack[AuditFields],
    ) -> None:
        await write_audit(self.ctx, action, target_type, target_id, **fields)

    async def event(self, topic: str, type_: str, payload: dict[str, Any]) -> int:
        at = now()
        row = await event_sql.INSERT.one(
            topic=topic, type=type_, payload=_json(payload), created_at=at
        )
        assert row is not None
        event_id = int(row["id"])
        if _local_ids[0] is not None:
            _local_ids[0].add(event_id)
        self.events.append(LiveEvent(event_id, topic, type_, payload, at.isoformat()))
        return event_id

    async def outbox(
        self, kind: str, payload: dict[str, Any], key: str, delay_seconds: float = 0
    ) -> None:
        """Queue a side effect; ``key`` makes the same effect queued twice a no-op."""
        at = now()
        await outbox_sql.QUEUE.run(
            kind=kind,
            payload=_json(payload),
            key=key,
            next_at=at + timedelta(seconds=delay_seconds),
            created_at=at,
        )


def _json(value: Any) -> str:
    return _encode(value).decode()


_encode = msgspec.json.Encoder().encode


async def write_audit(
    ctx: Ctx,
    action: str,
    target_type: str = "",
    target_id: object = "",
    *,
    outcome: str = "success",
    detail: str = "",
    hospital_id: int | None = None,
    user_id: int | None = None,
    username: str = "",
) -> None:
    """One audit row, in the current transaction (in one of its own outside any), as one
    plain insert (``store.sql.audit_log``). A row about an account, role, hospital or token
    tells the token → actor caches (``audit_log.ACTOR_WRITES``)."""
    actor = ctx.actor
    values = {
        "at": now(),
        "user_id": user_id if user_id is not None else (actor.user_id if actor else None),
        "username": username or (actor.username if actor else ""),
        "hospital_id": hospital_id
        if hospital_id is not None
        else (actor.hospital_id if actor else None),
        "alliance_id": actor.alliance_id if actor else None,
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id) if target_id != "" else "",
        "outcome": outcome,
        "ip": ctx.ip[:64],
        "user_agent": ctx.user_agent[:300],
        "detail": detail[:2000],
    }
    open_tx = engine().current_transaction.get()
    if target_type in audit_log.ACTOR_TARGETS:
        for changed in audit_log.ACTOR_WRITES:
            changed(open_tx)
    if open_tx is not None:
        await audit_log.INSERT.run(**values)
        return
    async with transaction():
        await audit_log.INSERT.run(**values)


@asynccontextmanager
async def unit_of_work(ctx: Ctx) -> AsyncIterator[UnitOfWork]:
    uow = UnitOfWork(ctx)
    try:
        async with transaction():
            yield uow
    except BaseException:
        if _local_ids[0] is not None:  # rolled back: an id SQLite may hand out again
            _local_ids[0] -= {e.id for e in uow.events}
        raise
    if uow.events:
        try:
            await _publisher[0](uow.events)
        except Exception:  # the change is committed; clients catch up from the event table
            log.exception("live publish failed after commit")


async def audit_refusal(ctx: Ctx, action: str, detail: str, outcome: str = "denied") -> None:
    """Record a refused request in its own transaction (the refused change rolled back)."""
    async with transaction():
        await write_audit(ctx, action, outcome=outcome, detail=detail)
