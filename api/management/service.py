"""Management platform services (SPEC 8.1–8.3): alliances, hospitals, departments, users,
roles. Reads go through ``store.scoping``; writes through ``unit_of_work`` with an audit row.

This module holds the shared rules (names, phones, versions, unique values) and the
hospital and department services; people, roles, media and audit have their own modules.
"""

from __future__ import annotations

import re
import secrets
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from msgspec import UNSET, UnsetType
from piccolo.table import Table

from api.accounts.passwords import NewPassword, check_new_password, set_password
from api.management.schemas import (
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    HospitalCreate,
    HospitalRead,
    HospitalUpdate,
    SelfReviewUpdate,
)
from api.schemas import ActiveUpdate
from kernel import security
from kernel.domain import DEFAULT_ROLES, Kind, Module
from kernel.errors import BadRequest, Conflict, Forbidden, Unauthorized
from kernel.i18n import N_, Listed, Msg
from store.scoping import get_visible, visible
from store.tables import Alliance, Department, Hospital, Role, User
from store.uow import Actor, Ctx, UnitOfWork, now, unit_of_work

HOSPITAL_LEVELS = ("leading", "lower")
CODE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")
PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]{2,38}")
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
GIB = 1024**3


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def actor_of(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized(
            "Please log in; your session is missing or has expired.",
        )
    return ctx.actor


# --- shared rules ---------------------------------------------------------------------------


def clean_text(value: str, what: str, max_len: int, *, required: bool = True) -> str:
    """``what`` names the field in the message (an English word of the catalogue)."""
    value = value.strip()
    if required and not value:
        raise BadRequest("The {what} must not be empty.", what=Msg(what))
    if len(value) > max_len:
        raise BadRequest(
            "The {what} has at most {max_len} characters.", what=Msg(what), max_len=max_len
        )
    return value


def clean_phone(value: str) -> str:
    value = value.strip()
    if value and not PHONE_RE.fullmatch(value):
        raise BadRequest(
            "{value!r} is not a phone number: use digits, spaces, '-', '(', ')' and "
            "an optional leading '+'.",
            value=value[:40],
        )
    return value


def clean_email(value: str) -> str:
    value = value.strip()
    if value and (len(value) > 200 or not EMAIL_RE.fullmatch(value)):
        raise BadRequest(
            "{value!r} is not an e-mail address.",
            value=value[:60],
        )
    return value


def check_time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except Exception:
        raise BadRequest(
            "{value!r} is not a time zone; use a name such as 'Asia/Shanghai'.",
            value=value[:64],
        ) from None
    return value


def check_modules(modules: list[str]) -> list[str]:
    known = [m.value for m in Module]
    unknown = sorted(set(modules) - set(known))
    if unknown:
        raise BadRequest(
            "Unknown modules: {unknown}. Known modules: {known}.",
            unknown=Listed(unknown),
            known=Listed(known),
        )
    return [m for m in known if m in modules]  # canonical order, no duplicates


def temporary_password() -> str:
    """A random password that passes the strength rule, for an admin to hand over once."""
    rng = secrets.SystemRandom()
    upper, lower = "ABCDEFGHJKLMNPQRSTUVWXYZ", "abcdefghijkmnpqrstuvwxyz"
    digits, symbols = "23456789", "#@%+=!"
    alphabet = upper + lower + digits + symbols  # no 0/O, 1/l/I: read aloud or copied by hand
    while True:
        chars = [
            rng.choice(upper),
            rng.choice(lower),
            rng.choice(digits),
            rng.choice(symbols),
            *(rng.choice(alphabet) for _ in range(8)),
        ]
        rng.shuffle(chars)
        password = "".join(chars)
        if security.password_problem(password) is None:
            return password


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


async def _username_free(username: str, phone: str | None) -> None:
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace(".", "").replace("-", "").isalnum()
        or not username.isascii()
    ):
        raise BadRequest(
            "A user name has 1–64 letters, digits, '.', '_' or '-'.",
        )
    if await User.exists().where(User.username == username):
        raise Conflict("The user name {username!r} is taken.", username=username)
    if phone and await User.exists().where(User.phone == phone):
        raise Conflict(
            "The phone number {phone} belongs to another account.",
            phone=phone,
        )


