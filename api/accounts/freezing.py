"""Wrong passwords and the daily freeze (SPEC 1.2): each wrong password counts for the
account's local day; the limit freezes the account until the next day starts there.

A name that is no account answers exactly like one, and no refusal says how many tries
are left: a stranger cannot tell real accounts from made-up names.
"""

from __future__ import annotations

from typing import NoReturn

from api.accounts import throttle
from api.accounts.passwords import dummy_hash, verify
from api.accounts.users import audit_alone, audited_as, hospital_time_zone
from kernel.clock import local_day
from kernel.errors import Locked, Unauthorized
from kernel.settings import get_settings
from store.tables import User
from store.uow import Ctx, audit_refusal, unit_of_work, write_audit


async def _count_failure(user_id: int, day: str) -> tuple[int, bool] | None:
    """Count one wrong password atomically; None if the account was already frozen.

    One UPDATE ... RETURNING, guarded by ``frozen = FALSE``, so fifty concurrent wrong
    passwords count exactly up to the limit and no further.
    """
    limit = get_settings().login.max_failed_logins
    rows = await User.raw(
        "UPDATE app_user SET "
        "failed_count = CASE WHEN failed_day = {} THEN failed_count + 1 ELSE 1 END, "
        "frozen = CASE WHEN (CASE WHEN failed_day = {} THEN failed_count + 1 ELSE 1 END) >= {} "
        "THEN TRUE ELSE frozen END, "
        "frozen_reason = CASE WHEN (CASE WHEN failed_day = {} THEN failed_count + 1 ELSE 1 END) "
        ">= {} THEN 'failed_logins' ELSE frozen_reason END, "
        "frozen_day = {}, failed_day = {}, version = version + 1 "
        "WHERE id = {} AND frozen = FALSE RETURNING failed_count, frozen",
        day,
        day,
        limit,
        day,
        limit,
        day,
        day,
        user_id,
    )
    if not rows:
        return None
    return int(rows[0]["failed_count"]), bool(rows[0]["frozen"])


def frozen_refusal() -> Locked:
    """The refusal of an account frozen for wrong passwords (already audited)."""
    return Locked(
        "This account is frozen after too many wrong passwords today. It unfreezes "
        "at the start of tomorrow, or ask your hospital administrator to unfreeze "
        "it.",
        audited=True,
    )


async def expire_stale_freeze(user: dict) -> dict:
    """A freeze for wrong passwords ends at the start of the next local day."""
    if user["frozen"] and user["frozen_reason"] == "failed_logins":
        today = local_day(await hospital_time_zone(user["hospital"]))
        if user["frozen_day"] and user["frozen_day"] < today:
            await User.update(
                {
                    User.frozen: False,
                    User.frozen_reason: "",
                    User.failed_count: 0,
                    User.version: User.version + 1,
                }
            ).where(User.id == user["id"], User.frozen_day == user["frozen_day"])
            return {**user, "frozen": False, "frozen_reason": "", "failed_count": 0}
    return user


def _wrong() -> Unauthorized:
    """The refusal of a wrong password, word for word the same whether the account exists,
    is frozen by an administrator, or does not exist: it never says how many tries are left
    (that count exists only for real accounts, so saying it would tell them apart)."""
    return Unauthorized("Wrong user name or password.", audited=True)


async def unknown_account(ctx: Ctx, identifier: str, password: str) -> NoReturn:
    """A name that is no account answers like one: the same time (a password check), the
    same sentence, and a freeze after the same number of tries in a day."""
    limit = get_settings().login.max_failed_logins
    count = await throttle.unknown_account_failure(identifier)
    if count <= limit:
        await verify(dummy_hash(), password)
    await audit_refusal(ctx, "login", f"unknown account {identifier[:64]!r}", "failure")
    if count >= limit:
        raise frozen_refusal()
    raise _wrong()


async def wrong_password(ctx: Ctx, user: dict) -> NoReturn:
    """Count the wrong password for the account's day; the limit freezes it."""
    await audit_alone(ctx, user, "login", "wrong password", "failure")
    if user["frozen"]:  # frozen by an administrator: nothing to count
        raise _wrong()
    day = local_day(await hospital_time_zone(user["hospital"]))
    counted = await _count_failure(user["id"], day)
    if counted is None:
        raise frozen_refusal()
    count, frozen = counted
    if frozen:
        await _announce_freeze(ctx, user, count, day)
        raise frozen_refusal()
    raise _wrong()


async def _announce_freeze(ctx: Ctx, user: dict, count: int, day: str) -> None:
    """Audit the freeze and tell the hospital's admins live."""
    async with unit_of_work(ctx) as uow:
        detail = f"{count} wrong passwords on {day}"
        await write_audit(
            ctx, "account.freeze", "user", user["id"], detail=detail, **audited_as(user)
        )
        if user["hospital"] is not None:
            await uow.event(
                f"hospital:{user['hospital']}",
                "account.frozen",
                {"user_id": user["id"], "username": user["username"]},
            )
