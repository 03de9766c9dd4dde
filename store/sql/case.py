"""The case rows of the processes (every table with ``state`` and ``version``): what
``store.engine.apply`` reads and writes of them, one pair of statements per table, built
here at import from the table's definition (the same text for each, only the names change).

- ``current``: the state, version (and hospital, where the case has one) of a case.
- ``step``: the conditional ``UPDATE ... WHERE version = :version``: of concurrent steps on
  one case exactly one changes the row (it returns the id), the others nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from piccolo.table import Table

from store.sql import Statement
from store.tables import ALL_TABLES


@dataclass(frozen=True)
class CaseStatements:
    current: Statement
    step: Statement
    has_hospital: bool


def _statements(table: type[Table]) -> CaseStatements:
    meta = table._meta
    name, key = meta.tablename, meta.primary_key._meta.db_column_name
    has_hospital = any(c._meta.db_column_name == "hospital" for c in meta.columns)
    read = [key, "state", "version", *(["hospital"] if has_hospital else [])]
    current = Statement(
        table,
        f"SELECT {', '.join(f'{name}.{c}' for c in read)} FROM {name}"
        f" WHERE {name}.{key} = :case_id",
        columns=tuple(read),
    )
    step = Statement(
        table,
        f"UPDATE {name} SET state = :state, version = {name}.version + 1"
        f" WHERE {name}.{key} = :case_id AND {name}.version = :version RETURNING {name}.{key}",
        columns=(key, "state", "version"),
    )
    return CaseStatements(current, step, has_hospital)


def _is_case(table: type[Table]) -> bool:
    names = {c._meta.db_column_name for c in table._meta.columns}
    return {"state", "version"} <= names


CASES: dict[type[Table], CaseStatements] = {t: _statements(t) for t in ALL_TABLES if _is_case(t)}

STATEMENTS = tuple(s for c in CASES.values() for s in (c.current, c.step))


def of(table: type[Table]) -> CaseStatements:
    """The statements of a case table (a table without ``state`` and ``version`` is none)."""
    try:
        return CASES[table]
    except KeyError:
        raise LookupError(f"{table._meta.tablename} is not a case table") from None
