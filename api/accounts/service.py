"""Accounts: login, freezing, sessions, password change and reset, QR login (SPEC §1)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

import anyio
import msgspec

from api.accounts import throttle
from api.accounts.schemas import MeOut
from kernel import security
from kernel.clock import local_day
from kernel.domain import ADMIN_KINDS
from kernel.errors import BadRequest, Forbidden, Locked, NotFound, Unauthorized
from kernel.settings import get_settings
from store.tables import Hospital, PasswordHistory, QrLogin, ResetCode, Role, Session, User
from store.uow import Actor, Ctx, audit_refusal, now, unit_of_work, write_audit

log = logging.getLogger(__name__)

REALM_APP = "app"
REALM_ADMIN = "admin"


@dataclass(frozen=True)
class NewSession:
    token: str
    user_id: int
    realm: str


async def _user_time_zone(user: dict) -> str:
    if user.get("hospital"):
        tz = (
            await Hospital.select(Hospital.time_zone).where(Hospital.id == user["hospital"]).first()
        )
        if tz:
            return str(tz["time_zone"])
    return get_settings().server.time_zone


async def find_user(identifier: str) -> dict | None:
    identifier = identifier.strip()
    if not identifier:
        return None
    return (
        await User.select()
        .where((User.username == identifier) | (User.phone == identifier))
        .first()
    )


async def _verify(password_hash: str, password: str) -> bool:
    return await anyio.to_thread.run_sync(security.verify_password, password_hash, password)


async def _hash(password: str) -> str:
    return await anyio.to_thread.run_sync(security.hash_password, password)


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


def _frozen() -> Locked:
    """The refusal of an account frozen for wrong passwords (already audited)."""
    return Locked(
        "This account is frozen after too many wrong passwords today. It unfreezes "
        "at the start of tomorrow, or ask your hospital administrator to unfreeze "
        "it.",
        audited=True,
    )


async def _expire_stale_freeze(user: dict) -> dict:
    """A freeze for wrong passwords ends at the start of the next local day."""
    if user["frozen"] and user["frozen_reason"] == "failed_logins":
        today = local_day(await _user_time_zone(user))
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


async def _hospital_active(hospital_id: int) -> bool:
    return bool(await Hospital.exists().where(Hospital.id == hospital_id, Hospital.active == True))  # noqa: E712


async def hospital_name_by_code(code: str | None) -> str:
    """The name of an active hospital, for its printed login QR (public information)."""
    if not code or len(code) > 40:
        return ""
    row = (
        await Hospital.select(Hospital.name)
        .where(Hospital.code == code, Hospital.active == True)  # noqa: E712
        .first()
    )
    return str(row["name"]) if row else ""


def _wrong() -> Unauthorized:
    """The refusal of a wrong password, word for word the same whether the account exists,
    is frozen by an administrator, or does not exist: it never says how many tries are left
    (that count exists only for real accounts, so saying it would tell them apart)."""
    return Unauthorized("Wrong user name or password.", audited=True)


async def _unknown_account(ctx: Ctx, identifier: str, password: str) -> NoReturn:
    """A name that is no account answers like one: the same time (a password check), the
    same sentence, and a freeze after the same number of tries in a day."""
    limit = get_settings().login.max_failed_logins
    count = await throttle.unknown_account_failure(identifier)
    if count <= limit:
        await _verify(_dummy_hash(), password)
    await audit_refusal(ctx, "login", f"unknown account {identifier[:64]!r}", "failure")
    if count >= limit:
        raise _frozen()
    raise _wrong()


async def _wrong_password(ctx: Ctx, user: dict, who: dict) -> NoReturn:
    await _audit_alone(ctx, "login", "wrong password", "failure", **who)
    if user["frozen"]:  # frozen by an administrator: nothing to count
        raise _wrong()
    day = local_day(await _user_time_zone(user))
    counted = await _count_failure(user["id"], day)
    if counted is None:
        raise _frozen()
    count, frozen = counted
    if frozen:
        await _announce_freeze(ctx, count, day, **who)
        raise _frozen()
    raise _wrong()


async def login(ctx: Ctx, identifier: str, password: str, realm: str) -> NewSession:
    """Password login. Failures are throttled per client address and per account name
    (``throttle``) before anything is checked; a right password gives its unit back."""
    attempt = await throttle.login_attempt(ctx.ip, identifier)
    user = await find_user(identifier)
    if user is None:
        await _unknown_account(ctx, identifier, password)
    user = await _expire_stale_freeze(user)
    who = {"user_id": user["id"], "username": user["username"], "hospital_id": user["hospital"]}
    if user["frozen"] and user["frozen_reason"] != "admin":
        await _audit_alone(ctx, "login", "refused: account frozen", "denied", **who)
        raise _frozen()
    if not await _verify(user["password_hash"], password):
        await _wrong_password(ctx, user, who)
    await attempt.not_a_failure()
    if user["frozen"]:  # by an administrator: said only to one who knows the password
        await _audit_alone(ctx, "login", "refused: account frozen", "denied", **who)
        raise Locked(
            "This account is frozen by an administrator.",
            audited=True,
        )
    if not user["active"]:
        await _audit_alone(ctx, "login", "refused: account deactivated", "denied", **who)
        raise Forbidden(
            "This account is deactivated. Ask your hospital administrator.",
            audited=True,
        )
    if user["hospital"] is not None and not await _hospital_active(user["hospital"]):
        await _audit_alone(ctx, "login", "refused: hospital deactivated", "denied", **who)
        raise Forbidden(
            "Your hospital is deactivated in the alliance. Ask the alliance administrator.",
            audited=True,
        )
    is_admin = user["kind"] in ADMIN_KINDS
    if realm == REALM_ADMIN and not is_admin:
        await _audit_alone(ctx, "login", "refused: not an administrator", "denied", **who)
        raise Forbidden(
            "This account is not an administrator; use the doctors' login.",
            audited=True,
        )
    if realm == REALM_APP and is_admin:
        await _audit_alone(
            ctx, "login", "refused: administrator at doctors' login", "denied", **who
        )
        raise Forbidden(
            "Administrators log in through the administrator login.",
            audited=True,
        )
    return await _open_session(ctx, user, realm, "login")


async def _announce_freeze(
    ctx: Ctx, count: int, day: str, *, user_id: int, username: str, hospital_id: int | None
) -> None:
    """Audit the freeze and tell the hospital's admins live."""
    async with unit_of_work(ctx) as uow:
        await write_audit(
            ctx,
            "account.freeze",
            "user",
            user_id,
            detail=f"{count} wrong passwords on {day}",
            user_id=user_id,
            username=username,
            hospital_id=hospital_id,
        )
        if hospital_id is not None:
            await uow.event(
                f"hospital:{hospital_id}",
                "account.frozen",
                {"user_id": user_id, "username": username},
            )


