"""QR login (SPEC 1.4): the desktop page shows a token, a logged-in phone confirms it, and
the desktop trades the confirmed token for a session, exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

from api.accounts.service import REALM_ADMIN, REALM_APP, NewSession, open_session
from api.accounts.users import require_actor
from kernel import security
from kernel.domain import ADMIN_KINDS
from kernel.errors import BadRequest, Forbidden, NotFound
from kernel.settings import get_settings
from store.tables import QrLogin, User
from store.uow import Ctx, now, unit_of_work


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
    actor = require_actor(ctx)
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
    return await open_session(ctx, user, realm, "login.qr")