async def insert_user(
    uow: UnitOfWork,
    *,
    username: str,
    password: NewPassword,
    display_name: str,
    kind: Kind,
    alliance_id: int | None,
    hospital_id: int | None = None,
    department_id: int | None = None,
    role_id: int | None = None,
    phone: str | None = None,
    email: str = "",
) -> int:
    row = await User.insert(
        User(
            username=username,
            phone=phone or None,
            email=email,
            display_name=display_name,
            kind=kind.value,
            alliance=alliance_id,
            hospital=hospital_id,
            department=department_id,
            role=role_id,
            password_hash=password.password_hash,
            must_change_password=password.temporary,
            created_at=now(),
        )
    ).returning(User.id)
    user_id = int(row[0]["id"])
    await set_password(uow.ctx, user_id, password)
    await uow.audit(
        "user.create", "user", user_id, detail=f"{kind.value} {username}", hospital_id=hospital_id
    )
    return user_id


async def create_alliance(ctx: Ctx, name: str, admin_username: str, admin_password: str) -> int:
    """Operator command: an alliance and its first administrator."""
    name = name.strip()
    if not name:
        raise BadRequest("The alliance needs a name.")
    if await Alliance.exists().where(Alliance.name == name):
        raise Conflict("An alliance named {name!r} exists already.", name=name)
    await _username_free(admin_username, None)
    password = await check_new_password(None, admin_username, admin_password)
    async with unit_of_work(ctx) as uow:
        row = await Alliance.insert(Alliance(name=name, created_at=now())).returning(Alliance.id)
        alliance_id = int(row[0]["id"])
        await uow.audit("alliance.create", "alliance", alliance_id, detail=name)
        await insert_user(
            uow,
            username=admin_username,
            password=password,
            display_name=f"{name} admin",
            kind=Kind.alliance_admin,
            alliance_id=alliance_id,
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
    if level not in HOSPITAL_LEVELS:
        raise BadRequest(
            "The level is 'leading' or 'lower'.",
        )
    enabled = check_modules(modules if modules is not None else [m.value for m in Module])
    check_time_zone(time_zone)
    phone = clean_phone(phone)
    address = clean_text(address, N_("address"), 300, required=False)
    taken = N_("The hospital code {code!r} is taken.")
    if await Hospital.exists().where(Hospital.code == code):
        raise Conflict(taken, code=code)
    async with unique_or_conflict(taken, code=code), unit_of_work(ctx) as uow:
        row = await Hospital.insert(
            Hospital(
                alliance=alliance_id,
                name=name,
                code=code,
                level=level,
                modules=_json(enabled),
                time_zone=time_zone,
                phone=phone,
                address=address,
                created_at=now(),
            )
        ).returning(Hospital.id)
        hospital_id = int(row[0]["id"])
        for role_name, perms in DEFAULT_ROLES.items():
            await Role.insert(
                Role(
                    hospital=hospital_id,
                    name=role_name,
                    permissions=_json([p.value for p in perms]),
                    builtin=True,
                    created_at=now(),
                )
            )
        await uow.audit(
            "hospital.create", "hospital", hospital_id, detail=name, hospital_id=hospital_id
        )
    return hospital_id


async def create_department(
    ctx: Ctx, hospital_id: int, name: str, phone: str = "", description: str = ""
) -> int:
    name = clean_text(name, N_("department name"), 200)
    phone = clean_phone(phone)
    description = clean_text(description, N_("description"), 2000, required=False)
    await _department_name_free(hospital_id, name)
    async with unit_of_work(ctx) as uow:
        row = await Department.insert(
            Department(
                hospital=hospital_id,
                name=name,
                phone=phone,
                description=description,
                created_at=now(),
            )
        ).returning(Department.id)
        dept_id = int(row[0]["id"])
        await uow.audit(
            "department.create", "department", dept_id, detail=name, hospital_id=hospital_id
        )
    return dept_id


async def create_account(
    ctx: Ctx,
    *,
    username: str,
    password: str,
    display_name: str,
    kind: Kind,
    alliance_id: int | None,
    hospital_id: int | None = None,
    department_id: int | None = None,
    role_id: int | None = None,
    phone: str | None = None,
    email: str = "",
    must_change_password: bool = False,
) -> int:
    await _username_free(username, phone)
    checked = await check_new_password(None, username, password, temporary=must_change_password)
    async with (
        unique_or_conflict(
            "The user name {username!r} or the phone number is taken.", username=username
        ),
        unit_of_work(ctx) as uow,
    ):
        return await insert_user(
            uow,
            username=username,
            password=checked,
            display_name=display_name,
            kind=kind,
            alliance_id=alliance_id,
            hospital_id=hospital_id,
            department_id=department_id,
            role_id=role_id,
            phone=phone,
            email=email,
        )


# --- hospitals (SPEC 8.1) -------------------------------------------------------------------


def logo_url(row: dict[str, Any]) -> str | None:
    if not row["logo_file"]:
        return None
    # The random part of the file name changes with every upload: a cache-busting version.
    return f"/api/manage/hospitals/{row['id']}/logo?v={row['logo_file'].rsplit('-', 1)[-1][:8]}"


def hospital_read(row: dict[str, Any]) -> HospitalRead:
    return HospitalRead(
        id=row["id"],
        alliance_id=row["alliance"],
        name=row["name"],
        code=row["code"],
        level=row["level"],
        time_zone=row["time_zone"],
        modules=list(msgspec.json.decode(row["modules"] or "[]")),
        phone=row["phone"],
        address=row["address"],
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
        if data.level not in HOSPITAL_LEVELS:
            raise BadRequest(
                "The level is 'leading' or 'lower'.",
            )
        values[Hospital.level] = data.level
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
        await versioned_update(Hospital, hospital_id, values, data.version, N_("hospital"))
        await uow.audit(
            "hospital.update",
            "hospital",
            hospital_id,
            detail=", ".join(changed_fields(data)),
            hospital_id=hospital_id,
        )
    return await get_hospital(actor, hospital_id)


async def set_self_review(ctx: Ctx, hospital_id: int, data: SelfReviewUpdate) -> HospitalRead:
    """The hospital admin (or his alliance admin) decides whether the author of a report may
    also review it; most hospitals say no (the default)."""
    actor = actor_of(ctx)
    await get_visible(Hospital, hospital_id, actor, "hospital")
    values = {Hospital.self_review_allowed: data.self_review_allowed}
    async with unit_of_work(ctx) as uow:
        await versioned_update(Hospital, hospital_id, values, data.version, N_("hospital"))
        await uow.audit(
            "hospital.update",
            "hospital",
            hospital_id,
            detail=f"self_review_allowed={str(data.self_review_allowed).lower()}",
            hospital_id=hospital_id,
        )
    return await get_hospital(actor, hospital_id)


async def set_modules(ctx: Ctx, hospital_id: int, modules: list[str]) -> HospitalRead:
    """Switch feature modules; doctors' pages of the hospital hear it on the live channel."""
    actor = actor_of(ctx)
    before = await get_visible(Hospital, hospital_id, actor, "hospital")
    enabled = check_modules(modules)
    old = set(msgspec.json.decode(before["modules"] or "[]"))
    async with unit_of_work(ctx) as uow:
        await versioned_update(
            Hospital,
            hospital_id,
            {Hospital.modules: _json(enabled)},
            UNSET,
            N_("hospital"),
        )
        on, off = sorted(set(enabled) - old), sorted(old - set(enabled))
        await uow.audit(
            "hospital.modules",
            "hospital",
            hospital_id,
            detail=f"on: {', '.join(on) or '-'}; off: {', '.join(off) or '-'}",
            hospital_id=hospital_id,
        )
        await uow.event(f"hospital:{hospital_id}", "hospital.modules", {"modules": enabled})
    return await get_hospital(actor, hospital_id)


# --- departments (SPEC 8.2) -----------------------------------------------------------------


async def _department_name_free(hospital_id: int, name: str, except_id: int = 0) -> None:
    if await Department.exists().where(
        Department.hospital == hospital_id, Department.name == name, Department.id != except_id
    ):
        raise Conflict(
            "The hospital already has a department named {name!r}.",
            name=name,
        )


def department_read(row: dict[str, Any], doctor_count: int = 0) -> DepartmentRead:
    return DepartmentRead(
        id=row["id"],
        hospital_id=row["hospital"],
        name=row["name"],
        phone=row["phone"],
        description=row["description"],
        active=bool(row["active"]),
        doctor_count=doctor_count,
        version=int(row["version"]),
    )


async def user_counts(column: Any, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    name = column._meta.name
    rows = await User.select(column).where(column.is_in(ids))
    counts: dict[int, int] = {}
    for r in rows:
        counts[r[name]] = counts.get(r[name], 0) + 1
    return counts


async def list_departments(actor: Actor, hospital_id: int | None = None) -> list[DepartmentRead]:
    query = visible(Department, actor).order_by(Department.name)
    if hospital_id is not None:
        query = query.where(Department.hospital == hospital_id)
    rows = await query
    counts = await user_counts(User.department, [r["id"] for r in rows])
    return [department_read(r, counts.get(r["id"], 0)) for r in rows]


async def get_department(actor: Actor, department_id: int) -> DepartmentRead:
    row = await get_visible(Department, department_id, actor, "department")
    counts = await user_counts(User.department, [department_id])
    return department_read(row, counts.get(department_id, 0))


def own_hospital(actor: Actor) -> int:
    if actor.hospital_id is None:
        raise Forbidden("Only a hospital administrator may do this.")
    return actor.hospital_id


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