async def _audit_alone(
    ctx: Ctx,
    action: str,
    detail: str,
    outcome: str = "success",
    *,
    user_id: int,
    username: str,
    hospital_id: int | None,
) -> None:
    async with unit_of_work(ctx):
        await write_audit(
            ctx,
            action,
            "user",
            user_id,
            outcome=outcome,
            detail=detail,
            user_id=user_id,
            username=username,
            hospital_id=hospital_id,
        )


async def _open_session(ctx: Ctx, user: dict, realm: str, action: str) -> NewSession:
    settings = get_settings()
    token = security.new_token()
    at = now()
    async with unit_of_work(ctx) as uow:
        await Session.insert(
            Session(
                token_hash=security.token_hash(token),
                user=user["id"],
                realm=realm,
                created_at=at,
                last_seen_at=at,
                expires_at=at + timedelta(hours=settings.login.session_max_hours),
                ip=ctx.ip[:64],
                user_agent=ctx.user_agent[:300],
            )
        )
        await uow.audit(
            action,
            "user",
            user["id"],
            user_id=user["id"],
            username=user["username"],
            hospital_id=user["hospital"],
            detail=f"realm {realm}",
        )
    return NewSession(token, user["id"], realm)


async def actor_for_token(token: str) -> Actor | None:
    """The actor of a live session, or None; touches ``last_seen_at`` at most once a minute."""
    if not token:
        return None
    settings = get_settings()
    row = (
        await Session.select(
            Session.id,
            Session.realm,
            Session.last_seen_at,
            Session.expires_at,
            Session.revoked,
            Session.user.id,
            Session.user.username,
            Session.user.kind,
            Session.user.alliance,
            Session.user.hospital,
            Session.user.department,
            Session.user.active,
            Session.user.frozen,
            Session.user.hospital.active,  # type: ignore[union-attr]
            Session.user.role.permissions,  # type: ignore[union-attr]
        )
        .where(Session.token_hash == security.token_hash(token))
        .first()
    )
    if row is None or row["revoked"]:
        return None
    at = now()
    if at >= row["expires_at"] or at - row["last_seen_at"] > timedelta(
        minutes=settings.login.session_idle_minutes
    ):
        return None
    if not row["user.active"] or row["user.frozen"] or row["user.hospital.active"] is False:
        return None
    if at - row["last_seen_at"] > timedelta(seconds=60):
        await Session.update({Session.last_seen_at: at}).where(Session.id == row["id"])
    perms_raw = row["user.role.permissions"]
    perms = frozenset(msgspec.json.decode(perms_raw) if perms_raw else [])
    return Actor(
        user_id=row["user.id"],
        username=row["user.username"],
        kind=row["user.kind"],
        alliance_id=row["user.alliance"],
        hospital_id=row["user.hospital"],
        department_id=row["user.department"],
        permissions=perms,
        session_id=row["id"],
        realm=row["realm"],
    )


