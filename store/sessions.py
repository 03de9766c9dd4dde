"""The login sessions of both realms: a staff session (``app_session``) and a patient session
(``patient_session``) are rows of the same shape, a token hash with ``last_seen_at``,
``expires_at`` and ``revoked``, and they live by the same rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from piccolo.table import Table

from kernel import security
from store.db import transaction
from store.tables import PatientCode, PatientSession, PatientShareSession, ResetCode, Session
from store.uow import now

TOUCH_EVERY = timedelta(seconds=60)


async def live_session(
    table: Any,
    token: str,
    idle_minutes: int,
    *columns: Any,
    usable: Callable[[dict[str, Any]], bool] = lambda row: True,
) -> dict[str, Any] | None:
    """The row of the live session of ``token`` in ``table`` (its ``id``, ``last_seen_at``,
    ``expires_at``, ``revoked`` and ``columns``), or None: unknown, revoked, past its
    ``expires_at``, idle for more than ``idle_minutes``, or refused by ``usable`` (whose
    account is no longer live). A live session's ``last_seen_at`` is touched at most once a
    minute."""
    if not token:
        return None
    row = (
        await table.select(table.id, table.last_seen_at, table.expires_at, table.revoked, *columns)
        .where(table.token_hash == security.token_hash(token))
        .first()
    )
    if row is None or row["revoked"]:
        return None
    at = now()
    if at >= row["expires_at"] or at - row["last_seen_at"] > timedelta(minutes=idle_minutes):
        return None
    if not usable(row):
        return None
    if at - row["last_seen_at"] > TOUCH_EVERY:
        await table.update({table.last_seen_at: at}).where(table.id == row["id"])
    return row


# What ``purge_ended`` deletes: the rows of sessions and one-time codes that can no longer be
# used (past their expiry, or revoked / used up), once ``KEEP`` has passed since — a day to
# look into a complaint with the row still there; the audit log keeps the logins, codes
# and shares for good.
KEEP = timedelta(days=1)


async def purge_ended(keep: timedelta = KEEP) -> dict[str, int]:
    """Delete ended sessions (staff, patient, share-link) and spent codes (staff reset and
    phone-binding, patient login) older than ``keep``; how many of each table."""
    cutoff = now() - keep
    ended: list[tuple[type[Table], Any]] = [
        (
            table,
            (table.expires_at < cutoff) | (table.revoked.eq(True) & (table.last_seen_at < cutoff)),
        )
        for table in (Session, PatientSession)
    ]
    ended += [
        (table, (table.expires_at < cutoff) | (table.used.eq(True) & (table.created_at < cutoff)))
        for table in (ResetCode, PatientCode)
    ]
    ended.append((PatientShareSession, PatientShareSession.expires_at < cutoff))
    removed: dict[str, int] = {}
    async with transaction():
        for table, condition in ended:
            gone = await table.delete().where(condition).returning(table._meta.primary_key)
            removed[table._meta.tablename] = len(gone)
    return removed
