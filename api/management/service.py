"""Management platform services (SPEC 8.1–8.3): alliances, hospitals, departments, users,
roles. Reads go through ``store.scoping``; writes through ``unit_of_work`` with an audit row.
"""

from __future__ import annotations

import anyio
import msgspec

from aimis import security
from aimis.domain import DEFAULT_ROLES, Kind, Module
from aimis.errors import BadRequest, Conflict, Forbidden
from api.accounts.service import set_password
from store.tables import Alliance, Department, Hospital, Role, User
from store.uow import Ctx, UnitOfWork, now, unit_of_work


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


async def _hash_checked(password: str, username: str) -> str:
    problem = security.password_problem(password, username)
    if problem:
        raise BadRequest(problem)
    return await anyio.to_thread.run_sync(security.hash_password, password)


async def _username_free(username: str, phone: str | None) -> None:
    if (
        not username
        or len(username) > 64
        or not username.replace("_", "").replace(".", "").replace("-", "").isalnum()
    ):
        raise BadRequest("A user name has 1–64 letters, digits, '.', '_' or '-'.")
    if await User.exists().where(User.username == username):
        raise Conflict(f"The user name {username!r} is taken.")
    if phone and await User.exists().where(User.phone == phone):
        raise Conflict(f"The phone number {phone} belongs to another account.")


async def insert_user(
    uow: UnitOfWork,
    *,
    username: str,
    password_hash: str,
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
            password_hash=password_hash,
            must_change_password=must_change_password,
            created_at=now(),
        )
    ).returning(User.id)
    user_id = int(row[0]["id"])
    await set_password(uow.ctx, user_id, password_hash, must_change=must_change_password)
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
        raise Conflict(f"An alliance named {name!r} exists already.")
    await _username_free(admin_username, None)
    password_hash = await _hash_checked(admin_password, admin_username)
    async with unit_of_work(ctx) as uow:
        row = await Alliance.insert(Alliance(name=name, created_at=now())).returning(Alliance.id)
        alliance_id = int(row[0]["id"])
        await uow.audit("alliance.create", "alliance", alliance_id, detail=name)
        await insert_user(
            uow,
            username=admin_username,
            password_hash=password_hash,
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
) -> int:
    actor = ctx.actor
    if actor is not None and (
        actor.kind != Kind.alliance_admin or actor.alliance_id != alliance_id
    ):
        raise Forbidden("Only an administrator of this alliance may add hospitals.")
    if level not in ("leading", "lower"):
        raise BadRequest("The level is 'leading' or 'lower'.")
    enabled = list(modules if modules is not None else [m.value for m in Module])
    unknown = set(enabled) - {m.value for m in Module}
    if unknown:
        raise BadRequest(f"Unknown modules: {', '.join(sorted(unknown))}.")
    if not name.strip() or not code.strip():
        raise BadRequest("A hospital needs a name and a code.")
    if await Hospital.exists().where(Hospital.code == code):
        raise Conflict(f"The hospital code {code!r} is taken.")
    async with unit_of_work(ctx) as uow:
        row = await Hospital.insert(
            Hospital(
                alliance=alliance_id,
                name=name.strip(),
                code=code.strip(),
                level=level,
                modules=_json(enabled),
                time_zone=time_zone,
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


async def create_department(ctx: Ctx, hospital_id: int, name: str, phone: str = "") -> int:
    if not name.strip():
        raise BadRequest("A department needs a name.")
    async with unit_of_work(ctx) as uow:
        row = await Department.insert(
            Department(hospital=hospital_id, name=name.strip(), phone=phone, created_at=now())
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
    password_hash = await _hash_checked(password, username)
    async with unit_of_work(ctx) as uow:
        return await insert_user(
            uow,
            username=username,
            password_hash=password_hash,
            display_name=display_name,
            kind=kind,
            alliance_id=alliance_id,
            hospital_id=hospital_id,
            department_id=department_id,
            role_id=role_id,
            phone=phone,
            email=email,
            must_change_password=must_change_password,
        )
