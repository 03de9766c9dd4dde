"""The SQL Piccolo writes for a table or a column, on SQLite and on PostgreSQL: the text a
hand-written migration step freezes (store/README.md "Changing the schema").

    uv run python -m store.ddl Examination               # CREATE TABLE and its indexes
    uv run python -m store.ddl Examination.shared_with   # ALTER TABLE ADD COLUMN (+ index)

No database is needed: while the text is written the tables are bound to an unconnected
engine of each kind, then given their own back.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from piccolo.columns import Column
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.query.methods.create_index import CreateIndex
from piccolo.table import Table

from store.tables import ALL_TABLES


def engines() -> dict[str, Engine]:
    return {"sqlite": SQLiteEngine(path=":memory:"), "postgres": PostgresEngine(config={})}


@contextmanager
def bound_to(engine: Engine) -> Iterator[None]:
    saved = [table._meta._db for table in ALL_TABLES]
    for table in ALL_TABLES:
        table._meta.db = engine
    try:
        yield
    finally:
        for table, db in zip(ALL_TABLES, saved, strict=True):
            table._meta._db = db


def index(table: type[Table], column: Column) -> list[str]:
    return list(CreateIndex(table=table, columns=[column]).ddl) if column._meta.index else []


def create_table(table: type[Table]) -> list[str]:
    """``CREATE TABLE`` with one column a line, then the indexes of its ``index=True`` columns."""
    columns = ",\n".join(f"    {column.ddl}" for column in table._meta.columns)
    statements = [f"CREATE TABLE {table._meta.get_formatted_tablename()} (\n{columns}\n)"]
    return statements + [sql for column in table._meta.columns for sql in index(table, column)]


def add_column(table: type[Table], column: Column) -> list[str]:
    name = table._meta.get_formatted_tablename()
    return [f"ALTER TABLE {name} ADD COLUMN {column.ddl}", *index(table, column)]


def ddl(target: str) -> dict[str, list[str]]:
    """The statements for ``Table`` or ``Table.column``, per engine kind."""
    table_name, _, column_name = target.partition(".")
    tables = {table.__name__: table for table in ALL_TABLES}
    if table_name not in tables:
        raise SystemExit(f"no table {table_name!r} in store/tables.py ALL_TABLES")
    table = tables[table_name]
    names = {column._meta.name: column for column in table._meta.columns}
    if column_name and column_name not in names:
        raise SystemExit(f"no column {column_name!r} in {table_name}")
    column = names[column_name] if column_name else None
    out = {}
    for kind, engine in engines().items():
        with bound_to(engine):
            out[kind] = add_column(table, column) if column else create_table(table)
    return out


def main(targets: list[str]) -> None:
    for target in targets:
        for kind, statements in ddl(target).items():
            print(f"-- {target} on {kind}")
            print("".join(f"{sql};\n" for sql in statements))


if __name__ == "__main__":
    main(sys.argv[1:] or [table.__name__ for table in ALL_TABLES])
