"""The steps every feature's create, read and update repeat, written once (STYLE 14).

- ``from_row``: a read struct from a selected row, field by field, naming only what differs;
- ``first_or_not_found``: the one row a query names, or the feature's 404 sentence;
- ``insert_audited``: insert a row and write its audit row in the caller's unit of work;
- ``unique_or_conflict``: a unique constraint hit by a concurrent request as the feature's 409;
- ``versioned_update``: an update that bumps ``version`` (409 on a stale one);
- ``changed_fields``: the sent fields of an update, for the audit detail;
- ``update_audited``: a versioned update (409 on a stale ``version``) and its audit row, in
  one transaction.

They hold no rule of their own: who may see or change a row stays with the feature
(``store.scoping``, its guards), and the sentences stay the feature's.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import msgspec
from msgspec import UNSET, UnsetType
from piccolo.table import Table

from api.schemas import ActiveUpdate
from kernel.errors import Conflict, NotFound
from kernel.i18n import Msg
from store.uow import Ctx, UnitOfWork, unit_of_work

S = TypeVar("S")


def from_row(struct: type[S], row: Mapping[str, Any], **values: Any) -> S:
    """``struct`` (a msgspec struct or a dataclass) with each field from the row's column of
    the same name, unless ``values`` gives it (a renamed column, a default for NULL, a derived
    value)."""
    fields = getattr(struct, "__struct_fields__", None) or [
        f.name
        for f in dataclasses.fields(struct)  # type: ignore[arg-type]
    ]
    return struct(**{f: values[f] if f in values else row[f] for f in fields})


def or_blank(row: Mapping[str, Any], *columns: str) -> dict[str, Any]:
    """The text ``columns`` of ``row`` with NULL read as "" (for ``from_row``'s ``values``)."""
    return {c: row[c] or "" for c in columns}


async def first_or_not_found(query: Any, message: str, **params: Any) -> dict[str, Any]:
    """The first row of ``query``, or ``NotFound(message, **params)`` when there is none."""
    row = await query.first()
    if row is None:
        raise NotFound(message, **params)
    return row


async def insert_audited(
    uow: UnitOfWork,
    row: Table,
    action: str,
    target_type: str,
    *,
    detail: str,
    hospital_id: int | None = None,
) -> int:
    """Insert ``row`` and audit ``action`` on ``target_type`` with the new id, both in ``uow``'s
    transaction; returns the new id."""
    table = type(row)
    pk = table._meta.primary_key
    inserted = await table.insert(row).returning(pk)
    row_id = int(inserted[0][pk._meta.name])
    await uow.audit(action, target_type, row_id, detail=detail, hospital_id=hospital_id)
    return row_id


@asynccontextmanager
async def unique_or_conflict(message: str, **params: Any) -> AsyncIterator[None]:
    """A unique constraint hit by a concurrent request becomes a 409, not a 500 (``message``
    and its placeholders as for the errors)."""
    try:
        yield
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError) as exc:
        if "unique" in str(exc).lower() or isinstance(exc, asyncpg.UniqueViolationError):
            raise Conflict(message, **params) from None
        raise


async def versioned_update(
    table: type[Table],
    row_id: int,
    values: dict[Any, Any],
    version: int | UnsetType,
    what: str,
) -> int:
    """Apply ``values`` and bump the version; with ``version`` given, only if it is current.
    ``what`` names the row in the conflict message (an English word of the catalogue).

    One ``UPDATE ... WHERE id = ? AND version = ?``: works the same on SQLite and PostgreSQL,
    and two editors starting from the same version cannot both win.
    """
    version_col: Any = table._meta.get_column_by_name("version")
    pk = table._meta.primary_key
    query = table.update({**values, version_col: version_col + 1}).where(pk == row_id)
    if version is not UNSET:
        query = query.where(version_col == version)
    rows = await query.returning(version_col)
    if not rows:
        current = await table.select(version_col).where(pk == row_id).first()
        current_version = int(current["version"]) if current else None
        raise Conflict(
            "Someone else changed this {what} in the meantime (it is now at version "
            "{current_version}, you edited version {version}). Reload and try again.",
            what=Msg(what),
            current_version=current_version,
            version=version,
            extra={"current_version": current_version},
        )
    return int(rows[0]["version"])


def changed_fields(data: msgspec.Struct) -> list[str]:
    """The sent fields, for the audit detail: the struct's own in order, then ``active``
    (which ``ActiveUpdate`` declares first) — the order the detail has always had."""
    sent = [f for f in data.__struct_fields__ if f != "version" and getattr(data, f) is not UNSET]
    return sorted(sent, key=lambda f: f in ActiveUpdate.__struct_fields__)


async def update_audited(
    ctx: Ctx,
    table: type[Table],
    row_id: int,
    values: dict[Any, Any],
    *,
    version: int | UnsetType,
    what: str,
    action: str,
    target_type: str,
    detail: str,
    hospital_id: int | None = None,
) -> int:
    """Apply ``values`` (bumping the version; a stale ``version`` is a 409 naming ``what``) and
    audit ``action`` on ``target_type``, in one transaction; returns the new version."""
    async with unit_of_work(ctx) as uow:
        new_version = await versioned_update(table, row_id, values, version, what)
        await uow.audit(action, target_type, row_id, detail=detail, hospital_id=hospital_id)
    return new_version
