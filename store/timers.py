"""Timers of a case: at most one pending timer per (case, kind), kept in step with what
it waits for (a lock's expiry, a reminder), written in the caller's transaction. The
scheduled sweep (``flows/timers.py``) fires the due ones."""

from __future__ import annotations

from datetime import datetime

from store.tables import Timer


def _pending(case_type: str, case_id: int, kind: str) -> tuple:
    return (
        Timer.case_type == case_type,
        Timer.case_id == case_id,
        Timer.kind == kind,
        Timer.fired_at.is_null(),
        Timer.cancelled == False,  # noqa: E712
    )


async def keep_timer(case_type: str, case_id: int, kind: str, due: datetime | None) -> None:
    """The case's pending ``kind`` timer now falls due at ``due``; ``None`` cancels it."""
    pending = _pending(case_type, case_id, kind)
    if due is None:
        await Timer.update({Timer.cancelled: True}).where(*pending)
        return
    moved = await Timer.update({Timer.due_at: due}).where(*pending).returning(Timer.id)
    if not moved:
        await Timer.insert(Timer(case_type=case_type, case_id=case_id, kind=kind, due_at=due))
