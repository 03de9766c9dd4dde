"""A short cache of bearer token → live token row (issue 18): a DICOMweb client sends its
token with every frame, and reading the token, its account, hospital and role again for each
was a large part of a warm ``/rendered``'s time (docs/benchmarks.md).

What is kept: the row of a token that was live when read (``api.tokens.service._refusal``
found nothing wrong), keyed by the token's hash, for ``TTL_SECONDS``. Refused tokens are
never kept: they are read again on every request. Each use still checks the row's expiry
against the clock, so an expired token stops at its second.

How a change stops a token:
- in this process, at once: every write that can change what a token acts as (revoking the
  token; deactivating, freezing or moving its account, changing the account's role or the
  role's permissions, deactivating the hospital) writes an audit row about a ``user``,
  ``role``, ``hospital``, ``department``, ``alliance`` or ``api_token`` in its transaction
  (``store.sql.audit_log.ACTOR_TARGETS``); ``write_audit`` tells ``changed``, which drops
  every entry and keeps nothing new until that transaction has committed or rolled back (a
  row read meanwhile may still be the old one). The next request reads the database.
- in another process (another web worker, the CLI): at most ``TTL_SECONDS`` later, when the
  entry it holds runs out.
"""

from __future__ import annotations

import time
from typing import Any

from store.sql import audit_log

TTL_SECONDS = 2.0
MAX_ENTRIES = 10_000
# A transaction that neither committed nor rolled back after this long (a commit that
# raised) no longer holds the cache off.
PENDING_LIMIT_SECONDS = 30.0


class TokenCache:
    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._rows: dict[str, tuple[float, int, dict[str, Any]]] = {}
        self._generation = 0
        self._pending: list[tuple[float, object]] = []

    @property
    def generation(self) -> int:
        """Taken before a read of the database; ``put`` keeps the row only if no change was
        written since."""
        self._settle()
        return self._generation

    def _settle(self) -> None:
        if not self._pending:
            return
        at = time.monotonic()
        still = [
            (since, tx)
            for since, tx in self._pending
            if at - since < PENDING_LIMIT_SECONDS and not _ended(tx)
        ]
        if len(still) != len(self._pending):
            # a change became visible (or was rolled back): what was read while it was open
            # may be the old state
            self._generation += 1
            self._rows.clear()
        self._pending = still

    def get(self, token_hash: str) -> dict[str, Any] | None:
        self._settle()
        found = self._rows.get(token_hash)
        if found is None:
            return None
        at, generation, row = found
        if generation != self._generation or time.monotonic() - at > self.ttl:
            self._rows.pop(token_hash, None)
            return None
        return row

    def put(self, token_hash: str, row: dict[str, Any], generation: int) -> None:
        self._settle()
        if generation != self._generation or self._pending:
            return
        if len(self._rows) >= MAX_ENTRIES:
            self._rows.clear()
        self._rows[token_hash] = (time.monotonic(), generation, row)

    def touched(self, token_hash: str, last_used_at: Any) -> None:
        found = self._rows.get(token_hash)
        if found is not None:
            self._rows[token_hash] = (
                found[0],
                found[1],
                {**found[2], "last_used_at": last_used_at},
            )

    def changed(self, transaction: object | None) -> None:
        """A write that may change a token's actor is under way in ``transaction`` (None:
        already committed)."""
        self._generation += 1
        self._rows.clear()
        if transaction is not None:
            self._pending.append((time.monotonic(), transaction))

    def clear(self) -> None:
        self._generation += 1
        self._rows.clear()


def _ended(transaction: object) -> bool:
    """Has the transaction committed or rolled back? (Piccolo's SQLite and PostgreSQL
    transactions both say so; one that cannot tell counts as open until the limit.)"""
    return bool(
        getattr(transaction, "_committed", False) or getattr(transaction, "_rolled_back", False)
    )


TOKENS = TokenCache()
audit_log.ACTOR_WRITES.append(TOKENS.changed)
