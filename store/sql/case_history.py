"""``case_history``: the timeline row every step of a process writes (``store.engine``)."""

from __future__ import annotations

from store.sql import Statement
from store.tables import CaseHistory

INSERT = Statement(
    CaseHistory,
    "INSERT INTO case_history (case_type, case_id, actor_id, actor_name, event, from_state,"
    " to_state, reason, summary, at, ip)"
    " VALUES (:case_type, :case_id, :actor_id, :actor_name, :event, :from_state, :to_state,"
    " :reason, :summary, :at, :ip) RETURNING id",
    columns=(
        "id",
        "case_type",
        "case_id",
        "actor_id",
        "actor_name",
        "event",
        "from_state",
        "to_state",
        "reason",
        "summary",
        "at",
        "ip",
    ),
)

STATEMENTS = (INSERT,)
