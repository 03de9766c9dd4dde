"""Every DICOMweb handler, for ``aimis/routes.py``. STOW-RS comes from ``stow.py`` (the ingest
side owns it) when that module is present."""

from __future__ import annotations

import importlib
from typing import Any

from api.dicomweb.capabilities import capabilities
from api.dicomweb.controllers import QidoController, RenderedController, WadoController


def _stow_handlers() -> list[Any]:
    try:
        module = importlib.import_module("api.dicomweb.stow")
    except ModuleNotFoundError as exc:
        if exc.name != "api.dicomweb.stow":
            raise
        return []
    return list(module.stow_handlers)


def dicomweb_handlers() -> list[Any]:
    return [QidoController, WadoController, RenderedController, capabilities, *_stow_handlers()]