async def logout(ctx: Ctx) -> None:
    if ctx.actor is None:
        return
    async with unit_of_work(ctx) as uow:
        await Session.update({Session.revoked: True}).where(Session.id == ctx.actor.session_id)
        await uow.audit("logout", "user", ctx.actor.user_id)


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
            if await _verify(password_hash, password):
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
    actor = _require(ctx)
    # A wrong current password is a failed login: the same budgets, so a stolen session
    # cannot guess the password here without end.
    attempt = await throttle.login_attempt(ctx.ip, actor.username)
    user = await User.select().where(User.id == actor.user_id).first()
    if user is None or not await _verify(user["password_hash"], old_password):
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
    settings = get_settings()
    code = security.new_code()
    code_hash = await _hash(code)  # for an unknown account too: the same time
    if user is None:
        await audit_refusal(ctx, "password.reset_request", "unknown account", "failure")
        return
    at = now()
    async with unit_of_work(ctx) as uow:
        await ResetCode.update({ResetCode.used: True}).where(
            ResetCode.user == user["id"],
            ResetCode.used == False,  # noqa: E712
        )
        row = await ResetCode.insert(
            ResetCode(
                user=user["id"],
                code_hash=code_hash,
                created_at=at,
                expires_at=at + timedelta(minutes=settings.login.reset_code_minutes),
            )
        ).returning(ResetCode.id)
        reset_id = int(row[0]["id"])
        # The code itself travels in the outbox payload only until it is delivered.
        await uow.outbox(
            "notify.reset_code",
            {"user_id": user["id"], "reset_id": reset_id, "code": code},
            key=f"reset-code-{reset_id}",
        )
        await uow.audit(
            "password.reset_request",
            "user",
            user["id"],
            user_id=user["id"],
            username=user["username"],
            hospital_id=user["hospital"],
        )


async def _use_a_try(reset_id: int) -> bool:
    """Count one guess at a code, atomically, before the code is compared: one
    ``UPDATE ... WHERE tries < limit RETURNING``, so fifty concurrent guesses get exactly
    ``AIMIS_RESET_CODE_TRIES`` comparisons and the rest nothing."""
    limit = get_settings().login.reset_code_tries
    rows = await ResetCode.raw(
        "UPDATE reset_code SET tries = tries + 1 "
        "WHERE id = {} AND used = FALSE AND tries < {} RETURNING tries",
        reset_id,
        limit,
    )
    return bool(rows)


async def reset_password(ctx: Ctx, identifier: str, code: str, new_password: str) -> None:
    """A new password with the code sent by ``request_reset``. Every refusal reads the same
    (no word on tries left, which only a real account's code has): a stranger learns nothing
    about the account."""
    wrong = BadRequest(
        "The verification code is wrong or has expired. A code allows "
        "{reset_code_tries} tries; then request a new one.",
        reset_code_tries=get_settings().login.reset_code_tries,
    )
    attempt = await throttle.reset_attempt(ctx.ip)
    user = await find_user(identifier)
    reset = None
    if user is not None:
        reset = (
            await ResetCode.select()
            .where(ResetCode.user == user["id"], ResetCode.used == False)  # noqa: E712
            .order_by(ResetCode.id, ascending=False)
            .first()
        )
    if (
        user is None
        or reset is None
        or now() >= reset["expires_at"]
        or not await _use_a_try(reset["id"])
    ):
        await _verify(_dummy_hash(), code)  # the same time as a real comparison
        raise wrong
    if not await _verify(reset["code_hash"], code):
        async with unit_of_work(ctx) as uow:
            await uow.audit(
                "password.reset",
                "user",
                user["id"],
                outcome="failure",
                detail="wrong code",
                user_id=user["id"],
                username=user["username"],
                hospital_id=user["hospital"],
            )
        raise wrong
    await attempt.not_a_failure()
    checked = await check_new_password(user["id"], user["username"], new_password)
    async with unit_of_work(ctx) as uow:
        # Single use: of two concurrent resets with the right code, one claims it.
        claimed = (
            await ResetCode.update({ResetCode.used: True})
            .where(ResetCode.id == reset["id"], ResetCode.used == False)  # noqa: E712
            .returning(ResetCode.id)
        )
        if not claimed:
            raise wrong
        await set_password(ctx, user["id"], checked)
        await Session.update({Session.revoked: True}).where(Session.user == user["id"])
        await uow.audit(
            "password.reset",
            "user",
            user["id"],
            user_id=user["id"],
            username=user["username"],
            hospital_id=user["hospital"],
        )


