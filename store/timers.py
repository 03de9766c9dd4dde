"""Timers of a case: at most one pending timer per (case, kind), kept in step with what
it waits for (a lock's expiry, a reminder), written in the caller's transaction. The
scheduled sweep (``flows/timers.py``) fires the due ones."""

from __future__ import annotations

from datetime import datetime

from store.sql import timer as timer_sql


async def keep_timer(case_type: str, case_id: int, kind: str, due: datetime | None) -> None:
    """The case's pending ``kind`` timer now falls due at ``due``; ``None`` cancels it."""
    pending = {"case_type": case_type, "case_id": case_id, "kind": kind, "no": False}
    if due is None:
        await timer_sql.CANCEL.run(yes=True, **pending)
        return
    if await timer_sql.MOVE.one(due_at=due, **pending) is None:
        await timer_sql.INSERT.run(due_at=due, **pending)
