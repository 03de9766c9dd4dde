"""Per-user API tokens for DICOMweb clients (issue 4): admins create and revoke them, a
user sees his own. Only a SHA-256 of the token is stored; the token is shown once.

A token acts as its user with the user's current role and state, checked on every use: a
deactivated or frozen user's tokens stop working at once, as do those of a deactivated
hospital (until it is reactivated) and a revoked or expired token.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from api.crud import first_or_not_found, from_row, insert_audited
from api.tokens.cache import TOKENS
from api.tokens.schemas import TokenCreate, TokenCreated, TokenRead
from kernel import security
from kernel.errors import BadRequest, Forbidden, NotFound
from kernel.i18n import N_, Msg
from store.db import transaction
from store.scoping import NO_PATIENT_DATA, sees_patient_data, visible
from store.sql import api_token
from store.tables import ApiToken, User
from store.uow import Actor, Ctx, actor_from_row, now, unit_of_work

TOKEN_PREFIX = "aimis_"
REALM_TOKEN = "token"
MAX_DAYS = 3650
TOUCH_SECONDS = 60

COLUMNS = (
    ApiToken.id,
    ApiToken.user,
    ApiToken.user.username,
    ApiToken.user.display_name,
    ApiToken.hospital,
    ApiToken.name,
    ApiToken.prefix,
    ApiToken.created_at,
    ApiToken.expires_at,
    ApiToken.last_used_at,
    ApiToken.revoked_at,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _status(row: dict[str, Any], at: datetime) -> str:
    if row["revoked_at"] is not None:
        return "revoked"
    if row["expires_at"] is not None and row["expires_at"] <= at:
        return "expired"
    return "active"


def _read(row: dict[str, Any], at: datetime) -> TokenRead:
    return from_row(
        TokenRead,
        row,
        user_id=row["user"],
        username=row["user.username"],
        display_name=row["user.display_name"],
        hospital_id=row["hospital"],
        status=_status(row, at),
        created_at=row["created_at"].isoformat(),
        expires_at=_iso(row["expires_at"]),
        last_used_at=_iso(row["last_used_at"]),
        revoked_at=_iso(row["revoked_at"]),
    )


def _require_admin(ctx: Ctx) -> Actor:
    actor = ctx.actor
    if actor is None or not actor.is_admin or actor.realm != "admin":
        raise Forbidden(
            "Only an administrator creates and revokes API tokens.",
        )
    return actor


async def list_tokens(actor: Actor, user_id: int | None = None) -> list[TokenRead]:
    """An admin sees the tokens of his scope; anyone else only his own."""
    if actor.is_admin and actor.realm == "admin":
        query = visible(ApiToken, actor, *COLUMNS)
        if user_id is not None:
            query = query.where(ApiToken.user == user_id)
    else:
        query = ApiToken.select(*COLUMNS).where(ApiToken.user == actor.user_id)
    rows = await query.order_by(ApiToken.id, ascending=False)
    at = now()
    return [_read(r, at) for r in rows]


async def create_token(ctx: Ctx, data: TokenCreate) -> TokenCreated:
    actor = _require_admin(ctx)
    if not sees_patient_data(actor):
        # a token reads DICOMweb as its user: minted by the alliance admin it would show
        # him what he may not see (SPEC "Users"; issue 12, finding 2)
        raise Forbidden(
            "A token reads images as its user; the user's hospital administrator creates it. {why}",
            why=Msg(NO_PATIENT_DATA),
        )
    name = data.name.strip()
    if not 1 <= len(name) <= 100:
        raise BadRequest(
            "Give the token a name of 1 to 100 characters (what it is for).",
        )
    if data.expires_days is not None and not 1 <= data.expires_days <= MAX_DAYS:
        raise BadRequest(
            "A token expires after 1 to {max_days} days, or never.",
            max_days=MAX_DAYS,
        )
    user = (
        await visible(User, actor, User.id, User.username, User.hospital, User.active)
        .where(User.id == data.user_id)
        .first()
    )
    if user is None or user["hospital"] is None:
        raise NotFound(
            "No user with id {user_id} exists in your hospitals, or he has no hospital.",
            user_id=data.user_id,
        )
    if not user["active"]:
        raise BadRequest(
            "The account {username} is deactivated; activate it first.",
            username=user["username"],
        )
    token = TOKEN_PREFIX + security.new_token(30)
    at = now()
    async with unit_of_work(ctx) as uow:
        token_id = await insert_audited(
            uow,
            ApiToken(
                user=user["id"],
                hospital=user["hospital"],
                name=name,
                token_hash=security.token_hash(token),
                prefix=token[:12],
                created_by=actor.user_id,
                created_at=at,
                expires_at=at + timedelta(days=data.expires_days) if data.expires_days else None,
            ),
            "api_token.create",
            "api_token",
            detail=f"for {user['username']}: {name}",
            hospital_id=user["hospital"],
        )
    created = await ApiToken.select(*COLUMNS).where(ApiToken.id == token_id).first()
    assert created is not None
    return TokenCreated(token=token, info=_read(created, at))


async def revoke_token(ctx: Ctx, token_id: int) -> TokenRead:
    actor = _require_admin(ctx)
    row = await first_or_not_found(
        visible(ApiToken, actor, *COLUMNS).where(ApiToken.id == token_id),
        N_("No API token with id {token_id} exists, or it belongs to another hospital."),
        token_id=token_id,
    )
    at = now()
    if row["revoked_at"] is None:
        async with unit_of_work(ctx) as uow:
            await ApiToken.update({ApiToken.revoked_at: at}).where(
                ApiToken.id == token_id, ApiToken.revoked_at.is_null()
            )
            await uow.audit(
                "api_token.revoke",
                "api_token",
                token_id,
                detail=f"{row['prefix']}… of {row['user.username']}: {row['name']}",
                hospital_id=row["hospital"],
            )
        row = {**row, "revoked_at": at}
    return _read(row, at)


async def _token_row(token: str) -> dict[str, Any] | None:
    """The token's row with its account's (``store.sql.api_token.ACTOR_OF_TOKEN``), read
    from the database every time (what a refusal says comes from here)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return await api_token.ACTOR_OF_TOKEN.one(token_hash=security.token_hash(token))


