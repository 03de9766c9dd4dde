"""Examination dictionaries of a hospital (SPEC 8.4, 8.7): device types, devices, body parts
and check items. The hospital's admin writes them; everyone of the hospital reads them
(the report editor and the examination list need them). Codes are unique per hospital;
rows are deactivated, never deleted, because examinations keep referring to them."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from functools import reduce
from typing import Any

from api.crud import from_row, insert_audited, or_blank, unique_or_conflict
from api.dictionaries import schemas
from api.dictionaries.common import (
    actor_of,
    apply_update,
    clean_code,
    code_free,
    like_pattern,
)
from api.dictionaries.common import paging as check_paging
from api.management.service import clean_text, own_hospital
from kernel.errors import BadRequest
from kernel.i18n import Msg
from store.scoping import get_visible, visible
from store.tables import BodyPart, CheckItem, Device, DeviceType
from store.uow import Actor, Ctx, now, unit_of_work

VISIBILITY = ("after_review", "after_hours", "at_once")  # at_once: as soon as it is matched
EXAM_CATEGORIES = ("", "outpatient", "inpatient", "physical", "emergency")
MAX_HOURS = 24 * 365


class ListQuery:
    """Search and paging of one dictionary list: ``q`` matches code or name, any case."""

    def __init__(self, q: str = "", page: int = 1, per_page: int = 50, active: str = "") -> None:
        self.q = q.strip()[:100]
        self.page, self.per_page = check_paging(page, per_page)
        if active not in ("", "true", "false"):
            raise BadRequest("active is 'true', 'false' or empty.")
        self.active = active


@dataclass(frozen=True)
class Coded:
    """A dictionary of codes and names: device types (DICOM modality) and body parts
    (DICOM BodyPartExamined) follow the same rules."""

    table: type[DeviceType] | type[BodyPart]
    what: str  # "device type"
    code_len: int

    @property
    def key(self) -> str:
        return self.what.replace(" ", "_")


DEVICE_TYPES = Coded(DeviceType, "device type", 16)
BODY_PARTS = Coded(BodyPart, "body part", 32)


async def list_coded(kind: Coded, actor: Actor, query: ListQuery) -> schemas.CodedPage:
    table: Any = kind.table
    rows, total = await _paged(table, actor, (), (table.code, table.name), query, table.code)
    return schemas.CodedPage(
        [from_row(schemas.CodedRead, r) for r in rows], total, query.page, query.per_page
    )


async def get_coded(kind: Coded, actor: Actor, row_id: int) -> schemas.CodedRead:
    return from_row(schemas.CodedRead, await get_visible(kind.table, row_id, actor, kind.what))


async def add_coded(kind: Coded, ctx: Ctx, data: schemas.CodedCreate) -> schemas.CodedRead:
    table: Any = kind.table
    hospital_id = own_hospital(actor_of(ctx))
    code = clean_code(data.code, kind.what, kind.code_len)
    name = clean_text(data.name, f"{kind.what} name", 100)
    await code_free(table, hospital_id, code, kind.what)
    taken = f"The {kind.what} code {code!r} is taken."
    async with unique_or_conflict(taken), unit_of_work(ctx) as uow:
        row_id = await insert_audited(
            uow,
            table(hospital=hospital_id, code=code, name=name, created_at=now()),
            f"dictionary.{kind.key}.create",
            kind.key,
            detail=f"{code} {name}",
            hospital_id=hospital_id,
        )
    return await get_coded(kind, actor_of(ctx), row_id)


async def update_coded(
    kind: Coded, ctx: Ctx, row_id: int, data: schemas.CodedUpdate
) -> schemas.CodedRead:
    table: Any = kind.table
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    await get_visible(table, row_id, actor, kind.what)
    values: dict[Any, Any] = {}
    if isinstance(data.code, str):
        code = clean_code(data.code, kind.what, kind.code_len)
        await code_free(table, hospital_id, code, kind.what, row_id)
        values[table.code] = code
    if isinstance(data.name, str):
        values[table.name] = clean_text(data.name, f"{kind.what} name", 100)
    if isinstance(data.active, bool):
        values[table.active] = data.active
    await apply_update(
        ctx, table, row_id, hospital_id, values, data, kind.what, f"dictionary.{kind.key}.update"
    )
    return await get_coded(kind, actor, row_id)


async def _own(table: Any, row_id: int, actor: Actor, what: str) -> None:
    """A reference to another dictionary row must stay inside the actor's hospital."""
    if not await table.exists().where(table.id == row_id, table.hospital == own_hospital(actor)):
        raise BadRequest(
            "The {what} {row_id} is not in this hospital's dictionary.",
            what=Msg(what),
            row_id=row_id,
        )


