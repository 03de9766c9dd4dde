"""``outbox``: side effects queued in the transaction of the change (``store.uow``).

``QUEUE`` is one statement where the ORM took two (a select of the key, then the insert):
the unique ``idempotency_key`` makes the same effect queued twice a no-op, also when two
transactions queue it at once (PostgreSQL waits for the first and skips; SQLite has one
writer)."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Outbox

QUEUE = Statement(
    Outbox,
    "INSERT INTO outbox (kind, payload, idempotency_key, status, attempts, next_at, created_at,"
    " done_at, error, flow_run_id)"
    " VALUES (:kind, :payload, :key, 'pending', 0, :next_at, :created_at, NULL, '', '')"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
    columns=(
        "id",
        "kind",
        "payload",
        "idempotency_key",
        "status",
        "attempts",
        "next_at",
        "created_at",
        "done_at",
        "error",
        "flow_run_id",
    ),
)

STATEMENTS = (QUEUE,)
