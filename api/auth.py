"""Authentication middleware, request context and guards.

The session cookie is HttpOnly and SameSite=Lax; writes authenticated by it also need the
CSRF header (Litestar's CSRF middleware, configured in the composition root).
"""

from __future__ import annotations

import msgspec
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.accounts import service
from api.tokens import service as tokens
from kernel.domain import Module
from kernel.errors import Forbidden, Unauthorized
from kernel.i18n import Msg
from store.tables import Hospital
from store.uow import Actor, Ctx

SESSION_COOKIE = "aimis_session"
BEARER_PATHS = ("/dicomweb",)  # where an API token may stand in for the session


class SessionMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        if connection.url.path.startswith(BEARER_PATHS):
            scheme, _, bearer = connection.headers.get("authorization", "").partition(" ")
            if scheme.lower() == "bearer":  # an API token (DICOMweb clients), never a cookie
                api_actor = await tokens.actor_for_api_token(bearer.strip())
                return AuthenticationResult(user=api_actor, auth="bearer" if api_actor else None)
        token = connection.cookies.get(SESSION_COOKIE, "")
        actor = await service.actor_for_token(token) if token else None
        return AuthenticationResult(user=actor, auth=token if actor else None)


def client_ip(connection: ASGIConnection) -> str:
    """The client's address. Behind the operator's trusted proxies (``AIMIS_TRUSTED_PROXIES``)
    the server has already put the nearest untrusted X-Forwarded-For hop here
    (``aimis serve`` configures uvicorn so); from anyone else the header is ignored."""
    return connection.client.host if connection.client else ""


def ctx_of(connection: ASGIConnection) -> Ctx:
    actor = connection.scope.get("user")
    return Ctx(
        actor=actor if isinstance(actor, Actor) else None,
        ip=client_ip(connection),
        user_agent=connection.headers.get("user-agent", ""),
    )


def actor_of(connection: ASGIConnection) -> Actor:
    actor = connection.scope.get("user")
    if not isinstance(actor, Actor):
        raise Unauthorized(
            "Please log in; your session is missing or has expired.",
        )
    return actor


def require_login(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    actor_of(connection)


def require_admin(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    actor = actor_of(connection)
    if not actor.is_admin or actor.realm != service.REALM_ADMIN:
        raise Forbidden(
            "This needs an administrator logged in through the administrator login.",
        )


def require_alliance_admin(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    require_admin(connection, _)
    if actor_of(connection).kind != "alliance_admin":
        raise Forbidden("Only an alliance administrator may do this.")


def require_permission(permission: str):  # type: ignore[no-untyped-def]
    """A doctor's role must hold ``permission``; a hospital admin passes (he administers
    his hospital's work); an alliance admin never (his part is the alliance, not a
    hospital's patients)."""

    def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        actor = actor_of(connection)
        if permission not in actor.permissions and actor.kind != "hospital_admin":
            raise Forbidden(
                "Your role lacks the permission {permission!r}.",
                permission=permission,
            )

    return guard


async def module_enabled(hospital_id: int | None, module: Module) -> bool:
    if hospital_id is None:
        return False
    row = await Hospital.select(Hospital.modules).where(Hospital.id == hospital_id).first()
    if row is None:
        return False
    return module.value in msgspec.json.decode(row["modules"] or "[]")


def require_module(module: Module):  # type: ignore[no-untyped-def]
    """A switched-off module is invisible in the UI and its API answers 403."""

    async def guard(connection: ASGIConnection, _: BaseRouteHandler) -> None:
        actor = actor_of(connection)
        if not await module_enabled(actor.hospital_id, module):
            raise Forbidden(
                "The module {value!r} is switched off for your hospital.",
                value=Msg(module.value),
            )

    return guard
