"""Roles and their permissions, edited by the hospital admin (SPEC 8.3).

Edits carry the version the editor started from: two admins editing the same role cannot
silently overwrite each other (the second gets 409 with the current version).
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from api.crud import changed_fields, from_row, versioned_update
from api.management.schemas import RoleCreate, RoleRead, RoleUpdate
from api.management.service import (
    actor_of,
    check_known,
    clean_text,
    insert_id,
    json_list,
    json_text,
    own_hospital,
    with_user_counts,
)
from kernel.domain import Permission
from kernel.errors import Conflict
from kernel.i18n import N_
from store.scoping import get_visible, visible
from store.tables import Role, User
from store.uow import Actor, Ctx, now, unit_of_work


def all_permissions() -> list[str]:
    return [p.value for p in Permission]


def check_permissions(permissions: list[str]) -> list[str]:
    return check_known(
        permissions,
        all_permissions(),
        N_("Unknown permissions: {unknown}. Known permissions: {known}."),
    )


def role_read(row: dict[str, Any], user_count: int = 0) -> RoleRead:
    return from_row(
        RoleRead,
        row,
        hospital_id=row["hospital"],
        permissions=json_list(row["permissions"]),
        builtin=bool(row["builtin"]),
        user_count=user_count,
        version=int(row["version"]),
    )


async def _name_free(hospital_id: int, name: str, except_id: int = 0) -> None:
    if await Role.exists().where(
        Role.hospital == hospital_id, Role.name == name, Role.id != except_id
    ):
        raise Conflict(
            "The hospital already has a role named {name!r}.",
            name=name,
        )


async def list_roles(actor: Actor) -> list[RoleRead]:
    rows = await visible(Role, actor).order_by(Role.name)
    return [role_read(r, n) for r, n in await with_user_counts(User.role, rows)]


async def get_role(actor: Actor, role_id: int) -> RoleRead:
    row = await get_visible(Role, role_id, actor, "role")
    [(row, holders)] = await with_user_counts(User.role, [row])
    return role_read(row, holders)


async def add_role(ctx: Ctx, data: RoleCreate) -> RoleRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    name = clean_text(data.name, N_("role name"), 100)
    permissions = check_permissions(data.permissions)
    await _name_free(hospital_id, name)
    async with unit_of_work(ctx) as uow:
        role_id = await insert_id(
            Role(
                hospital=hospital_id,
                name=name,
                permissions=json_text(permissions),
                created_at=now(),
            )
        )
        await uow.audit(
            "role.create", "role", role_id, detail=f"{name}: {', '.join(permissions) or '-'}"
        )
    return await get_role(actor, role_id)


async def update_role(ctx: Ctx, role_id: int, data: RoleUpdate) -> RoleRead:
    actor = actor_of(ctx)
    row = await get_visible(Role, role_id, actor, "role")
    values: dict[Any, Any] = {}
    detail = changed_fields(data)
    if data.name is not UNSET:
        values[Role.name] = clean_text(data.name, N_("role name"), 100)
        await _name_free(row["hospital"], values[Role.name], role_id)
    if data.permissions is not UNSET:
        permissions = check_permissions(data.permissions)
        old = set(json_list(row["permissions"]))
        values[Role.permissions] = json_text(permissions)
        added, removed = sorted(set(permissions) - old), sorted(old - set(permissions))
        detail.append(f"added {', '.join(added) or '-'}; removed {', '.join(removed) or '-'}")
    async with unit_of_work(ctx) as uow:
        await versioned_update(Role, role_id, values, data.version, N_("role"))
        await uow.audit(
            "role.update", "role", role_id, detail=f"{row['name']}: {'; '.join(detail)}"
        )
    return await get_role(actor, role_id)


async def delete_role(ctx: Ctx, role_id: int) -> str:
    """Only a role nobody has may go: a doctor must never silently lose his permissions."""
    actor = actor_of(ctx)
    row = await get_visible(Role, role_id, actor, "role")
    async with unit_of_work(ctx) as uow:
        holders = await User.count().where(User.role == role_id)
        if holders:
            raise Conflict(
                "The role {name!r} is still given to {holders} user(s). Give them "
                "another role first, then delete it.",
                name=row["name"],
                holders=holders,
                extra={"user_count": holders},
            )
        await Role.delete().where(Role.id == role_id)
        await uow.audit("role.delete", "role", role_id, detail=row["name"])
    return f"The role {row['name']!r} is deleted."
