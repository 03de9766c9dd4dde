"""People on the management platform (SPEC 1.6, 8.3): alliance admins add hospital admins,
hospital admins add and look after their doctors.

A hospital admin reaches only the users of his own hospital (``store.scoping``); a user of
another hospital, or an account that is not a doctor, is reported as not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from msgspec import UNSET

from api.accounts import throttle
from api.accounts.passwords import check_new_password, set_password
from api.accounts.users import hospital_time_zone
from api.crud import changed_fields, from_row, unique_or_conflict, versioned_update
from api.management.access import check_department, check_role, doctor_row, managed_row
from api.management.new_accounts import create_account
from api.management.schemas import (
    AdminCreate,
    DoctorCreate,
    DoctorPage,
    DoctorUpdate,
    PasswordReset,
    UserCreated,
    UserRead,
)
from api.management.service import (
    actor_of,
    clean_email,
    clean_phone,
    clean_text,
    own_hospital,
    temporary_password,
)
from kernel import phones
from kernel.clock import local_day
from kernel.domain import Kind
from kernel.errors import BadRequest, Conflict
from kernel.i18n import N_, gettext
from store.scoping import get_visible, hospital_ids_clause, visible
from store.tables import Hospital, Session, User
from store.uow import Actor, Ctx, unit_of_work

PAGE_SIZE = 50
DOCTOR_STATUSES = ("", "active", "inactive", "frozen")

USER_COLUMNS = (
    User.id,
    User.username,
    User.display_name,
    User.kind,
    User.phone,
    User.email,
    User.hospital,
    User.department,
    User.department.name,
    User.role,
    User.role.name,  # type: ignore[union-attr]
    User.active,
    User.frozen,
    User.frozen_reason,
    User.must_change_password,
    User.version,
    User.created_at,
)


def user_read(row: dict[str, Any]) -> UserRead:
    return from_row(
        UserRead,
        row,
        phone=row["phone"] or "",
        hospital_id=row["hospital"],
        department_id=row["department"],
        department_name=row["department.name"] or "",
        role_id=row["role"],
        role_name=row["role.name"] or "",
        active=bool(row["active"]),
        frozen=bool(row["frozen"]),
        must_change_password=bool(row["must_change_password"]),
        version=int(row["version"]),
        created_at=row["created_at"].isoformat(),
    )


async def _read_user(user_id: int) -> UserRead:
    row = await User.select(*USER_COLUMNS).where(User.id == user_id).first()
    assert row is not None
    return user_read(row)


def _created(user: UserRead, generated: str | None) -> UserCreated:
    if generated:
        message = (
            f"Account {user.username} created. Temporary password: {generated} — it is shown "
            "only now; the user must change it at first login."
        )
    else:
        message = (
            f"Account {user.username} created; the user must change the password at first login."
        )
    return UserCreated(user=user, temporary_password=generated, message=message)


def _phone_or_none(value: str) -> str | None:
    """A staff account's number as it is stored and compared (``kernel.phones.compact``):
    "139 0000 0002" is the "13900000002" bound elsewhere."""
    return phones.compact(clean_phone(value)) or None


# --- hospital admins (alliance admin) -------------------------------------------------------


async def list_admins(actor: Actor, hospital_id: int) -> list[UserRead]:
    await get_visible(Hospital, hospital_id, actor, "hospital")
    rows = await (
        visible(User, actor, *USER_COLUMNS)
        .where(User.hospital == hospital_id, User.kind == Kind.hospital_admin.value)
        .order_by(User.username)
    )
    return [user_read(r) for r in rows]


async def add_admin(ctx: Ctx, hospital_id: int, data: AdminCreate) -> UserCreated:
    actor = actor_of(ctx)
    hospital = await get_visible(Hospital, hospital_id, actor, "hospital")
    generated = None if data.password else temporary_password()
    user_id = await create_account(
        ctx,
        username=data.username.strip(),
        password=data.password or str(generated),
        display_name=clean_text(data.display_name, N_("display name"), 100),
        kind=Kind.hospital_admin,
        alliance_id=hospital["alliance"],
        hospital_id=hospital_id,
        phone=_phone_or_none(data.phone),
        email=clean_email(data.email),
        must_change_password=True,
    )
    return _created(await _read_user(user_id), generated)


# --- doctors (hospital admin) ---------------------------------------------------------------


@dataclass(frozen=True)
class DoctorQuery:
    """The doctor list's filter: a text in the name, user name or phone; a status
    (``DOCTOR_STATUSES``); a department; a role."""

    q: str = ""
    status: str = ""
    department_id: int | None = None
    role_id: int | None = None


def provide_doctor_query(
    q: str = "", status: str = "", department_id: int | None = None, role_id: int | None = None
) -> DoctorQuery:
    """The filter from a request's query parameters (a Litestar dependency)."""
    return DoctorQuery(q, status, department_id, role_id)


