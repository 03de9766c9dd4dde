"""Alliances and their hospitals (SPEC 8.1): creating them, reading and editing a
hospital, its feature modules and its self-review rule. Logo and QR code are ``media``'s."""

from __future__ import annotations

import re
from typing import Any

from msgspec import UNSET, UnsetType

from api.accounts.passwords import check_new_password
from api.crud import changed_fields, from_row, unique_or_conflict, versioned_update
from api.management.new_accounts import insert_user, username_free
from api.management.schemas import HospitalCreate, HospitalRead, HospitalUpdate, SelfReviewUpdate
from api.management.service import (
    actor_of,
    check_modules,
    check_time_zone,
    clean_phone,
    clean_text,
    insert_id,
    json_list,
    json_text,
)
from kernel.domain import DEFAULT_ROLES, Kind, Module
from kernel.errors import BadRequest, Conflict, Forbidden
from kernel.i18n import N_
from store.scoping import get_visible, visible
from store.tables import Alliance, Hospital, Role
from store.uow import Actor, Ctx, UnitOfWork, now, unit_of_work

HOSPITAL_LEVELS = ("leading", "lower")
CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
GIB = 1024**3


def _check_level(level: str) -> str:
    if level not in HOSPITAL_LEVELS:
        raise BadRequest(
            "The level is 'leading' or 'lower'.",
        )
    return level


async def create_alliance(ctx: Ctx, name: str, admin_username: str, admin_password: str) -> int:
    """Operator command: an alliance and its first administrator."""
    name = name.strip()
    if not name:
        raise BadRequest("The alliance needs a name.")
    if await Alliance.exists().where(Alliance.name == name):
        raise Conflict("An alliance named {name!r} exists already.", name=name)
    await username_free(admin_username, None)
    password = await check_new_password(None, admin_username, admin_password)
    async with unit_of_work(ctx) as uow:
        alliance_id = await insert_id(Alliance(name=name, created_at=now()))
        await uow.audit("alliance.create", "alliance", alliance_id, detail=name)
        await insert_user(
            uow,
            password,
            username=admin_username,
            display_name=f"{name} admin",
            kind=Kind.alliance_admin.value,
            alliance=alliance_id,
        )
    return alliance_id


async def create_hospital(
    ctx: Ctx,
    alliance_id: int,
    name: str,
    code: str,
    level: str = "lower",
    modules: list[str] | None = None,
    time_zone: str = "Asia/Shanghai",
    *,
    phone: str = "",
    address: str = "",
) -> int:
    actor = ctx.actor
    if actor is not None and (
        actor.kind != Kind.alliance_admin or actor.alliance_id != alliance_id
    ):
        raise Forbidden(
            "Only an administrator of this alliance may add hospitals.",
        )
    name = clean_text(name, N_("hospital name"), 200)
    code = code.strip()
    if not CODE_RE.fullmatch(code):
        raise BadRequest(
            "A hospital code has 1–40 letters, digits, '-' or '_' and starts with a "
            "letter or digit.",
        )
    _check_level(level)
    enabled = check_modules(modules if modules is not None else [m.value for m in Module])
    check_time_zone(time_zone)
    phone = clean_phone(phone)
    address = clean_text(address, N_("address"), 300, required=False)
    taken = N_("The hospital code {code!r} is taken.")
    if await Hospital.exists().where(Hospital.code == code):
        raise Conflict(taken, code=code)
    async with unique_or_conflict(taken, code=code), unit_of_work(ctx) as uow:
        hospital_id = await insert_id(
            Hospital(
                alliance=alliance_id,
                name=name,
                code=code,
                level=level,
                modules=json_text(enabled),
                time_zone=time_zone,
                phone=phone,
                address=address,
                created_at=now(),
            )
        )
        for role_name, perms in DEFAULT_ROLES.items():
            await Role.insert(
                Role(
                    hospital=hospital_id,
                    name=role_name,
                    permissions=json_text([p.value for p in perms]),
                    builtin=True,
                    created_at=now(),
                )
            )
        await uow.audit(
            "hospital.create", "hospital", hospital_id, detail=name, hospital_id=hospital_id
        )
    return hospital_id


def logo_url(row: dict[str, Any]) -> str | None:
    if not row["logo_file"]:
        return None
    # The random part of the file name changes with every upload: a cache-busting version.
    return f"/api/manage/hospitals/{row['id']}/logo?v={row['logo_file'].rsplit('-', 1)[-1][:8]}"


