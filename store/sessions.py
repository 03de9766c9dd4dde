"""The login sessions of both realms: a staff session (``app_session``) and a patient session
(``patient_session``) are rows of the same shape, a token hash with ``last_seen_at``,
``expires_at`` and ``revoked``, and they live by the same rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from kernel import security
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