async def list_doctors(
    actor: Actor, query: DoctorQuery = DoctorQuery(), page: int = 1
) -> DoctorPage:
    q, status, department_id, role_id = query.q, query.status, query.department_id, query.role_id
    if status not in DOCTOR_STATUSES:
        raise BadRequest(
            "The status filter is one of: active, inactive, frozen (or empty).",
        )
    page = max(page, 1)
    where: list[Any] = [hospital_ids_clause(User, actor), User.kind == Kind.doctor.value]
    q = q.strip()[:100]
    if q:
        like = f"%{q}%"
        where.append(
            User.username.ilike(like) | User.display_name.ilike(like) | User.phone.ilike(like)
        )
    if status == "active":
        where += [User.active == True, User.frozen == False]  # noqa: E712
    elif status == "inactive":
        where.append(User.active == False)  # noqa: E712
    elif status == "frozen":
        where.append(User.frozen == True)  # noqa: E712
    if department_id is not None:
        where.append(User.department == department_id)
    if role_id is not None:
        where.append(User.role == role_id)
    total = await User.count().where(*where)
    rows = await (
        User.select(*USER_COLUMNS)
        .where(*where)
        .order_by(User.display_name)
        .order_by(User.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    return DoctorPage(
        items=[user_read(r) for r in rows], total=total, page=page, page_size=PAGE_SIZE
    )


async def count_doctors(actor: Actor, hospital_id: int) -> int:
    return await User.count().where(
        hospital_ids_clause(User, actor),
        User.hospital == hospital_id,
        User.kind == Kind.doctor.value,
    )


async def get_doctor(actor: Actor, user_id: int) -> UserRead:
    await doctor_row(actor, user_id)
    return await _read_user(user_id)


async def add_doctor(ctx: Ctx, data: DoctorCreate) -> UserCreated:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    display_name = clean_text(data.display_name, N_("display name"), 100)
    phone = _phone_or_none(data.phone)
    email = clean_email(data.email)
    await check_department(actor, hospital_id, data.department_id)
    await check_role(actor, hospital_id, data.role_id)
    generated = None if data.password else temporary_password()
    user_id = await create_account(
        ctx,
        username=data.username.strip(),
        password=data.password or str(generated),
        display_name=display_name,
        kind=Kind.doctor,
        alliance_id=actor.alliance_id,
        hospital_id=hospital_id,
        department_id=data.department_id,
        role_id=data.role_id,
        phone=phone,
        email=email,
        must_change_password=True,
    )
    return _created(await _read_user(user_id), generated)


async def update_doctor(ctx: Ctx, user_id: int, data: DoctorUpdate) -> UserRead:
    actor = actor_of(ctx)
    row = await doctor_row(actor, user_id)
    values: dict[Any, Any] = {}
    if data.display_name is not UNSET:
        values[User.display_name] = clean_text(data.display_name, N_("display name"), 100)
    if data.email is not UNSET:
        values[User.email] = clean_email(data.email)
    if data.phone is not UNSET:
        phone = _phone_or_none(data.phone)
        if phone and await User.exists().where(User.phone == phone, User.id != user_id):
            raise Conflict(
                "The phone number {phone} belongs to another account.",
                phone=phone,
            )
        values[User.phone] = phone
    if data.department_id is not UNSET:
        await check_department(actor, row["hospital"], data.department_id)
        values[User.department] = data.department_id
    if data.role_id is not UNSET:
        await check_role(actor, row["hospital"], data.role_id)
        values[User.role] = data.role_id
    async with (
        unique_or_conflict("The phone number belongs to another account."),
        unit_of_work(ctx) as uow,
    ):
        await versioned_update(User, user_id, values, data.version, N_("doctor"))
        await uow.audit(
            "user.update",
            "user",
            user_id,
            detail=f"{row['username']}: {', '.join(changed_fields(data))}",
            hospital_id=row["hospital"],
        )
    return await _read_user(user_id)


async def _revoke_sessions(user_id: int) -> None:
    await Session.update({Session.revoked: True}).where(
        Session.user == user_id,
        Session.revoked == False,  # noqa: E712
    )


async def set_active(ctx: Ctx, user_id: int, active: bool) -> UserRead:
    """Deactivating ends the account's sessions at once; the account keeps its history."""
    actor = actor_of(ctx)
    row = await managed_row(actor, user_id)
    async with unit_of_work(ctx) as uow:
        await versioned_update(User, user_id, {User.active: active}, UNSET, N_("doctor"))
        if not active:
            await _revoke_sessions(user_id)
        await uow.audit(
            "user.activate" if active else "user.deactivate",
            "user",
            user_id,
            detail=row["username"],
            hospital_id=row["hospital"],
        )
    return await _read_user(user_id)


async def set_frozen(ctx: Ctx, user_id: int, frozen: bool) -> UserRead:
    """An admin's freeze lasts until an admin unfreezes (SPEC 1.2); unfreezing also clears
    today's count of wrong passwords so the doctor gets all his tries back."""
    actor = actor_of(ctx)
    row = await managed_row(actor, user_id)
    values: dict[Any, Any]
    if frozen:
        day = local_day(await hospital_time_zone(row["hospital"]))
        values = {User.frozen: True, User.frozen_reason: "admin", User.frozen_day: day}
    else:
        values = {User.frozen: False, User.frozen_reason: "", User.failed_count: 0}
    async with unit_of_work(ctx) as uow:
        await versioned_update(User, user_id, values, UNSET, N_("doctor"))
        if frozen:
            await _revoke_sessions(user_id)
        await uow.audit(
            "account.freeze" if frozen else "account.unfreeze",
            "user",
            user_id,
            detail=f"{row['username']} by administrator",
            hospital_id=row["hospital"],
        )
    if not frozen:
        await throttle.forget_account(row["username"], row["phone"])
    return await _read_user(user_id)


async def reset_password(ctx: Ctx, user_id: int) -> PasswordReset:
    """A temporary password, shown once; the user must change it and is logged out."""
    actor = actor_of(ctx)
    row = await managed_row(actor, user_id)
    password = temporary_password()
    checked = await check_new_password(user_id, row["username"], password, temporary=True)
    async with unit_of_work(ctx) as uow:
        await set_password(ctx, user_id, checked)
        await _revoke_sessions(user_id)
        await uow.audit(
            "user.password_reset",
            "user",
            user_id,
            detail=row["username"],
            hospital_id=row["hospital"],
        )
    return PasswordReset(
        temporary_password=password,
        message=gettext(
            "Temporary password for {username}: {password} — it is shown only now; "
            "it must be changed at the next login.",
            username=row["username"],
            password=password,
        ),
    )
