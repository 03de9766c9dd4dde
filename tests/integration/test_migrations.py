"""The migrations build what store/tables.py declares, and old databases are marked.

- The migrated database (the suite's, through the app's engine) has every table of
  store/tables.py, each column with its type, nullability and default, its foreign key, the
  indexes and unique constraints the columns declare, and nothing the tables do not know: a
  hand-written step that forgets a column or an index fails here (checked on a scratch
  database with a column dropped, one added and an index dropped).
- ``aimis migrate`` on a database that ran the migrations before the baseline (issue 13)
  records the baseline without running it; a database that ran only part of them is refused.
  The old database is made by migrating a scratch database and writing the old chain's ids
  into Piccolo's ``migration`` table instead of the new ones: the old chain built the same
  schema (store/baseline.py).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest
from piccolo.apps.migrations.commands.base import BaseMigrationManager
from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.table import Table

import store.tables
from store.baseline import BASELINE, LAST_OLD_CHAIN_COMMIT, OLD_CHAIN
from store.db import engine, postgres_config
from tests.conftest import PG_ADMIN_URL, ROOT, TEST_DB

pytestmark = pytest.mark.integration

# Piccolo column class: (SQLite declared type, PostgreSQL data_type), as Piccolo creates them.
TYPES: dict[type[Column], tuple[str, str]] = {
    Serial: ("INTEGER", "integer"),
    Integer: ("INTEGER", "integer"),
    ForeignKey: ("INTEGER", "integer"),
    BigInt: ("INTEGER", "bigint"),
    Boolean: ("BOOLEAN", "boolean"),
    Date: ("DATE", "date"),
    Varchar: ("VARCHAR", "character varying"),
    Text: ("TEXT", "text"),
    JSON: ("JSON", "json"),
    Timestamptz: ("TIMESTAMPTZ", "timestamp with time zone"),
}
ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


@dataclass
class Catalogue:
    columns: dict[str, dict[str, tuple[str, int | None, bool, str]]] = field(default_factory=dict)
    foreign_keys: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)
    indexes: set[tuple[str, tuple[str, ...], bool]] = field(default_factory=set)


def default(sql: str | None) -> str:
    """A column default as the catalogue shows it, without PostgreSQL's casts."""
    return re.sub(r"::[a-z ]+$", "", sql or "null").lower()


async def sqlite_catalogue(db: Engine) -> Catalogue:
    def each(pragma: str, columns: str = "p.*", order: str = "") -> str:
        return (
            f"SELECT m.name AS t, {columns} FROM sqlite_master m, {pragma} "
            f"WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite%' {order}"
        )

    cat = Catalogue()
    for r in await db.run_ddl(each("pragma_table_info(m.name) p")):
        kind, _, length = r["type"].partition("(")
        column = (
            kind,
            int(length[:-1]) if length else None,
            not r["notnull"],
            default(r["dflt_value"]),
        )
        cat.columns.setdefault(r["t"], {})[r["name"]] = column
    for r in await db.run_ddl(each("pragma_foreign_key_list(m.name) p")):
        cat.foreign_keys[(r["t"], r["from"])] = (r["table"], r["on_delete"])
    grouped: dict[tuple[str, str, bool], list[str]] = {}
    for r in await db.run_ddl(
        each(
            "pragma_index_list(m.name) l, pragma_index_info(l.name) c",
            'l.name AS i, l."unique" AS u, c.name AS c',
            "ORDER BY m.name, l.name, c.seqno",
        )
    ):
        grouped.setdefault((r["t"], r["i"], bool(r["u"])), []).append(r["c"])
    cat.indexes = {(t, tuple(cols), u) for (t, _, u), cols in grouped.items()}
    return cat