async def _paged(
    table: Any, actor: Actor, columns: tuple, searched: tuple, query: ListQuery, order: Any
) -> tuple[list[dict[str, Any]], int]:
    """One page of the actor's rows (active ones first) and how many match in all; the
    search text ``query.q`` is looked for in any of the ``searched`` columns."""
    clauses: list[Any] = []
    if query.q:
        pattern = like_pattern(query.q)
        clauses.append(reduce(operator.or_, (column.ilike(pattern) for column in searched)))
    if query.active:
        clauses = [*clauses, table.active == (query.active == "true")]
    select = visible(table, actor, *columns)
    total_query = visible(table, actor, table.id)
    if clauses:
        select = select.where(*clauses)
        total_query = total_query.where(*clauses)
    rows = (
        await select.order_by(table.active, ascending=False)
        .order_by(order)
        .limit(query.per_page)
        .offset((query.page - 1) * query.per_page)
    )
    return rows, len(await total_query)


async def _one(table: Any, row_id: int, actor: Actor, what: str, columns: tuple) -> dict[str, Any]:
    """The actor's row ``row_id`` of ``table`` with ``columns`` (another hospital's: 404)."""
    await get_visible(table, row_id, actor, what)
    row = await visible(table, actor, *columns).where(table.id == row_id).first()
    assert row is not None
    return row


# --- devices --------------------------------------------------------------------------------

DEVICE_COLUMNS = (
    Device.id,
    Device.device_type,
    Device.device_type.code.as_alias("device_type_code"),
    Device.name,
    Device.station_name,
    Device.model,
    Device.active,
    Device.version,
)


def _device(row: dict[str, Any]) -> schemas.DeviceRead:
    return from_row(
        schemas.DeviceRead,
        row,
        device_type_id=row["device_type"],
        **or_blank(row, "device_type_code"),
    )


async def list_devices(actor: Actor, query: ListQuery) -> schemas.DevicePage:
    searched = (Device.name, Device.station_name, Device.model, Device.device_type.code)
    rows, total = await _paged(Device, actor, DEVICE_COLUMNS, searched, query, Device.name)
    return schemas.DevicePage([_device(r) for r in rows], total, query.page, query.per_page)


async def get_device(actor: Actor, device_id: int) -> schemas.DeviceRead:
    return _device(await _one(Device, device_id, actor, "device", DEVICE_COLUMNS))


async def add_device(ctx: Ctx, data: schemas.DeviceCreate) -> schemas.DeviceRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    await _own(DeviceType, data.device_type_id, actor, "device type")
    name = clean_text(data.name, "device name", 100)
    station = clean_text(data.station_name, "station name", 64, required=False)
    model = clean_text(data.model, "model", 100, required=False)
    async with unit_of_work(ctx) as uow:
        device_id = await insert_audited(
            uow,
            Device(
                hospital=hospital_id,
                device_type=data.device_type_id,
                name=name,
                station_name=station,
                model=model,
                created_at=now(),
            ),
            "dictionary.device.create",
            "device",
            detail=name,
            hospital_id=hospital_id,
        )
    return await get_device(actor, device_id)


async def update_device(ctx: Ctx, device_id: int, data: schemas.DeviceUpdate) -> schemas.DeviceRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    await get_visible(Device, device_id, actor, "device")
    values: dict[Any, Any] = {}
    if isinstance(data.device_type_id, int):
        await _own(DeviceType, data.device_type_id, actor, "device type")
        values[Device.device_type] = data.device_type_id
    if isinstance(data.name, str):
        values[Device.name] = clean_text(data.name, "device name", 100)
    if isinstance(data.station_name, str):
        values[Device.station_name] = clean_text(
            data.station_name, "station name", 64, required=False
        )
    if isinstance(data.model, str):
        values[Device.model] = clean_text(data.model, "model", 100, required=False)
    if isinstance(data.active, bool):
        values[Device.active] = data.active
    await apply_update(
        ctx, Device, device_id, hospital_id, values, data, "device", "dictionary.device.update"
    )
    return await get_device(actor, device_id)


# --- check items ----------------------------------------------------------------------------

CHECK_ITEM_COLUMNS = (
    CheckItem.all_columns(),
    CheckItem.device_type.code.as_alias("device_type_code"),
    CheckItem.body_part.code.as_alias("body_part_code"),
)


def _check_item(row: dict[str, Any]) -> schemas.CheckItemRead:
    return from_row(
        schemas.CheckItemRead,
        row,
        device_type_id=row["device_type"],
        body_part_id=row["body_part"],
        **or_blank(row, "device_type_code", "body_part_code"),
    )


async def list_check_items(actor: Actor, query: ListQuery) -> schemas.CheckItemPage:
    searched = (CheckItem.code, CheckItem.name, CheckItem.scanning_method)
    rows, total = await _paged(
        CheckItem, actor, CHECK_ITEM_COLUMNS, searched, query, CheckItem.code
    )
    return schemas.CheckItemPage([_check_item(r) for r in rows], total, query.page, query.per_page)


