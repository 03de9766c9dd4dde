"""Engine choice and transactions.

SQLite write transactions are ``IMMEDIATE`` with a busy timeout so that concurrent writers
queue instead of failing; PostgreSQL uses its default READ COMMITTED with row locks taken
by the ``UPDATE ... WHERE version = ?`` pattern.

Reads outside a transaction on SQLite run on long-lived read-only connections
(``SQLiteReaders``), not on a new connection each: Piccolo's SQLite engine opens one (a
thread, the schema read again) for every statement, a third of a warm ``/rendered``'s time
(py-spy, docs/benchmarks.md). In WAL mode these readers never block the writer nor wait
for it, and each statement sees everything committed before it started. Writes never run
on them (``PRAGMA query_only``), so ``transaction()`` and its writer queue are unchanged.
PostgreSQL already pools.
"""

from __future__ import annotations

import asyncio
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType, dict_factory

from kernel.settings import get_settings


def postgres_config(url: str) -> dict[str, Any]:
    u = urlparse(url)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 5432,
        "user": unquote(u.username or "postgres"),
        "password": unquote(u.password or ""),
        "database": (u.path or "/postgres").lstrip("/") or "postgres",
        # asyncpg prepares every statement; after five runs PostgreSQL may switch to a
        # generic plan, blind to the bound values. For the examination list's keyword
        # search (one patient ID among a million rows) the generic plan was a sequential
        # scan, 600 ms instead of 0.5 ms (bench/exam_list.py): plan with the values, always.
        "server_settings": {"plan_cache_mode": "force_custom_plan"},
    }


