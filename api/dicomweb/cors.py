"""CORS for ``/dicomweb`` (and a share link's ``/s/<token>/dicomweb``) only: any origin may
call it with a bearer token.

Cookies are not allowed cross-origin (no ``Access-Control-Allow-Credentials``), so a page of
another site cannot act with a logged-in user's session; a web viewer on another origin
sends ``Authorization: Bearer``. A preflight is answered here, before authentication.
"""

from __future__ import annotations

import re

from litestar.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/dicomweb"
SHARE_ROOT = re.compile(r"^/s/[^/]+/dicomweb(/|$)")  # api/patient_shares/dicomweb.py
HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"Warning, Content-Type, Content-Length, Content-Location"),
]
PREFLIGHT = [
    *HEADERS,
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Accept, Content-Type"),
    (b"access-control-max-age", b"600"),
    (b"vary", b"Origin"),
]


class DicomwebCorsMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (
            scope["path"].startswith(PREFIX) or SHARE_ROOT.match(scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if b"origin" not in headers:
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "OPTIONS" and b"access-control-request-method" in headers:
            start: Message = {"type": "http.response.start", "status": 204, "headers": PREFLIGHT}
            await send(start)
            end: Message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(end)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_cors)
