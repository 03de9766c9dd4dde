"""Which accounts, departments and roles an administrator reaches (SPEC 1.6): a hospital
admin his hospital's doctors, departments and roles; the alliance admin the admins of the
alliance's hospitals. Anything else is reported as not found (``store.scoping``)."""

from __future__ import annotations

from typing import Any

from piccolo.table import Table

from kernel.domain import Kind
from kernel.errors import BadRequest, NotFound
from store.scoping import get_visible
from store.tables import Department, Role, User
from store.uow import Actor


async def _account_row(actor: Actor, user_id: int, kind: Kind, missing: NotFound) -> dict[str, Any]:
    """The visible account ``user_id`` if it is of ``kind`` (``missing`` if not)."""
    row = await get_visible(User, user_id, actor, kind.value.replace("_", " "))
    if row["kind"] != kind.value:
        raise missing
    return row


async def doctor_row(actor: Actor, user_id: int) -> dict[str, Any]:
    """A doctor of the actor's hospital."""
    missing = NotFound(
        "No doctor with id {user_id} exists, or it belongs to another hospital.",
        user_id=user_id,
    )
    return await _account_row(actor, user_id, Kind.doctor, missing)


async def managed_row(actor: Actor, user_id: int) -> dict[str, Any]:
    """An account the actor administers (SPEC 1.6): a hospital admin his hospital's doctors,
    the alliance admin the admins of the alliance's hospitals."""
    if actor.kind == Kind.alliance_admin.value:
        missing = NotFound(
            "No hospital admin with id {user_id} exists in this alliance.", user_id=user_id
        )
        return await _account_row(actor, user_id, Kind.hospital_admin, missing)
    return await doctor_row(actor, user_id)


async def _of_hospital(
    actor: Actor,
    table: type[Table],
    what: str,
    row_id: int | None,
    hospital_id: int,
    missing: NotFound,
) -> dict[str, Any] | None:
    """The visible row ``row_id`` of ``table`` if it is the hospital's (``missing`` if not);
    None for no id."""
    if row_id is None:
        return None
    row = await get_visible(table, row_id, actor, what)
    if row["hospital"] != hospital_id:
        raise missing
    return row


async def check_department(actor: Actor, hospital_id: int, department_id: int | None) -> None:
    """A department given to a doctor: the hospital's, and switched on (or none)."""
    missing = NotFound(
        "No department with id {department_id} exists in this hospital.",
        department_id=department_id,
    )
    dept = await _of_hospital(actor, Department, "department", department_id, hospital_id, missing)
    if dept is not None and not dept["active"]:
        raise BadRequest(
            "The department {name!r} is deactivated; activate it first.",
            name=dept["name"],
        )


async def check_role(actor: Actor, hospital_id: int, role_id: int | None) -> None:
    """A role given to a doctor: the hospital's (or none)."""
    missing = NotFound("No role with id {role_id} exists in this hospital.", role_id=role_id)
    await _of_hospital(actor, Role, "role", role_id, hospital_id, missing)
