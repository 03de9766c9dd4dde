"""Plain parameterised SQL for the hot paths (issue 18, point 2), kept in one module per
table under this package, each statement declared once at import.

Piccolo builds and compiles a query object on every call (``querystrings`` alone was ~2 ms
of a C-STORE's 12.6 ms, docs/benchmarks.md). A ``Statement`` is written once, with
``:name`` placeholders, and rendered at import for both dialects (SQLite ``?``, PostgreSQL
``$n``); a call binds the values and runs the text on the connection of the current
transaction (``store.db.transaction()``), or, for a read outside one, on SQLite's pooled
read-only connections or PostgreSQL's pool. asyncpg keeps each text prepared on its
connection; SQLite's ``sqlite3`` keeps a statement cache per connection.

Each statement names the table it belongs to and the columns it touches, and
``check(statement)`` compares those against the Piccolo table's definition (the test of
every module under this package does), so a renamed or dropped column fails a unit test, not
a request.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

from store.db import PooledSQLiteEngine, engine

_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
_IDENT = re.compile(r"[a-z_][a-z0-9_]*")


@dataclass(frozen=True)
class Statement:
    """One SQL statement of ``table``.

    ``columns``: every column of ``table`` the text names (checked by ``check``).
    ``sqlite`` / ``postgres``: the text as written, a dialect's own spelling where they
    differ (e.g. ``ON CONFLICT`` targets, casts); ``postgres`` defaults to ``sqlite``.
    """

    table: type[Table]
    sqlite: str
    columns: Sequence[str] = ()
    postgres: str = ""
    names: tuple[str, ...] = field(init=False)
    _pg_names: tuple[str, ...] = field(init=False, repr=False)
    _lite: str = field(init=False, repr=False)
    _pg: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        names = tuple(_PARAM.findall(self.sqlite))
        pg_text = self.postgres or self.sqlite
        if self.postgres and tuple(_PARAM.findall(pg_text)) != names:
            raise ValueError(f"{self.table._meta.tablename}: the two texts bind different values")
        order: dict[str, int] = {}
        for name in names:
            order.setdefault(name, len(order) + 1)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_lite", _PARAM.sub("?", self.sqlite))
        object.__setattr__(self, "_pg", _PARAM.sub(lambda m: f"${order[m.group(1)]}", pg_text))
        object.__setattr__(self, "_pg_names", tuple(order))

    def text_for(self, dialect: str) -> str:
        return self._pg if dialect == "postgres" else self._lite

    def args_for(self, dialect: str, values: Mapping[str, Any]) -> list[Any]:
        missing = [n for n in self.names if n not in values]
        if missing:
            raise TypeError(f"{self.table._meta.tablename}: no value for {', '.join(missing)}")
        names = self._pg_names if dialect == "postgres" else self.names
        return [values[n] for n in names]

    @property
    def is_read(self) -> bool:
        return (
            self.sqlite.lstrip()[:6].upper() == "SELECT"
            or self.sqlite.lstrip()[:5].upper() == "WITH "
        )

    async def fetch(self, **values: Any) -> list[dict[str, Any]]:
        """The rows (as dicts) the statement returns; ``[]`` for one that returns none."""
        db = engine()
        tx = db.current_transaction.get()
        if isinstance(db, SQLiteEngine):
            args = self.args_for("sqlite", values)
            if tx is not None:  # one trip to the connection's thread, not three
                return list(await tx.connection.execute_fetchall(self._lite, args))
            if not self.is_read:
                raise RuntimeError("a write statement runs inside store.db.transaction()")
            if isinstance(db, PooledSQLiteEngine):
                return await asyncio.to_thread(
                    db.readers.run, db.connection_kwargs, self._lite, args
                )
            return list(await db._run_in_new_connection(self._lite, args))
        args = self.args_for("postgres", values)
        if tx is not None:
            rows = await tx.connection.fetch(self._pg, *args)
        elif not self.is_read:
            raise RuntimeError("a write statement runs inside store.db.transaction()")
        elif db.pool is not None:  # type: ignore[attr-defined]
            async with db.pool.acquire() as conn:  # type: ignore[attr-defined]
                rows = await conn.fetch(self._pg, *args)
        else:
            conn = await db.get_new_connection()  # type: ignore[attr-defined]
            try:
                rows = await conn.fetch(self._pg, *args)
            finally:
                await conn.close()
        return [dict(r) for r in rows]

    async def one(self, **values: Any) -> dict[str, Any] | None:
        rows = await self.fetch(**values)
        return rows[0] if rows else None

    async def run(self, **values: Any) -> None:
        await self.fetch(**values)


def check(statement: Statement) -> list[str]:
    """What is wrong with a statement against its table's definition ([] when nothing):
    a declared column the table lacks, or an identifier in the text that looks like a
    column of the table (``table.column`` or a column list) but is not declared."""
    meta = statement.table._meta
    known = {c._meta.db_column_name for c in meta.columns}
    problems = [
        f"{meta.tablename}.{c}: no such column" for c in statement.columns if c not in known
    ]
    for text in (statement.sqlite, statement.postgres):
        for qualified in re.findall(rf"\b{meta.tablename}\.([a-z_][a-z0-9_]*)", text):
            if qualified not in known:
                problems.append(f"{meta.tablename}.{qualified}: no such column")
            elif qualified not in statement.columns:
                problems.append(f"{meta.tablename}.{qualified}: used but not declared")
    if meta.tablename not in _IDENT.findall(statement.sqlite.lower()):
        problems.append(f"{meta.tablename}: the text does not name its table")
    return problems
