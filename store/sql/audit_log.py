"""Audit rows (``store.uow.write_audit``) as one plain insert, and the signal that a write
changed who an actor is.

``ACTOR_TARGETS``: the audit rows' target types whose change can change what a login
session or an API token acts as — the account (deactivated, frozen, its role, hospital or
department moved), its role's permissions, its hospital (deactivated), the token itself
(revoked). Every such change writes its audit row in the change's transaction, so
``write_audit`` calls the functions of ``ACTOR_WRITES`` with that transaction: a cache of
token → actor answers (``api.tokens.cache``) drops what it holds and holds nothing new until
the transaction has ended.
"""

from __future__ import annotations

from collections.abc import Callable

from store.sql import Statement
from store.tables import AuditLog

COLUMNS = (
    "at",
    "user_id",
    "username",
    "hospital_id",
    "alliance_id",
    "action",
    "target_type",
    "target_id",
    "outcome",
    "ip",
    "user_agent",
    "detail",
)

INSERT = Statement(
    AuditLog,
    f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join(':' + c for c in COLUMNS)})",
    columns=COLUMNS,
)

STATEMENTS = (INSERT,)

ACTOR_TARGETS = frozenset({"user", "role", "hospital", "department", "alliance", "api_token"})

# Called with the open transaction (or None) of an audited write to an ``ACTOR_TARGETS`` row.
ACTOR_WRITES: list[Callable[[object | None], None]] = []