def hospital_read(row: dict[str, Any]) -> HospitalRead:
    return from_row(
        HospitalRead,
        row,
        alliance_id=row["alliance"],
        modules=json_list(row["modules"]),
        logo_url=logo_url(row),
        storage_quota_bytes=int(row["storage_quota_bytes"] or 0),
        storage_used_bytes=int(row["storage_used_bytes"] or 0),
        active=bool(row["active"]),
        version=int(row["version"]),
        created_at=row["created_at"].isoformat(),
        self_review_allowed=bool(row["self_review_allowed"]),
    )


async def list_hospitals(actor: Actor) -> list[HospitalRead]:
    rows = await visible(Hospital, actor).order_by(Hospital.id)
    return [hospital_read(r) for r in rows]


async def get_hospital(actor: Actor, hospital_id: int) -> HospitalRead:
    return hospital_read(await get_visible(Hospital, hospital_id, actor, "hospital"))


async def add_hospital(ctx: Ctx, data: HospitalCreate) -> HospitalRead:
    actor = actor_of(ctx)
    if actor.alliance_id is None:
        raise Forbidden("Only an alliance administrator may add hospitals.")
    hospital_id = await create_hospital(
        ctx,
        actor.alliance_id,
        data.name,
        data.code,
        data.level,
        None if data.modules is UNSET else data.modules,
        data.time_zone,
        phone=data.phone,
        address=data.address,
    )
    return await get_hospital(actor, hospital_id)


async def update_hospital(ctx: Ctx, hospital_id: int, data: HospitalUpdate) -> HospitalRead:
    actor = actor_of(ctx)
    await get_visible(Hospital, hospital_id, actor, "hospital")
    values: dict[Any, Any] = {}
    if data.name is not UNSET:
        values[Hospital.name] = clean_text(data.name, N_("hospital name"), 200)
    if data.phone is not UNSET:
        values[Hospital.phone] = clean_phone(data.phone)
    if data.address is not UNSET:
        values[Hospital.address] = clean_text(data.address, N_("address"), 300, required=False)
    if data.level is not UNSET:
        values[Hospital.level] = _check_level(data.level)
    if data.time_zone is not UNSET:
        values[Hospital.time_zone] = check_time_zone(data.time_zone)
    if data.storage_quota_gb is not UNSET:
        if not 0 <= data.storage_quota_gb <= 1_000_000:
            raise BadRequest(
                "The storage quota is between 0 and 1,000,000 GB.",
            )
        values[Hospital.storage_quota_bytes] = int(data.storage_quota_gb * GIB)
    if data.active is not UNSET:
        values[Hospital.active] = data.active
    async with unit_of_work(ctx) as uow:
        detail = ", ".join(changed_fields(data))
        await _update(uow, hospital_id, values, data.version, "hospital.update", detail)
    return await get_hospital(actor, hospital_id)


async def set_self_review(ctx: Ctx, hospital_id: int, data: SelfReviewUpdate) -> HospitalRead:
    """The hospital admin (or his alliance admin) decides whether the author of a report may
    also review it; most hospitals say no (the default)."""
    actor = actor_of(ctx)
    await get_visible(Hospital, hospital_id, actor, "hospital")
    values = {Hospital.self_review_allowed: data.self_review_allowed}
    async with unit_of_work(ctx) as uow:
        detail = f"self_review_allowed={str(data.self_review_allowed).lower()}"
        await _update(uow, hospital_id, values, data.version, "hospital.update", detail)
    return await get_hospital(actor, hospital_id)


async def set_modules(ctx: Ctx, hospital_id: int, modules: list[str]) -> HospitalRead:
    """Switch feature modules; doctors' pages of the hospital hear it on the live channel."""
    actor = actor_of(ctx)
    before = await get_visible(Hospital, hospital_id, actor, "hospital")
    enabled = check_modules(modules)
    old = set(json_list(before["modules"]))
    on, off = sorted(set(enabled) - old), sorted(old - set(enabled))
    detail = f"on: {', '.join(on) or '-'}; off: {', '.join(off) or '-'}"
    async with unit_of_work(ctx) as uow:
        values = {Hospital.modules: json_text(enabled)}
        await _update(uow, hospital_id, values, UNSET, "hospital.modules", detail)
        await uow.event(f"hospital:{hospital_id}", "hospital.modules", {"modules": enabled})
    return await get_hospital(actor, hospital_id)


async def _update(
    uow: UnitOfWork,
    hospital_id: int,
    values: dict[Any, Any],
    version: int | UnsetType,
    action: str,
    detail: str,
) -> None:
    """One versioned change of the hospital's row and its audit row."""
    await versioned_update(Hospital, hospital_id, values, version, N_("hospital"))
    await uow.audit(action, "hospital", hospital_id, detail=detail, hospital_id=hospital_id)