async def postgres_catalogue(db: Engine) -> Catalogue:
    cat = Catalogue()
    for r in await db.run_ddl(
        "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, "
        "column_default FROM information_schema.columns WHERE table_schema = current_schema()"
    ):
        column = (
            r["data_type"],
            r["character_maximum_length"],
            r["is_nullable"] == "YES",
            default(r["column_default"]),
        )
        cat.columns.setdefault(r["table_name"], {})[r["column_name"]] = column
    for r in await db.run_ddl(
        "SELECT t.relname AS t, a.attname AS c, rt.relname AS ref, k.confdeltype::text AS d "
        "FROM pg_constraint k JOIN pg_class t ON t.oid = k.conrelid "
        "JOIN pg_class rt ON rt.oid = k.confrelid "
        "JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1] "
        "WHERE k.contype = 'f' AND t.relnamespace = current_schema()::regnamespace"
    ):
        cat.foreign_keys[(r["t"], r["c"])] = (r["ref"], ON_DELETE[r["d"]])
    for r in await db.run_ddl(
        "SELECT t.relname AS t, x.indisunique AS u, "
        "array_agg(a.attname ORDER BY k.n) AS cols FROM pg_index x "
        "JOIN pg_class t ON t.oid = x.indrelid "
        "CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum "
        "WHERE t.relnamespace = current_schema()::regnamespace GROUP BY t.relname, x.indexrelid"
    ):
        cat.indexes.add((r["t"], tuple(r["cols"]), r["u"]))
    return cat


def tables_of_the_module() -> list[type[Table]]:
    return [
        v
        for v in vars(store.tables).values()
        if isinstance(v, type) and issubclass(v, Table) and v.__module__ == "store.tables"
    ]


def differences(cat: Catalogue, sqlite: bool) -> list[str]:
    """What the catalogue lacks or has beyond store/tables.py, one sentence each."""
    found: list[str] = []
    declared = {table._meta.tablename: table for table in tables_of_the_module()}
    for name in sorted(set(cat.columns) - set(declared) - {"migration"}):
        found.append(f"table {name}: not in store/tables.py")
    for name, table in sorted(declared.items()):
        if name not in cat.columns:
            found.append(f"table {name}: missing")
            continue
        have = cat.columns[name]
        for extra in sorted(set(have) - {c._meta.db_column_name for c in table._meta.columns}):
            found.append(f"{name}.{extra}: not in store/tables.py")
        for column in table._meta.columns:
            found += column_differences(cat, table, column, sqlite)
    return found


def column_differences(
    cat: Catalogue, table: type[Table], column: Column, sqlite: bool
) -> list[str]:
    name, col = table._meta.tablename, column._meta.db_column_name
    where = f"{name}.{col}"
    if col not in cat.columns[name]:
        return [f"{where}: missing"]
    if type(column) not in TYPES:
        return [f"{where}: {type(column).__name__} is not in this test's TYPES"]
    found = []
    kind, length, null, dflt = cat.columns[name][col]
    expected_kind = TYPES[type(column)][0 if sqlite else 1]
    expected_length = getattr(column, "length", None)
    if (kind, length) != (expected_kind, expected_length):
        found.append(f"{where}: type {kind}({length}), not {expected_kind}({expected_length})")
    if null != column._meta.null:
        found.append(f"{where}: nullable {null}, not {column._meta.null}")
    expected_default = default(column.get_sql_value(column.get_default_value()))
    if not isinstance(column, Serial) and dflt != expected_default:
        found.append(f"{where}: default {dflt}, not {expected_default}")
    fk = cat.foreign_keys.get((name, col))
    if isinstance(column, ForeignKey):
        meta = column._foreign_key_meta
        expected_fk = (meta.resolved_references._meta.tablename, meta.on_delete.value)
        if fk != expected_fk:
            found.append(f"{where}: foreign key {fk}, not {expected_fk}")
    elif fk:
        found.append(f"{where}: foreign key {fk}, not declared")
    if column._meta.unique and (name, (col,), True) not in cat.indexes:
        found.append(f"{where}: not unique")
    if column._meta.index and not {(name, (col,), u) for u in (True, False)} & cat.indexes:
        found.append(f"{where}: not indexed")
    return found


