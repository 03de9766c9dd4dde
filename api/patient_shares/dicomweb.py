"""A share link as a DICOMweb endpoint of its one study: ``/s/<token>/dicomweb`` (issue 15
point 6 *Beyond*, SPEC 10.5).

The handlers are ``api.dicomweb``'s own (its controllers subclassed under this root); the
guard ``require_share_reader`` puts an ``api.dicomweb.access.StudyScope`` of the link's study
in the request, so every search and retrieve reads that study only (another study, series
or instance UID: 404) and its RetrieveURL/BulkDataURI name this root. Who may call: a live
link session of this link, as the cookie the password form set (the browser, OHIF on
``/s/<token>/viewer``) or as ``Authorization: Bearer <session>`` (any DICOMweb client; the
session comes from ``POST /s/<token>/dicomweb/token`` with the password, which is an opening
like the form's). An expired or revoked link is a 410 here too, also with a session opened
before; no session is a 401.

Audit, in the patient realm like the openings (``patient_share`` ``<id>``, the owner's
account): every successful read is one ``patient_share.dicomweb`` row (``ShareReadAudit``,
what the route declares with ``api.phi`` and what the service ``note``d), every refusal
one row ``patient_share.dicomweb`` with outcome denied/failure and the status.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from litestar import Controller, Request, post
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import ASGIMiddleware
from litestar.status_codes import HTTP_200_OK
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from api.dicomweb.access import SCOPE_KEY, StudyScope, bearer_token
from api.dicomweb.controllers import QidoController, RenderedController, WadoController
from api.patient_shares import service
from api.patient_shares.controllers import recipient_ctx
from api.patient_shares.schemas import PasswordIn, ShareSession
from api.patients.realm import Acting, patient_audit
from api.phi import declared
from kernel.errors import AppError, NotFound, Unauthorized
from kernel.settings import get_settings
from store import reads
from store.uow import Ctx

ROOT = "/s/{token:str}/dicomweb"
SHARE_KEY = "aimis_patient_share"
ACTION = "patient_share.dicomweb"


def root_of(token: str) -> str:
    return f"{service.link_of(token)}/dicomweb"


async def _audit(share: dict[str, Any], ctx: Ctx, outcome: str, detail: str) -> None:
    await patient_audit(
        None,
        Acting(None, ctx),
        ACTION,
        service.TARGET,
        share["id"],
        account_id=share["account"],
        outcome=outcome,
        detail=detail,
    )


async def _refused(share: dict[str, Any], ctx: Ctx, action: str, detail: str, outcome: str) -> None:
    await _audit(share, ctx, outcome, f"{action}: {detail}")


async def require_share_reader(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    """The link's study as the request's ``StudyScope``; 404 no such link, 410 expired or
    revoked, 401 without a live session of this link."""
    if connection.scope.get("method") == "OPTIONS":
        return
    token = str(connection.path_params.get("token", ""))
    share = await service.share_of_token(token)
    connection.scope[SHARE_KEY] = share  # type: ignore[literal-required]
    ctx = recipient_ctx(connection)
    what = f"{connection.scope.get('method')} {connection.url.path}"[:300]
    try:
        await service.check_open(share)
        session = bearer_token(connection) or connection.cookies.get(service.COOKIE, "")
        if not await service.has_session(share["id"], session):
            raise Unauthorized(
                "Enter the password of this share link first: the form at the link, or "
                "POST it to {root}/token for a bearer token.",
                root=root_of(token),
            )
        exam = await service.examination_view(share["examination"])
        if not exam["study_id"]:
            raise NotFound("This shared examination has no images.")
    except AppError as exc:
        outcome = "denied" if exc.status_code in (401, 403, 404, 410) else "failure"
        await _refused(share, ctx, what, f"{exc.status_code}: {exc.message}", outcome)
        exc.audited = True
        raise
    connection.scope[SCOPE_KEY] = StudyScope(  # type: ignore[literal-required]
        exam["study_id"], root_of(token), partial(_refused, share)
    )


class ShareReadAudit(ASGIMiddleware):
    """One ``patient_share.dicomweb`` row per successful read through a link, written when
    the response starts (as ``api.phi.PhiMiddleware`` does for users' reads): the action
    the route declares, and what the service noted (study, instances, frames)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        route = declared(scope.get("route_handler"))
        read, token = reads.begin()

        async def audited_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not read.written:
                read.written = True
                share: Any = scope.get(SHARE_KEY)  # type: ignore[call-overload]
                if 200 <= int(message["status"]) < 300 and share is not None:
                    what = route.action if route is not None else "dicomweb"
                    detail = f"{what} {read.target_type} {read.target_id}: {read.detail}"
                    await _audit(share, recipient_ctx(Request(scope)), "success", detail)
            await send(message)

        try:
            await next_app(scope, receive, audited_send)
        finally:
            reads.end(token)


class _ShareLayer(Controller):
    """What the three controllers get instead of ``/dicomweb``'s root, guard and audit."""

    path = ROOT
    guards = [require_share_reader]
    middleware = [ShareReadAudit()]
    tags = ["patients"]


class ShareQidoController(_ShareLayer, QidoController):
    """QIDO-RS of the link's study (``api.dicomweb``'s handlers)."""


class ShareWadoController(_ShareLayer, WadoController):
    """WADO-RS of the link's study: instances, metadata, frames, bulk data."""


class ShareRenderedController(_ShareLayer, RenderedController):
    """``/rendered`` and ``/thumbnail`` of the link's study."""


class ShareTokenController(Controller):
    """``POST /s/<token>/dicomweb/token`` with the password: a bearer token for a DICOMweb
    client (a link session, as the form's cookie would be; no cookie is set, so no CSRF
    token is needed). The same limits and audit as the form (``service.open_link``)."""

    path = ROOT
    tags = ["patients"]

    @post("/token", status_code=HTTP_200_OK)
    async def token(self, request: Request, token: str, data: PasswordIn) -> ShareSession:
        session, ends = await service.open_link(recipient_ctx(request), token, data.password)
        public = get_settings().server.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        return ShareSession(session, ends.isoformat(), public + root_of(token))


def share_dicomweb_handlers() -> list[Any]:
    return [ShareQidoController, ShareWadoController, ShareRenderedController, ShareTokenController]
