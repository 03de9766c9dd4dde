"""QR login (SPEC 1.4): the desktop page shows a token, a logged-in phone confirms it, and
the desktop trades the confirmed token for a session, exactly once.

The first QR login of an account binds its phone number and sets its initial password
before it may confirm: ``first_login_steps`` says what is left, ``request_phone_code`` sends
a code for the number by text message to it (the reset codes' path: ``ResetCode`` and
``notify.reset_code``, the code bound to the number), ``bind_phone`` checks it as
``reset_password`` does (``passwords.check_code``), ``confirm_first_qr`` sets the password
(``check_new_password``) and confirms, in one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from api import codes
from api.accounts import passwords, throttle
from api.accounts.service import REALM_ADMIN, REALM_APP, NewSession, open_session
from api.accounts.users import require_actor
from api.crud import unique_or_conflict
from kernel import security
from kernel.domain import ADMIN_KINDS
from kernel.errors import BadRequest, Conflict, Forbidden, NotFound
from kernel.i18n import N_
from kernel.phones import masked, staff_phone
from kernel.settings import get_settings
from store.tables import QrLogin, Session, User
from store.uow import Actor, Ctx, UnitOfWork, audit_refusal, now, unit_of_work

TAKEN = N_(
    "The phone number {phone} is already bound to another account. Use your own "
    "number, or ask your hospital's administrator."
)


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


@dataclass(frozen=True)
class FirstLogin:
    """What the first QR login of an account still has to do on the phone."""

    phone: bool  # bind a phone number (the account has none)
    password: bool  # set the initial password (the account's is temporary)

    @property
    def done(self) -> bool:
        return not (self.phone or self.password)


async def first_login_steps(user_id: int) -> FirstLogin:
    row = await User.select(User.phone, User.must_change_password).where(User.id == user_id).first()
    if row is None:
        raise NotFound("This account no longer exists.")
    return FirstLogin(phone=not row["phone"], password=bool(row["must_change_password"]))


async def _unbound(actor: Actor) -> dict:
    """The account row, refused when it has a phone number already."""
    user = await User.select().where(User.id == actor.user_id).first()
    if user is None:
        raise NotFound("This account no longer exists.")
    if user["phone"]:
        raise Conflict("Your account already has a phone number.")
    return user


async def _free(ctx: Ctx, actor: Actor, number: str) -> None:
    """Refuse a number bound to another account (audited, the number masked)."""
    if await User.exists().where(User.phone == number, User.id != actor.user_id):
        await audit_refusal(
            ctx, "account.phone_bind", f"{masked(number)} is bound to another account"
        )
        raise Conflict(TAKEN, phone=number, audited=True)


async def request_phone_code(ctx: Ctx, phone: str) -> None:
    """Send a code that confirms ``phone`` for the logged-in account (first QR login), by
    text message to that number (``flows/notify.py``). Throttled per client address, per
    account and per number (nobody floods a number with codes from many accounts)."""
    actor = require_actor(ctx)
    number = staff_phone(phone)
    await throttle.forgot_request(ctx.ip, actor.username)
    await throttle.phone_code_request(number)
    await _unbound(actor)
    await _free(ctx, actor, number)
    code, code_hash = await codes.new_code(number)
    async with unit_of_work(ctx) as uow:
        await passwords.send_code(uow, actor.user_id, code, code_hash, phone=number)
        await uow.audit("account.phone_code", "user", actor.user_id, detail=masked(number))


async def bind_phone(ctx: Ctx, phone: str, code: str) -> None:
    """Bind ``phone`` to the logged-in account with the code sent for it: tries counted and
    limited as a reset code's, the code used once. The code is checked before anything is
    said about the number, so this cannot probe which numbers are bound (sending a code, which
    says so, is throttled)."""
    actor = require_actor(ctx)
    number = staff_phone(phone)
    user = await _unbound(actor)
    _, reset_id = await passwords.check_code(ctx, user, code, "account.phone_bind", number)
    await _free(ctx, actor, number)  # taken since the code was sent
    async with unique_or_conflict(TAKEN, phone=number), unit_of_work(ctx) as uow:
        await passwords.claim_code(reset_id)
        bound = (
            await User.update({User.phone: number, User.version: User.version + 1})
            .where(User.id == actor.user_id, User.phone.is_null())
            .returning(User.id)
        )
        if not bound:
            raise Conflict("Your account already has a phone number.")
        await uow.audit("account.phone_bind", "user", actor.user_id, detail=masked(number))


async def _confirm(uow: UnitOfWork, actor: Actor, token: str, row: dict) -> None:
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


async def confirm_qr(ctx: Ctx, token: str) -> None:
    """A logged-in mobile session confirms: the desktop page is told over the channel.
    An account's first QR login binds the phone and sets the password first."""
    actor = require_actor(ctx)
    row = await _qr_row(token)
    if not (await first_login_steps(actor.user_id)).done:
        raise Conflict(
            "This is your first QR login: bind your phone number and set your password "
            "on this phone first."
        )
    async with unit_of_work(ctx) as uow:
        await _confirm(uow, actor, token, row)


async def confirm_first_qr(ctx: Ctx, token: str, new_password: str) -> None:
    """The last step of a first QR login: the initial password (the rules of every new
    password), then the confirmation, in one transaction; the phone is bound already."""
    actor = require_actor(ctx)
    row = await _qr_row(token)
    steps = await first_login_steps(actor.user_id)
    if steps.phone:
        raise Conflict("Bind your phone number first.")
    if not steps.password:
        raise Conflict("Your password is set already: confirm the login.")
    checked = await passwords.check_new_password(actor.user_id, actor.username, new_password)
    async with unit_of_work(ctx) as uow:
        await passwords.set_password(ctx, actor.user_id, checked)
        # Other sessions of this user end (a temporary password may be known to others).
        await Session.update({Session.revoked: True}).where(
            Session.user == actor.user_id, Session.id != actor.session_id
        )
        await uow.audit("password.initial", "user", actor.user_id)
        await _confirm(uow, actor, token, row)


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
    return await open_session(ctx, user, realm, "login.qr")