async def catalogue(db: Engine) -> Catalogue:
    return await (sqlite_catalogue(db) if isinstance(db, SQLiteEngine) else postgres_catalogue(db))


async def test_the_migrated_database_is_what_the_tables_declare() -> None:
    db = engine()
    cat = await catalogue(db)
    assert sorted(tables_of_the_module(), key=str) == sorted(store.tables.ALL_TABLES, key=str)
    assert differences(cat, isinstance(db, SQLiteEngine)) == []


@dataclass
class Scratch:
    """A database of the suite's kind apart from the suite's, and ``aimis migrate`` on it."""

    env: dict[str, str]
    db: Engine

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", *args],
            cwd=ROOT,
            env={**self.env, "PICCOLO_CONF": "store.piccolo_conf"},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def migrate(self) -> subprocess.CompletedProcess[str]:
        return self.run("aimis.cli", "migrate")

    def migrate_to(self, migration_id: str) -> subprocess.CompletedProcess[str]:
        """Piccolo's own forwards up to ``migration_id``, none of the later steps."""
        return self.run("piccolo.main", "migrations", "forwards", "store", migration_id)

    async def ran(self) -> set[str]:
        rows = await self.db.run_ddl("SELECT name FROM migration WHERE app_name = 'store'")
        return {r["name"] for r in rows}

    async def pretend_ran(self, ids: tuple[str, ...]) -> None:
        await self.db.run_ddl("DELETE FROM migration")
        for mid in ids:
            await self.db.run_ddl(
                f"INSERT INTO migration (name, app_name) VALUES ('{mid}', 'store')"
            )


