"""The account row as login, password and QR services share it: found by the name a person
types, dated in its hospital's time zone, audited in its own name (it has no session yet)."""

from __future__ import annotations

from typing import Any

from kernel import phones
from kernel.errors import Unauthorized
from kernel.settings import get_settings
from store.tables import Hospital, User
from store.uow import Actor, Ctx, unit_of_work, write_audit


async def find_user(identifier: str) -> dict | None:
    """The account a person means by a user name or a phone number (in any spacing: the
    number is compared in its stored form, ``kernel.phones.compact``)."""
    identifier = identifier.strip()
    if not identifier:
        return None
    phone = phones.compact(identifier)
    return await User.select().where((User.username == identifier) | (User.phone == phone)).first()


async def hospital_time_zone(hospital_id: int | None) -> str:
    """The hospital's time zone name; the server's for no hospital (an alliance admin)."""
    if hospital_id is not None:
        row = await Hospital.select(Hospital.time_zone).where(Hospital.id == hospital_id).first()
        if row:
            return str(row["time_zone"])
    return get_settings().server.time_zone


def audited_as(user: dict) -> dict[str, Any]:
    """The audit row's who for an account acting before it has a session."""
    return {"user_id": user["id"], "username": user["username"], "hospital_id": user["hospital"]}


async def audit_alone(
    ctx: Ctx, user: dict, action: str, detail: str, outcome: str = "success"
) -> None:
    """One audit row about ``user`` in a transaction of its own (no change goes with it)."""
    async with unit_of_work(ctx):
        await write_audit(
            ctx, action, "user", user["id"], outcome=outcome, detail=detail, **audited_as(user)
        )


def require_actor(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized("Please log in.")
    return ctx.actor
