"""The composition root: builds the Litestar app and wires adapters. Nothing runs at import."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from litestar import Litestar, Request, Response
from litestar.channels import ChannelsPlugin
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.exceptions import HTTPException
from litestar.middleware.base import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.response import Template
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, Receive, Scope, Send

from aimis.routes import route_handlers
from api.auth import SessionMiddleware, ctx_of
from api.bounds import InputBoundsMiddleware
from api.dicomweb.cors import DicomwebCorsMiddleware
from api.headers import register as register_csp_nonce
from api.headers import security_headers
from api.live import live_socket, make_backend, make_publisher
from api.phi import PhiMiddleware
from kernel import i18n as kernel_i18n
from kernel import security
from kernel.errors import AppError
from kernel.paths import UI_DIR
from kernel.settings import Settings, get_settings
from store.db import close_pool, start_pool
from store.uow import audit_refusal, set_publisher
from ui import assets, i18n

log = logging.getLogger(__name__)

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def wants_html(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/dicomweb", "/health", "/schema")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _error_response(
    request: Request, status: int, message: str, extra: dict, headers: dict | None = None
) -> Response:
    if wants_html(request):
        return Template(
            template_name="error.html",
            context={"status": status, "message": message, **i18n.context(request)},
            status_code=status,
            headers=headers,
        )
    return Response(
        {"status_code": status, "detail": message, **extra}, status_code=status, headers=headers
    )


def _refusal(exc: Exception) -> tuple[int, str] | None:
    if isinstance(exc, AppError):
        return None if exc.audited else (exc.status_code, exc.message)
    if isinstance(exc, HTTPException) and 400 <= exc.status_code < 500:
        return exc.status_code, str(exc.detail)
    return None


async def audit_refused(exc: Exception, scope: Scope) -> None:
    """After-exception hook: every refused write, and every refused read (403/404), lands
    in the audit log (exception handlers are synchronous in Litestar, hooks are not)."""
    refusal = _refusal(exc)
    if refusal is None or scope.get("type") != "http":
        return
    status, message = refusal
    request: Request = Request(scope)
    if request.method in SAFE_METHODS and status not in (403, 404):
        return
    if request.url.path.startswith("/static"):
        return
    try:
        await audit_refusal(
            ctx_of(request),
            f"{request.method} {request.scope.get('path_template', request.url.path)}",
            f"{status}: {message}"[:500],
            "denied" if status in (401, 403, 404) else "failure",
        )
    except Exception:
        log.exception("could not audit a refused request")


def app_error_handler(request: Request, exc: AppError) -> Response:
    return _error_response(
        request, exc.status_code, exc.text(i18n.language(request)), exc.extra, exc.headers
    )


def http_error_handler(request: Request, exc: HTTPException) -> Response:
    status = exc.status_code
    if status >= 500:
        log.error("HTTP %s on %s: %s", status, request.url.path, exc.detail)
        return _error_response(request, status, "Something went wrong on our side.", {})
    message = str(exc.detail)
    extra: dict[str, Any] = {}
    if exc.extra:
        extra["extra"] = exc.extra
    if status == 403 and "CSRF" in message:
        message = "The form's security token is missing or wrong (CSRF). Reload the page."
    return _error_response(request, status, message, extra)


def _secret(settings: Settings) -> str:
    return security.app_secret(settings.server.data_dir)


def _template_globals(engine: Any) -> None:
    assets.register(engine)
    i18n.install(engine)
    register_csp_nonce(engine)


class LanguageMiddleware:
    """The reader's language (``lang`` cookie, else Accept-Language) for the whole request:
    ``kernel.i18n.gettext`` and the templates' ``{% trans %}`` speak it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        token = kernel_i18n.use(i18n.language(Request(scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            kernel_i18n.reset(token)


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or get_settings()
    channels = ChannelsPlugin(
        backend=make_backend(settings.redis.url), arbitrary_channels_allowed=True
    )
    set_publisher(make_publisher(channels))

    async def on_startup() -> None:
        from store.startup import check_database

        await start_pool()
        await check_database()
        # half-received uploads a killed process left (a live process's are kept)
        from api.ingest.receiving import clean_receiving_folders

        await asyncio.to_thread(clean_receiving_folders)

    return Litestar(
        route_handlers=[
            *route_handlers(),
            live_socket,
            create_static_files_router(path="/static", directories=[UI_DIR / "static"]),
        ],
        plugins=[channels],
        middleware=[
            LanguageMiddleware,
            DicomwebCorsMiddleware,
            # a share link's recipient (/s/<token>/…) is nobody's session: the staff cookie
            # never widens what a link shows (api/patient_shares)
            DefineMiddleware(SessionMiddleware, exclude=["^/static/", "^/s/"]),
            InputBoundsMiddleware,
            PhiMiddleware(),  # patient-data routes: refusal and the audit of each read
        ],
        csrf_config=CSRFConfig(
            secret=_secret(settings),
            cookie_secure=settings.server.secure_cookies,
            exclude=["^/dicomweb", "^/ws", "^/s/[^/]+/dicomweb"],
        ),
        template_config=TemplateConfig(
            directory=UI_DIR / "templates",
            engine=JinjaTemplateEngine,
            engine_callback=_template_globals,
        ),
        exception_handlers={AppError: app_error_handler, HTTPException: http_error_handler},
        openapi_config=OpenAPIConfig(title="AIMIS", version="0.1.0", path="/schema"),
        on_startup=[on_startup],
        after_exception=[audit_refused],
        before_send=[security_headers(settings)],
        on_shutdown=[close_pool],
        request_max_body_size=64 * 1024 * 1024,
        debug=False,
    )
