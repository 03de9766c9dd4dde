"""Serving the prebuilt OHIF viewer (npm ``@ohif/app``) under a sub-path of this app.

OHIF's build hard-codes the site root: ``index.html`` loads ``/app.bundle….js`` and sets
``window.PUBLIC_URL="/"``, the webpack runtime in 8 of its ``*.js`` files says
``__webpack_require__.p = "/"`` (where lazy chunks, workers and wasm are fetched from), and
``app.bundle.css`` loads its font from ``url(/….woff2)``. Under ``/viewer`` all of them
must name ``/viewer/``. Nothing of OHIF is committed or changed on disk: ``index.html`` and
each ``*.js``/``*.css`` holding a root path are rewritten when first asked for and kept in
memory (with a gzip copy) for the life of the process. Memory, not a
folder written at start-up, because:
- only ~18 MB is rewritten (the app bundle is 17 MB of it), once, in ~0.1 s, on first use;
- a start-up pass would read all 200 MB of ``dist/`` before the app answers;
- nothing can go stale: after ``npm ci`` installs another OHIF the next process rewrites
  the new files, and there is no second copy of OHIF to clean up.
``app-config.js`` is never read from ``dist/``: the app writes it (``app_config_js``).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from kernel.paths import UI_DIR

log = logging.getLogger(__name__)

MOUNT = "/viewer"
DIST = UI_DIR / "node_modules" / "@ohif" / "app" / "dist"
DICOMWEB = "/dicomweb"

_WEBPACK_PUBLIC_PATH = re.compile(rb'__webpack_require__\.p = "/";')
_ROOT_ATTRIBUTE = re.compile(r'\b(src|href|content)="/(?!/)')
_PUBLIC_URL = 'window.PUBLIC_URL="/"'
_CSS_ROOT_URL = re.compile(rb"url\((['\"]?)/(?!/)")
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)

MEDIA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".xml": "application/xml",
    ".map": "application/json",
    ".onnx": "application/octet-stream",
    ".txt": "text/plain",
}
_HASHED = re.compile(r"\.[0-9a-f]{16,}\.(js|wasm|css)$|^[0-9a-f]{16,}\.(wasm|woff2)$")


def media_type(path: Path) -> str:
    return MEDIA_TYPES.get(path.suffix.lower(), "application/octet-stream")


def immutable(name: str) -> bool:
    """Content-hashed file names (``app.bundle.0f61….js``) never change their bytes."""
    return bool(_HASHED.search(name))


def rewrite_index(html: str, base: str = MOUNT) -> str:
    """``src="/x"``/``href="/x"``/``content="/x"`` and ``window.PUBLIC_URL`` under ``base``."""
    html = _ROOT_ATTRIBUTE.sub(lambda m: f'{m.group(1)}="{base}/', html)
    return html.replace(_PUBLIC_URL, f'window.PUBLIC_URL="{base}/"')


def inline_script_hashes(html: str) -> tuple[str, ...]:
    """The base64 sha256 of each inline ``<script>`` of the page, for its CSP (the page's
    two small scripts run by their hash, not by ``'unsafe-inline'``)."""
    return tuple(
        base64.b64encode(hashlib.sha256(m.group(1).encode()).digest()).decode()
        for m in _INLINE_SCRIPT.finditer(html)
    )


def rewrite_script(data: bytes, base: str = MOUNT) -> bytes | None:
    """The script with webpack's public path under ``base``; None if it sets none."""
    replaced, count = _WEBPACK_PUBLIC_PATH.subn(
        f'__webpack_require__.p = "{base}/";'.encode(), data
    )
    return replaced if count else None


def rewrite_style(data: bytes, base: str = MOUNT) -> bytes | None:
    """The stylesheet with ``url(/x)`` under ``base`` (fonts); None if it has none."""
    replaced, count = _CSS_ROOT_URL.subn(
        lambda m: b"url(" + m.group(1) + base.encode() + b"/", data
    )
    return replaced if count else None


