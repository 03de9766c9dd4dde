"""Who may call DICOMweb, and the audit of refusals (successful searches and retrieves are
audited by the routes' declaration, ``api.phi``).

Callers authenticate with the session cookie (the viewer, same origin) or with
``Authorization: Bearer <token>`` (a per-user API token, see ``api/tokens``). A missing or
bad token is a 401 saying which; every refusal is audited here with the request's path,
because the app's generic hook skips refused reads other than 403/404.

The same handlers also answer under another root for a caller scoped to one study
(``StudyScope``: a patient's share link, ``api/patient_shares/dicomweb.py``): its guard puts
the scope in the request (``SCOPE_KEY``); ``reader`` then gives it instead of a user,
``images`` reads that study only, ``base_url`` names its root, and refusals are audited the
scope's way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth import ctx_of
from api.tokens import service as tokens
from kernel.errors import AppError, Unauthorized
from kernel.settings import get_settings
from store.scoping import study_images, visible_images
from store.uow import Actor, Ctx, audit_refusal

PREFIX = "/dicomweb"
SCOPE_KEY = "aimis_dicomweb_scope"


@dataclass(frozen=True)
class StudyScope:
    """A caller who sees one study and nothing else, whoever he is: ``study_id``'s current
    images (another study's, series' or instance's UID is "not found"). ``root`` is the path
    its DICOMweb answers under (RetrieveURL and BulkDataURI point there); ``refused(ctx,
    action, detail, outcome)`` writes the audit row of a refusal."""

    study_id: int
    root: str
    refused: Callable[[Ctx, str, str, str], Awaitable[None]]


Reader = Actor | StudyScope


def scope_of(connection: ASGIConnection) -> StudyScope | None:
    found = connection.scope.get(SCOPE_KEY)  # type: ignore[call-overload]
    return found if isinstance(found, StudyScope) else None


def images(table: Any, reader: Reader, *columns: Any) -> Any:
    """``SELECT`` of the images (Study, Series, Instance) ``reader`` may see."""
    if isinstance(reader, StudyScope):
        return study_images(table, reader.study_id, *columns)
    return visible_images(table, reader, *columns)


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


def reader(request: Request) -> Reader:
    """Who reads: the scope a guard set, else the user (``require_dicomweb_caller`` ran)."""
    scoped = scope_of(request)
    return scoped if scoped is not None else actor(request)


def base_url(request: Request) -> str:
    public = get_settings().server.public_url.rstrip("/")
    root = public or str(request.base_url).rstrip("/")
    scoped = scope_of(request)
    return root + (scoped.root if scoped is not None else PREFIX)


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
            scoped = scope_of(request)
            await (audit_refusal if scoped is None else scoped.refused)(
                ctx,
                f"{request.method} {request.scope.get('path_template', request.url.path)}"[:64],
                f"{detail} ({query[:300]})" if query else detail,
                outcome,
            )
            exc.audited = True
        raise
