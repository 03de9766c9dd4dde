"""QIDO-RS searches (PS3.18 10.6): one SELECT on the index per request, scoped by
``store.scoping.visible_images`` (the hospital's studies and those shared with it for
remote diagnosis), or one study for a ``StudyScope`` (``access.images``); soft-deleted
studies and superseded instances never match.

Matching is written as SQL that uses the index: PatientName wildcards with a literal prefix
add a range on the upper-case ``patient_name_search`` column (a B-tree range works on
SQLite and on PostgreSQL whatever the collation, LIKE prefixes do not); dates are string
ranges on YYYYMMDD; ModalitiesInStudy matches one code of the backslash-separated list.
Filters on a higher level (study attributes in a series search) are ``IN (SELECT id ...)``
subqueries on that level's table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from piccolo.columns.combination import WhereRaw
from piccolo.table import Table

from api.dicomweb.access import Reader, images
from api.dicomweb.attributes import (
    ATTRS_BY_LEVEL,
    INSTANCE_AVAILABILITY,
    LEVELS_UP_TO,
    RETRIEVE_URL,
    Attr,
    Level,
    Match,
    to_json,
)
from api.dicomweb.params import DateRange, QidoQuery, Text, Value
from store.tables import Instance, Series, Study

TABLES: dict[Level, type[Table]] = {
    Level.STUDY: Study,
    Level.SERIES: Series,
    Level.INSTANCE: Instance,
}
ARCHIVED_TIERS = ("archive", "restoring")


@dataclass(frozen=True)
class Scope:
    """Path parameters that narrow a search (``/studies/{study}/series``)."""

    study_uid: str | None = None
    series_uid: str | None = None


@dataclass(frozen=True)
class SearchResult:
    items: list[dict[str, dict[str, Any]]]
    more: bool  # there are results beyond ``limit``


def _next_prefix(prefix: str) -> str:
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _condition(column: str, attr: Attr, value: Value) -> tuple[str, list[Any]]:
    """SQL for one match on ``column`` (a quoted table.column reference)."""
    if isinstance(value, tuple):
        if attr.match is Match.CODE_LIST:
            alternatives = " OR ".join(
                f"('/' || REPLACE({column}, {{}}, '/') || '/') LIKE {{}}" for _ in value
            )
            args: list[Any] = []
            for code in value:
                args += ["\\", f"%/{code}/%"]
            return f"({alternatives})", args
        return f"{column} IN ({', '.join('{}' for _ in value)})", list(value)
    if isinstance(value, DateRange):
        if value.low and value.high:
            return f"{column} >= {{}} AND {column} <= {{}}", [value.low, value.high]
        if value.low:
            return f"{column} >= {{}}", [value.low]
        return f"{column} <> '' AND {column} <= {{}}", [value.high]
    if isinstance(value, int):
        return f"{column} = {{}}", [value]
    return _text_condition(column, attr, value)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_condition(column: str, attr: Attr, value: Text) -> tuple[str, list[Any]]:
    if attr.match is Match.NAME:
        column = column.replace('"patient_name"', '"patient_name_search"')
        # A PN holds up to three groups ("ZHANG^SAN=张三"); a pattern matches the first
        # group on its own too. Ideographic or phonetic text (not ASCII) is looked for in the
        # later groups: no index helps there, so only such a search scans.
        if not value.value.isascii():
            pattern = value.value if value.wildcard else _escape(value.value)
            like = f"{column} LIKE {{}} ESCAPE '\\'"
            return f"({like} OR {like} OR {like})", [pattern, f"%={pattern}", f"%={pattern}=%"]
        if not value.wildcard:
            sql = f"({column} = {{}} OR {column} LIKE {{}} ESCAPE '\\')"
            escaped = _escape(value.value)
            sql += f" AND {column} >= {{}} AND {column} < {{}}"
            return sql, [value.value, escaped + "=%", value.value, _next_prefix(value.value)]
        if value.value.endswith("%") and not value.value.endswith("\\%"):  # any later group too
            sql = f"{column} LIKE {{}} ESCAPE '\\'"
            args: list[Any] = [value.value]
        else:
            sql = f"({column} LIKE {{}} ESCAPE '\\' OR {column} LIKE {{}} ESCAPE '\\')"
            args = [value.value, value.value + "=%"]
        if value.prefix:
            sql += f" AND {column} >= {{}} AND {column} < {{}}"
            args += [value.prefix, _next_prefix(value.prefix)]
        return sql, args
    if not value.wildcard:
        return f"{column} = {{}}", [value.value]
    if Study._meta.db.engine_type == "sqlite":  # LIKE ignores case there; DICOM does not
        return f"{column} GLOB {{}}", [value.glob]
    return f"{column} LIKE {{}} ESCAPE '\\'", [value.value]


def _where(query: QidoQuery, scope: Scope) -> list[WhereRaw]:
    base = TABLES[query.level]._meta.tablename
    by_level: dict[Level, list[tuple[str, list[Any]]]] = {lv: [] for lv in Level}
    for attr, value in query.filters:
        table = TABLES[attr.level]._meta.tablename
        by_level[attr.level].append(_condition(f'"{table}"."{attr.column}"', attr, value))
    if scope.study_uid is not None:
        by_level[Level.STUDY].append(('"study"."study_uid" = {}', [scope.study_uid]))
    if scope.series_uid is not None:
        by_level[Level.SERIES].append(('"series"."series_uid" = {}', [scope.series_uid]))
    clauses = []
    for level, conditions in by_level.items():
        if not conditions:
            continue
        sql = " AND ".join(f"({c})" for c, _ in conditions)
        args = [a for _, arg_list in conditions for a in arg_list]
        if level is query.level:
            clauses.append(WhereRaw(sql, *args))
        else:
            table = TABLES[level]._meta.tablename
            clauses.append(
                WhereRaw(
                    f'"{base}"."{level.value}" IN (SELECT "id" FROM "{table}" WHERE {sql})', *args
                )
            )
    return clauses


def _columns(level: Level) -> tuple[list[Any], dict[Level, str]]:
    table = TABLES[level]
    columns: list[Any] = []
    prefixes: dict[Level, str] = {}
    for lv in LEVELS_UP_TO[level]:
        if lv is level:
            source: Any = table
            prefixes[lv] = ""
        else:
            source = getattr(table, lv.value)
            prefixes[lv] = f"{lv.value}."
        columns += [getattr(source, a.column) for a in ATTRS_BY_LEVEL[lv]]
    columns.append(Study.tier if level is Level.STUDY else getattr(table, Level.STUDY.value).tier)
    return columns, prefixes


def _url(base_url: str, row: dict[str, Any], level: Level) -> str:
    study = row["study_uid"] if level is Level.STUDY else row["study.study_uid"]
    url = f"{base_url}/studies/{study}"
    if level is Level.SERIES:
        url += f"/series/{row['series_uid']}"
    elif level is Level.INSTANCE:
        url += f"/series/{row['series.series_uid']}/instances/{row['sop_uid']}"
    return url


async def search(reader: Reader, query: QidoQuery, scope: Scope, base_url: str) -> SearchResult:
    """Run a QIDO-RS search at ``query.level``; results newest first for studies."""
    level = query.level
    table = TABLES[level]
    columns, prefixes = _columns(level)
    select = images(table, reader, *columns).where(*_where(query, scope))
    if level is Level.STUDY:
        select = select.order_by(Study.id, ascending=False)
    elif level is Level.SERIES:
        select = select.order_by(Series.series_number, Series.id)
    else:
        select = select.where(Instance.superseded == False).order_by(  # noqa: E712
            Instance.instance_number, Instance.id
        )
    rows = await select.limit(query.limit + 1).offset(query.offset)
    items = []
    for row in rows[: query.limit]:
        tier = row["tier"] if level is Level.STUDY else row["study.tier"]
        extra = {
            INSTANCE_AVAILABILITY: {
                "vr": "CS",
                "Value": ["NEARLINE" if tier in ARCHIVED_TIERS else "ONLINE"],
            },
            RETRIEVE_URL: {"vr": "UR", "Value": [_url(base_url, row, level)]},
        }
        items.append(to_json(row, prefixes, extra))
    return SearchResult(items, len(rows) > query.limit)