def app_config_js(base: str = MOUNT, dicomweb: str = DICOMWEB) -> str:
    """OHIF's ``window.config``: routed under ``base``, one DICOMweb source on this origin.

    Same origin means no CORS and the session cookie goes along with every request, so the
    viewer sees exactly what its user may see. Roots are absolute URLs built in the browser
    from ``window.location.origin`` (OHIF's DICOMweb client needs absolute roots).
    """
    source = {
        "namespace": "@ohif/extension-default.dataSourcesModule.dicomweb",
        "sourceName": "aimis",
        "configuration": {
            "friendlyName": "AIMIS",
            "name": "aimis",
            "qidoSupportsIncludeField": True,
            "supportsReject": False,
            "imageRendering": "wadors",
            "thumbnailRendering": "wadors",
            "enableStudyLazyLoad": True,
            "supportsFuzzyMatching": False,
            "supportsWildcard": True,
            "staticWado": False,
            "singlepart": "bulkdata,video",
            "bulkDataURI": {"enabled": True, "relativeResolution": "studies"},
            "omitQuotationForMultipartRequest": True,
        },
    }
    config = {
        "name": "aimis",
        "routerBasename": base,
        "extensions": [],
        "modes": [],
        # OHIF's onboarding tour is English only and its modal overlay takes the first
        # clicks of every new browser: off.
        "customizationService": {"ohif.tours": {"$set": []}},
        "showStudyList": False,
        "maxNumberOfWebWorkers": 2,
        "showWarningMessageForCrossOrigin": False,
        "showCPUFallbackMessage": True,
        "showLoadingIndicator": True,
        "strictZSpacingForVolumeViewport": True,
        "maxNumRequests": {"interaction": 100, "thumbnail": 5, "prefetch": 10},
        "showErrorDetails": "production",
        "defaultDataSourceName": "aimis",
        "dataSources": [source],
    }
    roots = json.dumps(dicomweb)
    return (
        "// Written by AIMIS (api/viewer/ohif.py), not read from OHIF's dist/.\n"
        f"window.config = {json.dumps(config, indent=2)};\n"
        "(function () {\n"
        f"  var root = window.location.origin + {roots};\n"
        "  var c = window.config.dataSources[0].configuration;\n"
        "  c.qidoRoot = root; c.wadoRoot = root; c.wadoUriRoot = root;\n"
        "})();\n"
    )


@dataclass(frozen=True, slots=True)
class Rewritten:
    body: bytes
    gzipped: bytes
    etag: str
    media_type: str
    script_hashes: tuple[str, ...] = ()


def _rewritten(body: bytes, media: str, script_hashes: tuple[str, ...] = ()) -> Rewritten:
    return Rewritten(
        body=body,
        gzipped=gzip.compress(body, compresslevel=6, mtime=0),
        etag=hashlib.sha256(body).hexdigest()[:32],
        media_type=media,
        script_hashes=script_hashes,
    )


class OhifFiles:
    """The files of OHIF's ``dist/`` as this app serves them (see the module's docstring)."""

    def __init__(self, dist: Path = DIST, base: str = MOUNT) -> None:
        self.dist = dist
        self.base = base
        self._rewritten: dict[str, Rewritten | None] = {}
        self._lock = asyncio.Lock()

    @property
    def installed(self) -> bool:
        return (self.dist / "index.html").is_file()

    def resolve(self, relative: str) -> Path | None:
        """The file for a request path inside ``dist/``, or None (never outside it)."""
        if not relative or relative.endswith("/"):
            return None
        root = self.dist.resolve()
        path = (root / relative.lstrip("/")).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    def looks_like_file(self, relative: str) -> bool:
        """A path with an extension names a file; others are the viewer's own routes."""
        return "." in relative.rsplit("/", 1)[-1]

    async def index(self) -> Rewritten:
        page = await self._get("index.html", self._make_index)
        assert page is not None  # _make_index always returns one
        return page

    async def rewritten(self, path: Path) -> Rewritten | None:
        """The rewritten script or stylesheet, or None when ``path`` is served as it is."""
        if path.suffix not in (".js", ".css"):
            return None
        return await self._get(str(path.relative_to(self.dist.resolve())), self._make_asset)

    async def _get(self, key: str, make) -> Rewritten | None:  # type: ignore[no-untyped-def]
        if key in self._rewritten:
            return self._rewritten[key]
        async with self._lock:
            if key not in self._rewritten:
                self._rewritten[key] = await asyncio.to_thread(make, key)
        return self._rewritten[key]

    def _make_index(self, key: str) -> Rewritten:
        html = rewrite_index((self.dist / key).read_text(encoding="utf-8"), self.base)
        return _rewritten(html.encode(), MEDIA_TYPES[".html"], inline_script_hashes(html))

    def _make_asset(self, key: str) -> Rewritten | None:
        data = (self.dist / key).read_bytes()
        suffix = Path(key).suffix
        body = (
            rewrite_script(data, self.base) if suffix == ".js" else rewrite_style(data, self.base)
        )
        if body is None:
            return None
        log.info("OHIF: %s rewritten for %s/", key, self.base)
        return _rewritten(body, MEDIA_TYPES[suffix])
