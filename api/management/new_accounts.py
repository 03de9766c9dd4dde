"""New accounts: the user name rule, the first password (checked by ``api.accounts``) and
the insert with its audit row. Administrators' forms are ``people``'s; this is what they,
the operator's new alliance, the demo and the tests share."""

from __future__ import annotations

from typing import Any

from api.accounts.passwords import NewPassword, check_new_password, set_password
from api.crud import unique_or_conflict
from api.management.service import insert_id
from kernel import phones
from kernel.domain import Kind
from kernel.errors import BadRequest, Conflict
from store.tables import User
from store.uow import Ctx, UnitOfWork, now, unit_of_work


async def username_free(username: str, phone: str | None) -> None:
    """The user name is well formed and nobody's, and so is the phone number."""
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


async def insert_user(uow: UnitOfWork, password: NewPassword, **columns: Any) -> int:
    """Insert a user (``columns`` of ``User``) with its checked first password, audited."""
    user_id = await insert_id(
        User(
            **columns,
            password_hash=password.password_hash,
            must_change_password=password.temporary,
            created_at=now(),
        )
    )
    await set_password(uow.ctx, user_id, password)
    await uow.audit(
        "user.create",
        "user",
        user_id,
        detail=f"{columns['kind']} {columns['username']}",
        hospital_id=columns.get("hospital"),
    )
    return user_id


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
    """A new account in a transaction of its own (the forms, the demo, the tests); the phone
    number in its stored form (``kernel.phones.compact``)."""
    phone = phones.compact(phone or "") or None
    await username_free(username, phone)
    checked = await check_new_password(None, username, password, temporary=must_change_password)
    async with (
        unique_or_conflict(
            "The user name {username!r} or the phone number is taken.", username=username
        ),
        unit_of_work(ctx) as uow,
    ):
        return await insert_user(
            uow,
            checked,
            username=username,
            phone=phone or None,
            email=email,
            display_name=display_name,
            kind=kind.value,
            alliance=alliance_id,
            hospital=hospital_id,
            department=department_id,
            role=role_id,
        )
