"""Security headers on every response of the app (a Litestar ``before_send`` hook, so 404s,
refusals and the DICOMweb CORS preflight get them too, not only routed handlers).

- ``Content-Security-Policy``: scripts only from this origin, and inline ``<script>`` only
  with the page's nonce (templates write ``nonce="{{ csp_nonce() }}"``; htmx gives the same
  nonce to the scripts of the fragments it swaps in, ``inlineScriptNonce`` in ``base.html``).
  No ``'unsafe-eval'``: htmx runs with ``allowEval: false`` (no ``hx-on``, no ``js:`` values).
  Styles keep ``'unsafe-inline'``: the templates use ``style=`` attributes and mermaid writes
  ``<style>`` into the SVG it draws; a style cannot run code. The OHIF viewer under
  ``/viewer`` sets its own policy (``viewer_policy``): it compiles wasm codecs, starts its
  decoders as ``blob:`` workers and has two inline scripts in its ``index.html``.
- ``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``: no page is framed (clickjacking).
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` (a share link or a
  deep link never leaves this site in a ``Referer``).
- ``Strict-Transport-Security`` when served over TLS: the request came as ``https`` (also
  through a trusted proxy's ``X-Forwarded-Proto``), or the settings say the site is HTTPS.
- ``Cache-Control: no-store`` on everything but the static assets (``/static``, ``/vendor``,
  ``/viewer``): JSON, DICOM, PDFs, FHIR, pictures and pages carry patient data. A handler
  that sets its own ``Cache-Control`` keeps it (the hospital logo, OHIF's bundle).
"""

from __future__ import annotations

import secrets
from typing import Any

from jinja2 import pass_context
from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from kernel.settings import Settings

NONCE_KEY = "aimis_csp_nonce"
STATIC_PREFIXES = ("/static/", "/vendor/", "/viewer/")
VIEWER_PREFIX = "/viewer"
HSTS = "max-age=31536000"

_COMMON = (
    "default-src 'self'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "object-src 'none'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "style-src 'self' 'unsafe-inline'",
)


def page_policy(nonce: str | None) -> str:
    """The policy of every response outside the viewer."""
    scripts = "script-src 'self'" + (f" 'nonce-{nonce}'" if nonce else "")
    return "; ".join((*_COMMON, scripts, "connect-src 'self'", "worker-src 'self'"))


def viewer_policy(script_hashes: tuple[str, ...] = (), *, worker: bool = False) -> str:
    """OHIF's policy: ``'wasm-unsafe-eval'`` for its wasm codecs (compiling wasm, not running
    JavaScript from strings), ``blob:`` workers, and its ``index.html``'s inline scripts by
    their sha256 (they never change for an installed OHIF).

    ``worker``: the policy of OHIF's script files. Its image decoders run as workers from
    those files, and a worker runs under the policy of its own response; their emscripten
    glue (embind) builds functions with ``new Function``, so they get ``'unsafe-eval'``.
    The viewer's page does not: a browser ignores the policy of a script it loads with
    ``<script>``, so the page's own scripts stay without eval."""
    hashes = "".join(f" 'sha256-{h}'" for h in script_hashes)
    evaluate = " 'unsafe-eval'" if worker else ""
    return "; ".join(
        (
            *_COMMON,
            f"script-src 'self' 'wasm-unsafe-eval'{evaluate}{hashes}",
            "connect-src 'self' data: blob:",
            "worker-src 'self' blob:",
            "media-src 'self' blob:",
        )
    )


def nonce_of(scope: Scope) -> str:
    """This response's script nonce (made on first use; a response that renders no inline
    script has none in its policy)."""
    state: dict[str, Any] = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    nonce = state.get(NONCE_KEY)
    if nonce is None:
        nonce = state[NONCE_KEY] = secrets.token_urlsafe(18)
    return str(nonce)


@pass_context
def csp_nonce(context: Any) -> str:
    """Templates: ``<script nonce="{{ csp_nonce() }}">``."""
    return nonce_of(context["request"].scope)


def register(engine: Any) -> None:
    engine.engine.globals["csp_nonce"] = csp_nonce


def _is_tls(scope: Scope, settings: Settings) -> bool:
    return (
        scope.get("scheme") == "https"
        or settings.server.secure_cookies
        or settings.server.public_url.startswith("https://")
    )


def security_headers(settings: Settings):  # type: ignore[no-untyped-def]
    """The ``before_send`` hook of the composition root."""

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        path = scope.get("path", "")
        if "content-security-policy" not in headers:
            nonce = scope.get("state", {}).get(NONCE_KEY)
            headers["content-security-policy"] = page_policy(nonce)
        headers["x-content-type-options"] = "nosniff"
        headers["x-frame-options"] = "DENY"
        headers["referrer-policy"] = "same-origin"
        headers["cross-origin-opener-policy"] = "same-origin"
        if _is_tls(scope, settings):
            headers["strict-transport-security"] = HSTS
        if not path.startswith(STATIC_PREFIXES) and "cache-control" not in headers:
            headers["cache-control"] = "no-store"

    return add_headers