@pytest.fixture
async def scratch(tmp_path: Path) -> AsyncIterator[Scratch]:
    env = {**os.environ, "AIMIS_DATA_DIR": str(tmp_path)}
    if TEST_DB != "postgres":
        env.pop("AIMIS_DATABASE_URL", None)
        yield Scratch(env, SQLiteEngine(path=str(tmp_path / "aimis.sqlite")))
        return
    name = f"aimis_scratch_{uuid.uuid4().hex[:10]}"
    env["AIMIS_DATABASE_URL"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    admin = await asyncpg.connect(PG_ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Scratch(env, PostgresEngine(config=postgres_config(env["AIMIS_DATABASE_URL"])))
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


async def test_a_forgotten_or_extra_column_is_found(scratch: Scratch) -> None:
    ok(scratch.migrate())
    await scratch.db.run_ddl("ALTER TABLE hospital DROP COLUMN phone")
    await scratch.db.run_ddl("ALTER TABLE alliance ADD COLUMN motto VARCHAR(20)")
    await scratch.db.run_ddl("DROP INDEX outbox_status")
    found = differences(await catalogue(scratch.db), TEST_DB != "postgres")
    assert found == [
        "alliance.motto: not in store/tables.py",
        "hospital.phone: missing",
        "outbox.status: not indexed",
    ]


def migration_ids() -> set[str]:
    return set(BaseMigrationManager().get_migration_modules(str(ROOT / "store" / "migrations")))


async def test_a_new_database_runs_the_baseline(scratch: Scratch) -> None:
    assert "marked" not in ok(scratch.migrate())
    assert await scratch.ran() == migration_ids()


async def test_a_database_of_the_old_chain_is_marked_not_migrated_again(scratch: Scratch) -> None:
    # the schema the old chain ended with: the baseline and the two trigger steps it kept
    ok(scratch.migrate_to(max(set(OLD_CHAIN) & migration_ids())))
    await scratch.pretend_ran(OLD_CHAIN)
    out = ok(scratch.migrate())
    assert f"{BASELINE} marked" in out
    assert await scratch.ran() == {*OLD_CHAIN, *migration_ids()}  # and any later step ran
    assert "marked" not in ok(scratch.migrate())  # once
    assert differences(await catalogue(scratch.db), TEST_DB != "postgres") == []


async def test_a_partly_migrated_old_database_is_refused(scratch: Scratch) -> None:
    ok(scratch.migrate())
    await scratch.pretend_ran(OLD_CHAIN[:10])
    result = scratch.migrate()
    assert result.returncode != 0
    assert "ran only 10 of the 17 migrations that this version's baseline replaces" in result.stderr
    assert f"missing: {OLD_CHAIN[10]}, {OLD_CHAIN[11]}, {OLD_CHAIN[12]} and 4 more" in result.stderr
    assert f"git checkout {LAST_OLD_CHAIN_COMMIT} && uv run aimis migrate" in result.stderr
    assert await scratch.ran() == set(OLD_CHAIN[:10])  # nothing recorded


ATTACHED_BEFORE = "2026-11-28T02:12:36:000000"  # the last step before the table
OLD_ROWS = [
    "INSERT INTO alliance (id, name) VALUES (1, 'a')",
    "INSERT INTO hospital (id, alliance, name, code) VALUES (1, 1, 'h', 'H')",
    "INSERT INTO app_user (id, username, hospital) VALUES (1, 'u', 1)",
    "INSERT INTO consultation (id, hospital, applicant) VALUES (1, 1, 1), (2, 1, 1)",
    "INSERT INTO study (id, hospital, study_key, study_uid) VALUES (1, 1, 'k1', '1'), "
    "(2, 1, 'k2', '2'), (3, 1, 'k3', '3'), (4, 1, 'k4', '4')",
    "UPDATE study SET deleted_at = '2026-12-01 08:00:00+00:00' WHERE id = 4",
    "INSERT INTO examination (id, hospital, study) VALUES (1, 1, 1), (2, 1, 2), (3, 1, 3), "
    "(4, 1, 4)",
]
# (consultation, event, examination, actor): in this order, ids 1..
OLD_STEPS = [
    (1, "exam_attach", 1, 1),
    (1, "exam_attach", 2, 1),
    (1, "exam_attach", 3, 1),
    (1, "exam_detach", 2, 1),
    (1, "exam_attach", 2, 1),  # attached again: last in the room
    (1, "exam_detach", 3, 1),
    (2, "exam_attach", 4, 999),  # by an account that is gone
    (2, "exam_attach", 99, 1),  # an examination that is gone
    (3, "exam_attach", 1, 1),  # a consultation that is gone
]


async def test_the_attached_examinations_are_filled_from_the_timeline(scratch: Scratch) -> None:
    """Migration 2026-12-07T14:00: what the exam_attach / exam_detach steps leave becomes the
    rows of ``consultation_examination``, in order; the examination of a deleted study is
    marked deleted with the study's time."""
    ok(scratch.migrate_to(ATTACHED_BEFORE))
    for sql in OLD_ROWS:
        await scratch.db.run_ddl(sql)
    for n, (case, event, exam, actor) in enumerate(OLD_STEPS, start=1):
        await scratch.db.run_ddl(
            "INSERT INTO case_history (id, case_type, case_id, actor_id, event, from_state, "
            f"to_state, summary) VALUES ({n}, 'consultation', {case}, {actor}, '{event}', "
            f"'reviewing', 'reviewing', '{{\"examination_id\": {exam}}}')"
        )
    ok(scratch.migrate())
    rows = await scratch.db.run_ddl(
        "SELECT consultation, examination, added_by FROM consultation_examination ORDER BY id"
    )
    assert [(r["consultation"], r["examination"], r["added_by"]) for r in rows] == [
        (1, 1, 1),
        (1, 2, 1),
        (2, 4, None),
    ]
    marked = await scratch.db.run_ddl(
        "SELECT e.id FROM examination e JOIN study s ON s.id = e.study "
        "WHERE e.deleted_at IS NOT NULL AND e.deleted_at = s.deleted_at"
    )
    assert [r["id"] for r in marked] == [4]
    assert differences(await catalogue(scratch.db), TEST_DB != "postgres") == []
