"""The steps every feature's create, read and update repeat, written once (STYLE 14).

- ``from_row``: a read struct from a selected row, field by field, naming only what differs;
- ``first_or_not_found``: the one row a query names, or the feature's 404 sentence;
- ``insert_audited``: insert a row and write its audit row in the caller's unit of work;
- ``update_audited``: a versioned update (409 on a stale ``version``) and its audit row, in
  one transaction.

They hold no rule of their own: who may see or change a row stays with the feature
(``store.scoping``, its guards), and the sentences stay the feature's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from msgspec import UnsetType
from piccolo.table import Table

from api.management.service import versioned_update
from kernel.errors import NotFound
from store.uow import Ctx, UnitOfWork, unit_of_work

S = TypeVar("S", bound=msgspec.Struct)


def from_row(struct: type[S], row: Mapping[str, Any], **values: Any) -> S:
    """``struct`` with each field from the row's column of the same name, unless ``values``
    gives it (a renamed column, a default for NULL, a derived value)."""
    return struct(**{f: values[f] if f in values else row[f] for f in struct.__struct_fields__})


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
