"""Accounts: login, freezing, sessions, password change and reset, QR login (SPEC §1)."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import anyio
import msgspec

from aimis import security
from aimis.domain import ADMIN_KINDS
from aimis.errors import BadRequest, Forbidden, Locked, NotFound, Unauthorized
from aimis.settings import get_settings
from api.accounts.schemas import MeOut
from store.tables import Hospital, PasswordHistory, QrLogin, ResetCode, Role, Session, User
from store.uow import Actor, Ctx, audit_refusal, now, unit_of_work, write_audit

log = logging.getLogger(__name__)

REALM_APP = "app"
REALM_ADMIN = "admin"


@dataclass(frozen=True)
class NewSession:
    token: str
    csrf: str
    user_id: int
    realm: str


def local_day(time_zone: str, at: datetime | None = None) -> str:
    return (at or now()).astimezone(ZoneInfo(time_zone)).date().isoformat()


async def _user_time_zone(user: dict) -> str:
    if user.get("hospital"):
        tz = (
            await Hospital.select(Hospital.time_zone).where(Hospital.id == user["hospital"]).first()
        )
        if tz:
            return str(tz["time_zone"])
    return get_settings().time_zone


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
    limit = get_settings().max_failed_logins
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
        "This account is frozen after too many wrong passwords today. It unfreezes at the "
        "start of tomorrow, or ask your hospital administrator to unfreeze it.",
        zh="今日密码错误次数过多，账号已冻结。次日零点自动解冻，或请联系本院管理员解冻。",
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


async def login(ctx: Ctx, identifier: str, password: str, realm: str) -> NewSession:
    user = await find_user(identifier)
    if user is None:
        await _verify(_dummy_hash(), password)  # same time as a real check: no user enumeration
        await audit_refusal(ctx, "login", f"unknown account {identifier[:64]!r}", "failure")
        raise Unauthorized("Wrong user name or password.", zh="用户名或密码错误。", audited=True)
    user = await _expire_stale_freeze(user)
    who = {"user_id": user["id"], "username": user["username"], "hospital_id": user["hospital"]}
    if user["frozen"]:
        await _audit_alone(ctx, "login", "refused: account frozen", "denied", **who)
        if user["frozen_reason"] == "admin":
            raise Locked(
                "This account is frozen by an administrator.",
                zh="该账号已被管理员冻结。",
                audited=True,
            )
        raise _frozen()
    if not await _verify(user["password_hash"], password):
        day = local_day(await _user_time_zone(user))
        counted = await _count_failure(user["id"], day)
        await _audit_alone(ctx, "login", "wrong password", "failure", **who)
        if counted is None:
            raise _frozen()
        count, frozen = counted
        if frozen:
            await _announce_freeze(ctx, count, day, **who)
            raise _frozen()
        left = get_settings().max_failed_logins - count
        raise Unauthorized(
            f"Wrong user name or password. {left} more wrong tries today freeze the account.",
            zh=f"用户名或密码错误。今日再错 {left} 次，账号将被冻结。",
            extra={"tries_left": left},
            audited=True,
        )
    if not user["active"]:
        await _audit_alone(ctx, "login", "refused: account deactivated", "denied", **who)
        raise Forbidden(
            "This account is deactivated. Ask your hospital administrator.",
            zh="该账号已停用，请联系本院管理员。",
            audited=True,
        )
    if user["hospital"] is not None and not await _hospital_active(user["hospital"]):
        await _audit_alone(ctx, "login", "refused: hospital deactivated", "denied", **who)
        raise Forbidden(
            "Your hospital is deactivated in the alliance. Ask the alliance administrator.",
            zh="您所在医院已在医联体中停用，请联系医联体管理员。",
            audited=True,
        )
    is_admin = user["kind"] in ADMIN_KINDS
    if realm == REALM_ADMIN and not is_admin:
        await _audit_alone(ctx, "login", "refused: not an administrator", "denied", **who)
        raise Forbidden(
            "This account is not an administrator; use the doctors' login.",
            zh="该账号不是管理员账号，请使用医生登录。",
            audited=True,
        )
    if realm == REALM_APP and is_admin:
        await _audit_alone(
            ctx, "login", "refused: administrator at doctors' login", "denied", **who
        )
        raise Forbidden(
            "Administrators log in through the administrator login.",
            zh="管理员请通过管理员登录入口登录。",
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
    token, csrf = security.new_token(), security.new_token(16)
    at = now()
    async with unit_of_work(ctx) as uow:
        await Session.insert(
            Session(
                token_hash=security.token_hash(token),
                csrf_token=csrf,
                user=user["id"],
                realm=realm,
                created_at=at,
                last_seen_at=at,
                expires_at=at + timedelta(hours=settings.session_max_hours),
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
    return NewSession(token, csrf, user["id"], realm)


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
        minutes=settings.session_idle_minutes
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


async def session_csrf(session_id: int) -> str:
    row = await Session.select(Session.csrf_token).where(Session.id == session_id).first()
    return str(row["csrf_token"]) if row else ""


async def logout(ctx: Ctx) -> None:
    if ctx.actor is None:
        return
    async with unit_of_work(ctx) as uow:
        await Session.update({Session.revoked: True}).where(Session.id == ctx.actor.session_id)
        await uow.audit("logout", "user", ctx.actor.user_id)


async def _check_new_password(user_id: int, username: str, new_password: str) -> None:
    problem = security.password_problem(new_password, username)
    if problem:
        raise BadRequest(problem.en, zh=problem.zh)
    keep = get_settings().password_history
    recent = (
        await PasswordHistory.select(PasswordHistory.password_hash)
        .where(PasswordHistory.user == user_id)
        .order_by(PasswordHistory.id, ascending=False)
        .limit(keep)
    )
    for row in recent:
        if await _verify(row["password_hash"], new_password):
            raise BadRequest(
                f"The new password must differ from your last {keep} passwords.",
                zh=f"新密码不能与最近 {keep} 次使用的密码相同。",
            )


async def set_password(
    uow_ctx: Ctx, user_id: int, new_hash: str, *, must_change: bool = False
) -> None:
    """Store a new password hash and its history row (inside the caller's unit of work)."""
    await User.update(
        {
            User.password_hash: new_hash,
            User.must_change_password: must_change,
            User.version: User.version + 1,
        }
    ).where(User.id == user_id)
    await PasswordHistory.insert(
        PasswordHistory(user=user_id, password_hash=new_hash, created_at=now())
    )


async def change_password(ctx: Ctx, old_password: str, new_password: str) -> None:
    actor = _require(ctx)
    user = await User.select().where(User.id == actor.user_id).first()
    if user is None or not await _verify(user["password_hash"], old_password):
        raise BadRequest("The current password is wrong.", zh="当前密码错误。")
    await _check_new_password(actor.user_id, actor.username, new_password)
    new_hash = await _hash(new_password)
    async with unit_of_work(ctx) as uow:
        await set_password(ctx, actor.user_id, new_hash)
        # Other sessions of this user end; this one stays.
        await Session.update({Session.revoked: True}).where(
            Session.user == actor.user_id, Session.id != actor.session_id
        )
        await uow.audit("password.change", "user", actor.user_id)
        # The user's other browsers learn at once that their sessions ended.
        await uow.event(f"user:{actor.user_id}", "account.password_changed", {})


async def request_reset(ctx: Ctx, identifier: str) -> None:
    """Send a 6-digit code through the user's bound channel. Silent for unknown accounts."""
    user = await find_user(identifier)
    if user is None:
        await audit_refusal(ctx, "password.reset_request", "unknown account", "failure")
        return
    settings = get_settings()
    code = security.new_code()
    code_hash = await _hash(code)
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
                expires_at=at + timedelta(minutes=settings.reset_code_minutes),
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


async def reset_password(ctx: Ctx, identifier: str, code: str, new_password: str) -> None:
    settings = get_settings()
    user = await find_user(identifier)
    wrong = BadRequest(
        "The verification code is wrong or has expired. Request a new one.",
        zh="验证码错误或已过期，请重新获取。",
    )
    if user is None:
        raise wrong
    reset = (
        await ResetCode.select()
        .where(
            ResetCode.user == user["id"],
            ResetCode.used == False,  # noqa: E712
        )
        .order_by(ResetCode.id, ascending=False)
        .first()
    )
    if reset is None or now() >= reset["expires_at"] or reset["tries"] >= settings.reset_code_tries:
        raise wrong
    if not code.isdigit() or not await _verify(reset["code_hash"], code):
        tries = reset["tries"] + 1
        async with unit_of_work(ctx) as uow:
            await ResetCode.update(
                {ResetCode.tries: tries, ResetCode.used: tries >= settings.reset_code_tries}
            ).where(ResetCode.id == reset["id"])
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
        left = settings.reset_code_tries - tries
        if left > 0:
            raise BadRequest(
                f"The verification code is wrong. {left} tries left.",
                zh=f"验证码错误，还可尝试 {left} 次。",
            )
        raise BadRequest(
            "The verification code is wrong and now void. Request a new one.",
            zh="验证码错误，已失效，请重新获取。",
        )
    await _check_new_password(user["id"], user["username"], new_password)
    new_hash = await _hash(new_password)
    async with unit_of_work(ctx) as uow:
        await ResetCode.update({ResetCode.used: True}).where(ResetCode.id == reset["id"])
        await set_password(ctx, user["id"], new_hash)
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
    expires = at + timedelta(seconds=get_settings().qr_token_seconds)
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
            zh="二维码无效，请刷新登录页面获取新的二维码。",
        )
    if now() >= row["expires_at"]:
        raise BadRequest(
            "This QR code has expired. Reload the login page for a new one.",
            zh="二维码已过期，请刷新登录页面获取新的二维码。",
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
                zh="该二维码已被使用，请刷新登录页面。",
            )
        await uow.event(qr_topic(token), "qr.confirmed", {"username": actor.username})
        await uow.audit("login.qr_confirm", "user", actor.user_id)


async def complete_qr(ctx: Ctx, token: str) -> NewSession:
    """The desktop page trades its confirmed token for a session, exactly once."""
    row = await _qr_row(token)
    if row["status"] != "confirmed" or row["user"] is None:
        raise BadRequest(
            "This QR code has not been confirmed on a phone yet.",
            zh="该二维码尚未在手机上确认。",
        )
    used = (
        await QrLogin.update({QrLogin.status: "used"})
        .where(QrLogin.id == row["id"], QrLogin.status == "confirmed")
        .returning(QrLogin.id)
    )
    if not used:
        raise BadRequest(
            "This QR code was already used. Reload the login page.",
            zh="该二维码已被使用，请刷新登录页面。",
        )
    user = await User.select().where(User.id == row["user"]).first()
    if user is None or not user["active"] or user["frozen"]:
        raise Forbidden("This account cannot log in now.", zh="该账号当前无法登录。")
    realm = REALM_ADMIN if user["kind"] in ADMIN_KINDS else REALM_APP
    return await _open_session(ctx, user, realm, "login.qr")


def _require(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized("Please log in.", zh="请先登录。")
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
