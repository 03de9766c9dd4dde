"""Addresses of the static files with their content's digest (``/static/app.js?v=…``), so a
browser that cached an older ``app.js`` or stylesheet fetches the new one after an upgrade
instead of pairing a new page with an old script."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import Any

from kernel.paths import UI_DIR

STATIC_DIR = UI_DIR / "static"


@lru_cache(maxsize=64)
def static_url(name: str) -> str:
    path = (STATIC_DIR / name).resolve()
    if not path.is_relative_to(STATIC_DIR) or not path.is_file():
        raise ValueError(f"no static file {name!r}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"/static/{name}?v={digest}"


def register(engine: Any) -> None:
    """``TemplateConfig(engine_callback=…)``: templates call ``static('app.js')``."""
    engine.engine.globals["static"] = static_url