class SQLiteReaders:
    """Idle read-only connections per database file, shared by every thread and event loop
    of the process. A read takes one (or opens one when all are busy), runs in a worker
    thread and gives it back; at most ``keep`` stay open. A forked child opens its own."""

    def __init__(self, keep: int = 4) -> None:
        self.keep = keep
        self._idle: dict[str, list[sqlite3.Connection]] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def _take(self, kwargs: dict[str, Any]) -> sqlite3.Connection:
        with self._lock:
            if self._pid != os.getpid():  # never share a connection across a fork
                self._idle, self._pid = {}, os.getpid()
            idle = self._idle.get(kwargs["database"])
            if idle:
                return idle.pop()
        conn = sqlite3.connect(**kwargs, check_same_thread=False)
        conn.row_factory = dict_factory
        conn.execute("PRAGMA query_only = 1")
        return conn

    def _give(self, path: str, conn: sqlite3.Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(path, [])
            if self._pid == os.getpid() and len(idle) < self.keep:
                idle.append(conn)
                return
        conn.close()

    def run(self, kwargs: dict[str, Any], query: str, args: list[Any]) -> list[dict[str, Any]]:
        """One read statement (blocking: call it in a worker thread)."""
        conn = self._take(kwargs)
        try:
            rows = conn.execute(query, args).fetchall()
        except BaseException:
            conn.close()
            raise
        self._give(kwargs["database"], conn)
        return rows

    def close(self) -> None:
        with self._lock:
            idle = [c for conns in self._idle.values() for c in conns]
            self._idle = {}
        for conn in idle:
            conn.close()


def is_read(query: str) -> bool:
    return query.lstrip()[:6].upper() == "SELECT"


class PooledSQLiteEngine(SQLiteEngine):
    """Piccolo's SQLite engine with reads outside a transaction on ``SQLiteReaders``."""

    readers = SQLiteReaders()

    async def _run_in_new_connection(
        self,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        if query_type != "insert" and is_read(query):
            return await asyncio.to_thread(
                self.readers.run, self.connection_kwargs, query, list(args or [])
            )
        return await super()._run_in_new_connection(query, args, query_type, table)

    async def _run_in_existing_connection(
        self,
        connection: Any,
        query: str,
        args: list[Any] | None = None,
        query_type: str = "generic",
        table: Any = None,
    ) -> Any:
        """A statement inside a transaction, in one trip to the connection's thread.

        Piccolo's version first runs ``PRAGMA foreign_keys = 1`` again before every
        statement: a second trip each, though ``get_connection`` (the only source of a
        transaction's connection) already set it and its row factory. Under load every trip
        waits for both threads to be scheduled (docs/benchmarks.md, C-STORE)."""
        if query_type == "insert" and self.get_version_sync() < 3.35:  # no RETURNING
            return await super()._run_in_existing_connection(
                connection, query, args, query_type, table
            )
        # execute and fetch in one trip (``execute`` + ``fetchall`` + the cursor's close
        # were three)
        return await connection.execute_fetchall(query, args or [])


def make_engine() -> Engine:
    settings = get_settings()
    if settings.is_postgres:
        return PostgresEngine(config=postgres_config(settings.database.url))
    return PooledSQLiteEngine(path=str(settings.sqlite_path), timeout=30)


# The one engine of this process, built from the settings without touching the database
# (no connection, no file): every table of ``store.tables`` is bound to it, and Piccolo's
# migration commands find it through ``store.piccolo_conf``.
ENGINE = make_engine()


def engine() -> Engine:
    return ENGINE


_writers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _writer_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _writers.get(loop)
    if lock is None:
        lock = _writers[loop] = asyncio.Lock()
    return lock


@asynccontextmanager
async def transaction() -> AsyncIterator[None]:
    """One write transaction; nested calls join the outer one.

    SQLite has one writer at a time. Left to SQLite's busy handler, fifty waiting writers
    retry on timers and some starve past the busy timeout (measured in
    bench/transition_latency.py: 39 of 1,000 writes failed, p99 28 s), so the writers of this
    process queue first-come first-served on a lock and meet SQLite's lock one at a time.
    """
    db = engine()
    if isinstance(db, SQLiteEngine):
        if db.current_transaction.get() is not None:
            async with db.transaction(transaction_type=TransactionType.immediate):
                yield
            return
        async with (
            _writer_lock(),
            db.transaction(transaction_type=TransactionType.immediate),
        ):
            yield
    else:
        async with db.transaction():
            yield


async def use_write_ahead_log() -> None:
    """SQLite in WAL mode: readers never wait for the writer, nor the writer for readers.
    The mode is stored in the database file, so setting it once (at migrate) is enough."""
    db = engine()
    if isinstance(db, SQLiteEngine):
        await db.run_ddl("PRAGMA journal_mode=WAL")


async def start_pool() -> None:
    db = engine()
    if isinstance(db, PostgresEngine):
        await db.start_connection_pool(min_size=1, max_size=20)


async def close_pool() -> None:
    db = engine()
    if isinstance(db, PostgresEngine):
        await db.close_connection_pool()
    elif isinstance(db, PooledSQLiteEngine):
        db.readers.close()


def ddl(sql: str) -> Callable[[], Awaitable[None]]:
    """A raw-SQL step for ``MigrationManager.add_raw`` (what Piccolo cannot declare: composite
    or unique indexes added to existing tables), run on the migrating engine."""

    async def run() -> None:
        await engine().run_ddl(sql)

    return run


def ddl_script(script: str) -> Callable[[], Awaitable[None]]:
    """A raw step of several statements written as PostgreSQL spells them (``;`` ends each,
    ``--`` lines are comments), for ``MigrationManager.add_raw``: on SQLite ``SERIAL`` and
    ``BIGINT`` are ``INTEGER``, as Piccolo spells them there (see the baseline step)."""

    async def run() -> None:
        db = engine()
        text = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
        if isinstance(db, SQLiteEngine):
            text = re.sub(r"\b(SERIAL|BIGINT)\b", "INTEGER", text)
        for sql in text.split(";\n"):
            if sql.strip():
                await db.run_ddl(sql.strip())

    return run
