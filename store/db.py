"""Engine choice and transactions.

SQLite write transactions are ``IMMEDIATE`` with a busy timeout so that concurrent writers
queue instead of failing; PostgreSQL uses its default READ COMMITTED with row locks taken
by the ``UPDATE ... WHERE version = ?`` pattern.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import unquote, urlparse

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from aimis.settings import get_settings
from store.tables import ALL_TABLES


def postgres_config(url: str) -> dict[str, Any]:
    u = urlparse(url)
    return {
        "host": u.hostname or "127.0.0.1",
        "port": u.port or 5432,
        "user": unquote(u.username or "postgres"),
        "password": unquote(u.password or ""),
        "database": (u.path or "/postgres").lstrip("/") or "postgres",
    }


def make_engine() -> Engine:
    settings = get_settings()
    if settings.is_postgres:
        return PostgresEngine(config=postgres_config(settings.database_url))
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteEngine(path=str(settings.sqlite_path), timeout=30)


def engine() -> Engine:
    return ALL_TABLES[0]._meta.db


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


def ddl(sql: str) -> Callable[[], Awaitable[None]]:
    """A raw-SQL step for ``MigrationManager.add_raw`` (what Piccolo cannot declare: composite
    or unique indexes added to existing tables), run on the migrating engine."""

    async def run() -> None:
        await engine().run_ddl(sql)

    return run