# --- QR login (SPEC 1.4) -------------------------------------------------------------------


async def new_qr(ctx: Ctx) -> tuple[str, datetime]:
    token = security.new_token(24)
    at = now()
    expires = at + timedelta(seconds=get_settings().login.qr_token_seconds)
    await QrLogin.insert(
        QrLogin(token_hash=security.token_hash(token), created_at=at, expires_at=expires)
    )
    return token, expires


def qr_topic(token: str) -> str:
    """The desktop page listens on a topic named by the token's hash, never the token."""
    return f"qr:{security.token_hash(token)[:32]}"


async def _qr_row(token: str) -> dict:
    row = await QrLogin.select().where(QrLogin.token_hash == security.token_hash(token)).first()
    if row is None:
        raise NotFound(
            "This QR code is unknown. Reload the login page for a new one.",
        )
    if now() >= row["expires_at"]:
        raise BadRequest(
            "This QR code has expired. Reload the login page for a new one.",
        )
    return row


async def confirm_qr(ctx: Ctx, token: str) -> None:
    """A logged-in mobile session confirms: the desktop page is told over the channel."""
    actor = _require(ctx)
    row = await _qr_row(token)
    async with unit_of_work(ctx) as uow:
        updated = (
            await QrLogin.update({QrLogin.status: "confirmed", QrLogin.user: actor.user_id})
            .where(QrLogin.id == row["id"], QrLogin.status == "pending")
            .returning(QrLogin.id)
        )
        if not updated:
            raise BadRequest(
                "This QR code was already used. Reload the login page.",
            )
        await uow.event(qr_topic(token), "qr.confirmed", {"username": actor.username})
        await uow.audit("login.qr_confirm", "user", actor.user_id)


async def complete_qr(ctx: Ctx, token: str) -> NewSession:
    """The desktop page trades its confirmed token for a session, exactly once."""
    row = await _qr_row(token)
    if row["status"] != "confirmed" or row["user"] is None:
        raise BadRequest(
            "This QR code has not been confirmed on a phone yet.",
        )
    used = (
        await QrLogin.update({QrLogin.status: "used"})
        .where(QrLogin.id == row["id"], QrLogin.status == "confirmed")
        .returning(QrLogin.id)
    )
    if not used:
        raise BadRequest(
            "This QR code was already used. Reload the login page.",
        )
    user = await User.select().where(User.id == row["user"]).first()
    if user is None or not user["active"] or user["frozen"]:
        raise Forbidden("This account cannot log in now.")
    realm = REALM_ADMIN if user["kind"] in ADMIN_KINDS else REALM_APP
    return await _open_session(ctx, user, realm, "login.qr")


def _require(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized("Please log in.")
    return ctx.actor


async def role_permissions(role_id: int | None) -> list[str]:
    if role_id is None:
        return []
    row = await Role.select(Role.permissions).where(Role.id == role_id).first()
    return list(msgspec.json.decode(row["permissions"])) if row else []


@functools.cache
def _dummy_hash() -> str:
    return security.hash_password("not-a-real-password-for-timing")


async def must_change(user_id: int) -> bool:
    row = await User.select(User.must_change_password).where(User.id == user_id).first()
    return bool(row and row["must_change_password"])


async def me(actor: Actor) -> MeOut:
    user = (
        await User.select(
            User.display_name, User.must_change_password, User.hospital.name, User.hospital.modules
        )
        .where(User.id == actor.user_id)
        .first()
    )
    assert user is not None
    modules = msgspec.json.decode(user["hospital.modules"]) if user["hospital.modules"] else []
    return MeOut(
        user_id=actor.user_id,
        username=actor.username,
        display_name=user["display_name"],
        kind=actor.kind,
        hospital_id=actor.hospital_id,
        hospital_name=user["hospital.name"] or "",
        alliance_id=actor.alliance_id,
        department_id=actor.department_id,
        permissions=sorted(actor.permissions),
        modules=list(modules),
        realm=actor.realm,
        must_change_password=bool(user["must_change_password"]),
    )