def _refusal(row: dict[str, Any] | None, at: datetime) -> str:
    """Why the token of ``row`` cannot act now, or "" when it can. Checked on every use:
    the token, its user and the user's hospital must all be live at this moment."""
    if row is None:
        return "The bearer token is unknown."
    if row["revoked_at"] is not None:
        return "The bearer token is revoked."
    if row["expires_at"] is not None and row["expires_at"] <= at:
        return "The bearer token has expired."
    if not row["user.active"]:
        return "The bearer token's account is deactivated."
    if row["user.frozen"]:
        return "The bearer token's account is frozen."
    if row["user.hospital"] is None or row["user.hospital"] != row["hospital"]:
        # issued for one hospital: it never follows its user to another one
        return "The bearer token was issued for another hospital than its account's."
    if row["user.hospital.active"] is not True:
        return "The bearer token's hospital is deactivated."
    return ""


async def refusal_of_api_token(token: str) -> str:
    """The sentence a refused token gets (the 401 and its audit row say which check failed)."""
    return _refusal(await _token_row(token), now()) or "The bearer token is not accepted."


async def actor_for_api_token(token: str) -> Actor | None:
    """The user a live token acts for, or None; ``last_used_at`` moves at most once a minute.

    A deactivated hospital's tokens stop at once and work again when it is reactivated (the
    deactivation suspends, like its users' sessions); revoking is what ends a token for good.
    A live token's row is kept for a few seconds (``api.tokens.cache``: a change of the token,
    its account, role or hospital drops it at once in this process, within ``TTL_SECONDS``
    in another); the checks of ``_refusal`` run on every use.
    """
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    digest = security.token_hash(token)
    row = TOKENS.get(digest)
    if row is None:
        generation = TOKENS.generation
        row = await api_token.ACTOR_OF_TOKEN.one(token_hash=digest)
        if row is not None and not _refusal(row, now()):
            TOKENS.put(digest, row, generation)
    at = now()
    if row is None or _refusal(row, at):
        return None
    last = row["last_used_at"]
    if last is None or at - last > timedelta(seconds=TOUCH_SECONDS):
        async with transaction():
            await api_token.TOUCH.run(at=at, id=row["id"])
        TOKENS.touched(digest, at)
    return actor_from_row(row, prefix="user.", realm=REALM_TOKEN)


async def token_users(actor: Actor) -> list[dict[str, Any]]:
    """Active accounts of the admin's scope a token can be made for (for the page's picker)."""
    rows = (
        await visible(User, actor, User.id, User.username, User.display_name, User.hospital.name)
        .where(User.active == True, User.hospital.is_not_null())  # noqa: E712
        .order_by(User.hospital)
        .order_by(User.username)
        .limit(2000)
    )
    return [
        {
            "id": r["id"],
            "label": f"{r['display_name']} ({r['username']}) · {r['hospital.name']}",
        }
        for r in rows
    ]
