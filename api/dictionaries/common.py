"""Rules shared by the dictionary, template and knowledge services: paging, codes that are
unique per hospital, versioned updates with an audit row."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from msgspec import UNSET
from piccolo.table import Table

from api.crud import changed_fields, update_audited
from api.management.service import actor_of
from kernel.errors import BadRequest, Conflict
from kernel.i18n import Msg
from store.uow import Ctx

CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")
MAX_PER_PAGE = 200


def paging(page: int, per_page: int) -> tuple[int, int]:
    if page < 1:
        raise BadRequest("The page number starts at 1.")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise BadRequest("Between 1 and {max_per_page} rows a page.", max_per_page=MAX_PER_PAGE)
    return page, per_page


def clean_code(value: str, what: str, max_len: int = 32) -> str:
    value = value.strip().upper()
    if not CODE_RE.fullmatch(value) or len(value) > max_len:
        raise BadRequest(
            "A {what} code has 1–{max_len} letters, digits, '.', '-' or '_' (got {value!r}).",
            what=Msg(what),
            max_len=max_len,
            value=value[:40],
        )
    return value


def like_pattern(q: str) -> str:
    """``q`` as a LIKE pattern matching anywhere; ``%`` and ``_`` typed by the user are
    taken literally enough (dropped), never as wildcards."""
    return "%" + q.strip().replace("%", "").replace("_", "").lower() + "%"


async def code_free(
    table: type[Table], hospital_id: int, code: str, what: str, except_id: int | None = None
) -> None:
    code_col: Any = table._meta.get_column_by_name("code")
    hospital_col: Any = table._meta.get_column_by_name("hospital")
    query = table.exists().where(hospital_col == hospital_id, code_col == code)
    if except_id is not None:
        query = query.where(table._meta.primary_key != except_id)
    if await query:
        raise Conflict(
            "The {what} code {code!r} is taken in this hospital.",
            what=Msg(what),
            code=code,
        )


async def apply_update(
    ctx: Ctx,
    table: type[Table],
    row_id: int,
    hospital_id: int,
    values: dict[Any, Any],
    data: msgspec.Struct,
    what: str,
    action: str,
) -> int:
    """The versioned update and its audit row (the sent fields) in one transaction."""
    return await update_audited(
        ctx,
        table,
        row_id,
        values,
        version=getattr(data, "version", UNSET),
        what=what,
        action=action,
        target_type=what.replace(" ", "_"),
        detail=", ".join(changed_fields(data)),
        hospital_id=hospital_id,
    )


__all__ = ["actor_of", "apply_update", "clean_code", "code_free", "like_pattern", "paging"]
