"""Accounts: password login, sessions and the logged-in user (SPEC 1.1–1.2).

Wrong passwords and the freeze are ``freezing``'s, passwords ``passwords``', QR login
``qr``'s; this module opens, reads and ends sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import msgspec

from api.accounts import throttle
from api.accounts.freezing import (
    expire_stale_freeze,
    frozen_refusal,
    unknown_account,
    wrong_password,
)
from api.accounts.passwords import verify
from api.accounts.schemas import MeOut
from api.accounts.users import audit_alone, audited_as, find_user
from kernel import security
from kernel.domain import ADMIN_KINDS, Module, Permission
from kernel.errors import AppError, Forbidden, Locked
from kernel.settings import get_settings
from store.sessions import live_session
from store.tables import Hospital, QcCase, QcTask, Session, User
from store.uow import Actor, Ctx, actor_from_row, live_actor_columns, now, unit_of_work

REALM_APP = "app"
REALM_ADMIN = "admin"


@dataclass(frozen=True)
class NewSession:
    token: str
    user_id: int
    realm: str


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


async def _refused(ctx: Ctx, user: dict, detail: str, error: AppError) -> AppError:
    """Audit a refused login in the account's name; the refusal to raise."""
    await audit_alone(ctx, user, "login", detail, "denied")
    return error


async def login(ctx: Ctx, identifier: str, password: str, realm: str) -> NewSession:
    """Password login. Failures are throttled per client address and per account name
    (``throttle``) before anything is checked; a right password gives its unit back."""
    attempt = await throttle.login_attempt(ctx.ip, identifier)
    user = await find_user(identifier)
    if user is None:
        await unknown_account(ctx, identifier, password)
    user = await expire_stale_freeze(user)
    if user["frozen"] and user["frozen_reason"] != "admin":
        raise await _refused(ctx, user, "refused: account frozen", frozen_refusal())
    if not await verify(user["password_hash"], password):
        await wrong_password(ctx, user)
    await attempt.not_a_failure()
    if user["frozen"]:  # by an administrator: said only to one who knows the password
        raise await _refused(
            ctx,
            user,
            "refused: account frozen",
            Locked("This account is frozen by an administrator.", audited=True),
        )
    if not user["active"]:
        raise await _refused(
            ctx,
            user,
            "refused: account deactivated",
            Forbidden(
                "This account is deactivated. Ask your hospital administrator.", audited=True
            ),
        )
    if user["hospital"] is not None and not await _hospital_active(user["hospital"]):
        raise await _refused(
            ctx,
            user,
            "refused: hospital deactivated",
            Forbidden(
                "Your hospital is deactivated in the alliance. Ask the alliance administrator.",
                audited=True,
            ),
        )
    is_admin = user["kind"] in ADMIN_KINDS
    if realm == REALM_ADMIN and not is_admin:
        raise await _refused(
            ctx,
            user,
            "refused: not an administrator",
            Forbidden(
                "This account is not an administrator; use the doctors' login.", audited=True
            ),
        )
    if realm == REALM_APP and is_admin:
        raise await _refused(
            ctx,
            user,
            "refused: administrator at doctors' login",
            Forbidden("Administrators log in through the administrator login.", audited=True),
        )
    return await open_session(ctx, user, realm, "login")


async def open_session(ctx: Ctx, user: dict, realm: str, action: str) -> NewSession:
    """A new session for an account that passed its checks (password or QR), audited."""
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
        await uow.audit(action, "user", user["id"], detail=f"realm {realm}", **audited_as(user))
    return NewSession(token, user["id"], realm)


async def actor_for_token(token: str) -> Actor | None:
    """The actor of a live session, or None; touches ``last_seen_at`` at most once a minute."""
    row = await live_session(
        Session,
        token,
        get_settings().login.session_idle_minutes,
        Session.realm,
        *live_actor_columns(Session.user),
        usable=lambda row: bool(
            row["user.active"]
            and not row["user.frozen"]
            and row["user.hospital.active"] is not False
        ),
    )
    if row is None:
        return None
    return actor_from_row(row, prefix="user.", session_id=row["id"], realm=row["realm"])


async def logout(ctx: Ctx) -> None:
    if ctx.actor is None:
        return
    async with unit_of_work(ctx) as uow:
        await Session.update({Session.revoked: True}).where(Session.id == ctx.actor.session_id)
        await uow.audit("logout", "user", ctx.actor.user_id)


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
    named_in = await _named_in(actor, modules)
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
        named_in=named_in,
    )


QC_PERMISSIONS = frozenset({Permission.qc_evaluate.value, Permission.qc_manage.value})


async def _named_in(actor: Actor, modules: list[str]) -> list[str]:
    """Quality control, when his hospital has it on and a task names him (a case to
    evaluate, or a task to arbitrate) though his role lacks its permissions."""
    if Module.quality_control.value not in modules or QC_PERMISSIONS & set(actor.permissions):
        return []
    if await QcCase.exists().where(QcCase.evaluator == actor.user_id) or (
        await QcTask.exists().where(
            QcTask.arbitrator == actor.user_id, QcTask.hospital == actor.hospital_id
        )
    ):
        return [Module.quality_control.value]
    return []