async def get_check_item(actor: Actor, item_id: int) -> schemas.CheckItemRead:
    return _check_item(await _one(CheckItem, item_id, actor, "check item", CHECK_ITEM_COLUMNS))


def _cloud_film(visible_when: str, hours: int) -> None:
    if visible_when not in VISIBILITY:
        raise BadRequest(
            "cloud_film_visible is 'after_review' (the patient sees the film once "
            "the report is reviewed), 'after_hours' (N hours after the exam) or "
            "'at_once' (as soon as it is matched).",
        )
    if not 0 <= hours <= MAX_HOURS:
        raise BadRequest(
            "cloud_film_hours is between 0 and {max_hours}.",
            max_hours=MAX_HOURS,
        )
    if visible_when == "after_hours" and hours == 0:
        raise BadRequest(
            "With 'after_hours', say after how many hours (at least 1).",
        )


def _category(value: str) -> str:
    value = value.strip()
    if value not in EXAM_CATEGORIES:
        raise BadRequest(
            "Unknown exam category {value!r}; use one of: {value2} (or empty).",
            value=value[:40],
            value2=", ".join(c for c in EXAM_CATEGORIES if c),
        )
    return value


async def add_check_item(ctx: Ctx, data: schemas.CheckItemCreate) -> schemas.CheckItemRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    code = clean_code(data.code, "check item")
    name = clean_text(data.name, "check item name", 100)
    if data.device_type_id is not None:
        await _own(DeviceType, data.device_type_id, actor, "device type")
    if data.body_part_id is not None:
        await _own(BodyPart, data.body_part_id, actor, "body part")
    _cloud_film(data.cloud_film_visible, data.cloud_film_hours)
    category = _category(data.exam_category)
    method = clean_text(data.scanning_method, "scanning method", 60, required=False)
    await code_free(CheckItem, hospital_id, code, "check item")
    async with (
        unique_or_conflict(f"The check item code {code!r} is taken."),
        unit_of_work(ctx) as uow,
    ):
        item_id = await insert_audited(
            uow,
            CheckItem(
                hospital=hospital_id,
                code=code,
                name=name,
                device_type=data.device_type_id,
                body_part=data.body_part_id,
                exam_category=category,
                scanning_method=method,
                cloud_film=data.cloud_film,
                cloud_film_visible=data.cloud_film_visible,
                cloud_film_hours=data.cloud_film_hours,
                created_at=now(),
            ),
            "dictionary.check_item.create",
            "check_item",
            detail=f"{code} {name}",
            hospital_id=hospital_id,
        )
    return await get_check_item(actor, item_id)


async def update_check_item(
    ctx: Ctx, item_id: int, data: schemas.CheckItemUpdate
) -> schemas.CheckItemRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    current = await get_check_item(actor, item_id)
    values: dict[Any, Any] = {}
    if isinstance(data.code, str):
        code = clean_code(data.code, "check item")
        await code_free(CheckItem, hospital_id, code, "check item", item_id)
        values[CheckItem.code] = code
    if isinstance(data.name, str):
        values[CheckItem.name] = clean_text(data.name, "check item name", 100)
    if isinstance(data.device_type_id, int):
        await _own(DeviceType, data.device_type_id, actor, "device type")
    if isinstance(data.device_type_id, int) or data.device_type_id is None:
        values[CheckItem.device_type] = data.device_type_id
    if isinstance(data.body_part_id, int):
        await _own(BodyPart, data.body_part_id, actor, "body part")
    if isinstance(data.body_part_id, int) or data.body_part_id is None:
        values[CheckItem.body_part] = data.body_part_id
    if isinstance(data.exam_category, str):
        values[CheckItem.exam_category] = _category(data.exam_category)
    if isinstance(data.scanning_method, str):
        values[CheckItem.scanning_method] = clean_text(
            data.scanning_method, "scanning method", 60, required=False
        )
    if isinstance(data.cloud_film, bool):
        values[CheckItem.cloud_film] = data.cloud_film
    visible_when = (
        data.cloud_film_visible
        if isinstance(data.cloud_film_visible, str)
        else current.cloud_film_visible
    )
    hours = (
        data.cloud_film_hours
        if isinstance(data.cloud_film_hours, int)
        else current.cloud_film_hours
    )
    _cloud_film(visible_when, hours)
    values[CheckItem.cloud_film_visible] = visible_when
    values[CheckItem.cloud_film_hours] = hours
    if isinstance(data.active, bool):
        values[CheckItem.active] = data.active
    await apply_update(
        ctx,
        CheckItem,
        item_id,
        hospital_id,
        values,
        data,
        "check item",
        "dictionary.check_item.update",
    )
    return await get_check_item(actor, item_id)
