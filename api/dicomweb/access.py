"""Who may call DICOMweb, and the audit of refusals (successful searches and retrieves are
audited by the routes' declaration, ``api.phi``).

Callers authenticate with the session cookie (the viewer, same origin) or with
``Authorization: Bearer <token>`` (a per-user API token, see ``api/tokens``). A missing or
bad token is a 401 saying which; every refusal is audited here with the request's path,
because the app's generic hook skips refused reads other than 403/404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth import ctx_of
from api.tokens import service as tokens
from kernel.errors import AppError, Unauthorized
from kernel.settings import get_settings
from store.uow import Actor, Ctx, audit_refusal

PREFIX = "/dicomweb"


def bearer_token(connection: ASGIConnection) -> str:
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def require_dicomweb_caller(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    if connection.scope.get("method") == "OPTIONS":
        return
    if isinstance(connection.scope.get("user"), Actor):
        return
    if token := bearer_token(connection):
        reason = await tokens.refusal_of_api_token(token)
    elif connection.headers.get("authorization"):
        reason = "Only 'Authorization: Bearer <token>' is accepted here."
    else:
        reason = "Log in, or send an API token as 'Authorization: Bearer <token>'."
    action = f"{connection.scope.get('method')} {connection.url.path}"[:64]
    await audit_refusal(ctx_of(connection), action, reason)
    raise Unauthorized(reason, audited=True)


def actor(request: Request) -> Actor:
    user = request.scope.get("user")
    assert isinstance(user, Actor)  # require_dicomweb_caller ran
    return user


def base_url(request: Request) -> str:
    public = get_settings().server.public_url.rstrip("/")
    root = public or str(request.base_url).rstrip("/")
    return root + PREFIX


@asynccontextmanager
async def refusals_audited(request: Request) -> AsyncIterator[Ctx]:
    """Audit a refusal (bad parameter, not found, archived, not acceptable) once."""
    ctx = ctx_of(request)
    try:
        yield ctx
    except AppError as exc:
        if not exc.audited:
            outcome = "denied" if exc.status_code in (401, 403, 404) else "failure"
            detail = f"{exc.status_code}: {exc.message}"[:500]
            query = request.url.query
            await audit_refusal(
                ctx,
                f"{request.method} {request.scope.get('path_template', request.url.path)}"[:64],
                f"{detail} ({query[:300]})" if query else detail,
                outcome,
            )
            exc.audited = True
        raise
