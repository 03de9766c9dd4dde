"""Departments of a hospital (SPEC 8.2), managed by its hospital admin; a department is
switched off, never deleted, and its name is unique within the hospital."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from api.crud import changed_fields, from_row, versioned_update
from api.management.schemas import DepartmentCreate, DepartmentRead, DepartmentUpdate
from api.management.service import (
    actor_of,
    clean_phone,
    clean_text,
    insert_id,
    own_hospital,
    with_user_counts,
)
from kernel.errors import Conflict
from kernel.i18n import N_
from store.scoping import get_visible, visible
from store.tables import Department, User
from store.uow import Actor, Ctx, now, unit_of_work


async def create_department(
    ctx: Ctx, hospital_id: int, name: str, phone: str = "", description: str = ""
) -> int:
    name = clean_text(name, N_("department name"), 200)
    phone = clean_phone(phone)
    description = clean_text(description, N_("description"), 2000, required=False)
    await _department_name_free(hospital_id, name)
    async with unit_of_work(ctx) as uow:
        dept_id = await insert_id(
            Department(
                hospital=hospital_id,
                name=name,
                phone=phone,
                description=description,
                created_at=now(),
            )
        )
        await uow.audit(
            "department.create", "department", dept_id, detail=name, hospital_id=hospital_id
        )
    return dept_id


async def _department_name_free(hospital_id: int, name: str, except_id: int = 0) -> None:
    if await Department.exists().where(
        Department.hospital == hospital_id, Department.name == name, Department.id != except_id
    ):
        raise Conflict(
            "The hospital already has a department named {name!r}.",
            name=name,
        )


def department_read(row: dict[str, Any], doctor_count: int = 0) -> DepartmentRead:
    return from_row(
        DepartmentRead,
        row,
        hospital_id=row["hospital"],
        active=bool(row["active"]),
        doctor_count=doctor_count,
        version=int(row["version"]),
    )


async def list_departments(actor: Actor, hospital_id: int | None = None) -> list[DepartmentRead]:
    query = visible(Department, actor).order_by(Department.name)
    if hospital_id is not None:
        query = query.where(Department.hospital == hospital_id)
    rows = await query
    return [department_read(r, n) for r, n in await with_user_counts(User.department, rows)]


async def get_department(actor: Actor, department_id: int) -> DepartmentRead:
    row = await get_visible(Department, department_id, actor, "department")
    [(row, doctors)] = await with_user_counts(User.department, [row])
    return department_read(row, doctors)


async def add_department(ctx: Ctx, data: DepartmentCreate) -> DepartmentRead:
    actor = actor_of(ctx)
    department_id = await create_department(
        ctx, own_hospital(actor), data.name, data.phone, data.description
    )
    return await get_department(actor, department_id)


async def update_department(ctx: Ctx, department_id: int, data: DepartmentUpdate) -> DepartmentRead:
    actor = actor_of(ctx)
    row = await get_visible(Department, department_id, actor, "department")
    values: dict[Any, Any] = {}
    if data.name is not UNSET:
        values[Department.name] = clean_text(data.name, N_("department name"), 200)
        await _department_name_free(row["hospital"], values[Department.name], department_id)
    if data.phone is not UNSET:
        values[Department.phone] = clean_phone(data.phone)
    if data.description is not UNSET:
        values[Department.description] = clean_text(
            data.description, N_("description"), 2000, required=False
        )
    if data.active is not UNSET:
        values[Department.active] = data.active
    async with unit_of_work(ctx) as uow:
        await versioned_update(Department, department_id, values, data.version, N_("department"))
        action = "department.update"
        if data.active is not UNSET and len(values) == 1:
            action = "department.activate" if data.active else "department.deactivate"
        await uow.audit(
            action,
            "department",
            department_id,
            detail=", ".join(changed_fields(data)),
            hospital_id=row["hospital"],
        )
    return await get_department(actor, department_id)
