"""Passwords (SPEC 1.3, 1.5): the rules every new password passes, the user's own change,
and the reset by a code sent through the bound channel.

Hashing runs off the event loop. A refusal reads the same and takes about the same time
whether or not the account exists (``dummy_hash``), so nobody learns which names are real.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import anyio

from api import codes
from api.accounts import throttle
from api.accounts.users import audit_alone, audited_as, find_user, require_actor
from kernel import security
from kernel.errors import BadRequest
from kernel.settings import get_settings
from store.tables import PasswordHistory, Session, User
from store.uow import Ctx, UnitOfWork, audit_refusal, now, unit_of_work


async def verify(password_hash: str, password: str) -> bool:
    return await anyio.to_thread.run_sync(security.verify_password, password_hash, password)


async def _hash(password: str) -> str:
    return await anyio.to_thread.run_sync(security.hash_password, password)


@functools.cache
def dummy_hash() -> str:
    """A hash to check a password against when there is no account: the same time."""
    return security.hash_password("not-a-real-password-for-timing")


@dataclass(frozen=True)
class NewPassword:
    """A hash of a password that passed the rules for one user; only ``check_new_password``
    makes one, and ``set_password`` takes nothing else, so no path can skip the rules."""

    user_id: int | None  # None: an account not created yet (it has no history)
    password_hash: str
    temporary: bool  # set by an administrator; the user must change it at the next login


async def check_new_password(
    user_id: int | None, username: str, password: str, *, temporary: bool = False
) -> NewPassword:
    """The rules of every password change (SPEC 1.3): strong enough, and different from
    the current password and from the last ``AIMIS_PASSWORD_HISTORY`` passwords the user
    chose. Temporary passwords (an administrator's reset or a new account's first) are not
    kept in the history, so resetting an account five times cannot push the user's own
    passwords out of it."""
    problem = security.password_problem(password, username)
    if problem:
        raise BadRequest(problem.en)
    if user_id is not None:
        keep = get_settings().passwords.history
        current = await User.select(User.password_hash).where(User.id == user_id).first()
        recent = (
            await PasswordHistory.select(PasswordHistory.password_hash)
            .where(PasswordHistory.user == user_id)
            .order_by(PasswordHistory.id, ascending=False)
            .limit(keep)
        )
        hashes = [r["password_hash"] for r in [*([current] if current else []), *recent]]
        for password_hash in dict.fromkeys(hashes):  # the current is often the newest kept
            if await verify(password_hash, password):
                raise BadRequest(
                    "The new password must differ from the current one and from your "
                    "last {keep} passwords.",
                    keep=keep,
                )
    return NewPassword(user_id, await _hash(password), temporary)


async def set_password(uow_ctx: Ctx, user_id: int, new: NewPassword) -> None:
    """Store a checked password (inside the caller's unit of work); a password the user
    chose also goes into the history."""
    if new.user_id not in (None, user_id):
        raise ValueError("a password checked for another user")
    await User.update(
        {
            User.password_hash: new.password_hash,
            User.must_change_password: new.temporary,
            User.version: User.version + 1,
        }
    ).where(User.id == user_id)
    if not new.temporary:
        await PasswordHistory.insert(
            PasswordHistory(user=user_id, password_hash=new.password_hash, created_at=now())
        )


async def change_password(ctx: Ctx, old_password: str, new_password: str) -> None:
    actor = require_actor(ctx)
    # A wrong current password is a failed login: the same budgets, so a stolen session
    # cannot guess the password here without end.
    attempt = await throttle.login_attempt(ctx.ip, actor.username)
    user = await User.select().where(User.id == actor.user_id).first()
    if user is None or not await verify(user["password_hash"], old_password):
        await audit_refusal(ctx, "password.change", "wrong current password", "failure")
        raise BadRequest("The current password is wrong.", audited=True)
    await attempt.not_a_failure()
    checked = await check_new_password(actor.user_id, actor.username, new_password)
    async with unit_of_work(ctx) as uow:
        await set_password(ctx, actor.user_id, checked)
        # Other sessions of this user end; this one stays.
        await Session.update({Session.revoked: True}).where(
            Session.user == actor.user_id, Session.id != actor.session_id
        )
        await uow.audit("password.change", "user", actor.user_id)
        # The user's other browsers learn at once that their sessions ended.
        await uow.event(f"user:{actor.user_id}", "account.password_changed", {})


async def request_reset(ctx: Ctx, identifier: str) -> None:
    """Send a 6-digit code through the user's bound channel. Throttled per client address
    and per account name; an unknown account gets the same answer in about the same time."""
    await throttle.forgot_request(ctx.ip, identifier)
    user = await find_user(identifier)
    code, code_hash = await codes.new_code()  # for an unknown account too: the same time
    if user is None:
        await audit_refusal(ctx, "password.reset_request", "unknown account", "failure")
        return
    async with unit_of_work(ctx) as uow:
        await send_code(uow, user["id"], code, code_hash)
        await uow.audit("password.reset_request", "user", user["id"], **audited_as(user))


async def send_code(uow: UnitOfWork, user_id: int, code: str, code_hash: str, **about: str) -> int:
    """A new code for the user (earlier unused ones end), on its way (``notify.reset_code``)
    inside the caller's unit of work: a reset code through the user's bound channel; with
    ``about`` ``phone`` (the number being bound) by text message to that number. Returns the
    code's row id."""
    minutes = get_settings().login.reset_code_minutes
    return await codes.issue(
        uow, codes.RESET_CODES, user_id, code, code_hash, minutes, {"user_id": user_id, **about}
    )


def wrong_code() -> BadRequest:
    """Every refusal of a code reads the same (no word on tries left, which only a real
    account's code has): a stranger learns nothing about the account."""
    return BadRequest(
        "The verification code is wrong or has expired. A code allows "
        "{reset_code_tries} tries; then request a new one.",
        reset_code_tries=get_settings().login.reset_code_tries,
    )


async def check_code(
    ctx: Ctx, user: dict | None, code: str, action: str, bound_to: str = ""
) -> tuple[dict, int]:
    """The user's latest code, checked: one try counted before the comparison (a code allows
    ``AIMIS_RESET_CODE_TRIES``), wrong guesses per client address throttled, a wrong code
    audited as ``action``. Returns the account and the code's row id for ``claim_code``;
    raises ``wrong_code()`` for every refusal, ``user`` None (no such account) included."""
    attempt = await throttle.reset_attempt(ctx.ip)
    tries = get_settings().login.reset_code_tries
    reset = None if user is None else await codes.live_code(codes.RESET_CODES, user["id"], tries)
    if user is None or reset is None:
        await verify(dummy_hash(), code)  # the same time as a real comparison
        raise wrong_code()
    if not await verify(reset["code_hash"], codes.code_secret(code, bound_to)):
        await audit_alone(ctx, user, action, "wrong code", "failure")
        raise wrong_code()
    await attempt.not_a_failure()
    return user, int(reset["id"])


async def claim_code(reset_id: int) -> None:
    """Use a checked code up, inside the caller's unit of work: of two concurrent requests
    with the right code, one claims it; the other gets ``wrong_code()``."""
    if not await codes.claim(codes.RESET_CODES, reset_id):
        raise wrong_code()


async def reset_password(ctx: Ctx, identifier: str, code: str, new_password: str) -> None:
    """A new password with the code sent by ``request_reset``."""
    user, reset_id = await check_code(ctx, await find_user(identifier), code, "password.reset")
    checked = await check_new_password(user["id"], user["username"], new_password)
    async with unit_of_work(ctx) as uow:
        await claim_code(reset_id)
        await set_password(ctx, user["id"], checked)
        await Session.update({Session.revoked: True}).where(Session.user == user["id"])
        await uow.audit("password.reset", "user", user["id"], **audited_as(user))
