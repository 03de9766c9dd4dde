"""``event``: the live channel's rows, one per topic of a change (``store.uow``)."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Event

INSERT = Statement(
    Event,
    "INSERT INTO event (topic, type, payload, created_at)"
    " VALUES (:topic, :type, :payload, :created_at) RETURNING id",
    columns=("id", "topic", "type", "payload", "created_at"),
)

STATEMENTS = (INSERT,)
