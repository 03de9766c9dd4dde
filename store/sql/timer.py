"""``timer``: a case's pending due time per kind, kept in the caller's transaction
(``store.timers.keep_timer``)."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Timer

_PENDING = (
    "timer.case_type = :case_type AND timer.case_id = :case_id AND timer.kind = :kind"
    " AND timer.fired_at IS NULL AND timer.cancelled = :no"
)
_COLUMNS = ("case_type", "case_id", "kind", "fired_at", "cancelled")

CANCEL = Statement(
    Timer,
    f"UPDATE timer SET cancelled = :yes WHERE {_PENDING}",
    columns=_COLUMNS,
)
MOVE = Statement(
    Timer,
    f"UPDATE timer SET due_at = :due_at WHERE {_PENDING} RETURNING id",
    columns=(*_COLUMNS, "id", "due_at"),
)
INSERT = Statement(
    Timer,
    "INSERT INTO timer (case_type, case_id, kind, due_at, fired_at, cancelled)"
    " VALUES (:case_type, :case_id, :kind, :due_at, NULL, :no)",
    columns=("case_type", "case_id", "kind", "due_at", "fired_at", "cancelled"),
)

STATEMENTS = (CANCEL, MOVE, INSERT)
