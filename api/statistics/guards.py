"""Who may see statistics: a doctor whose role holds ``statistics.view`` (downloads:
``statistics.download``) in a hospital with the module on, the hospital admin of such a
hospital, and the alliance admin (figures of his alliance's hospitals, no rows)."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth import actor_of, require_module, require_permission
from kernel.domain import Module, Permission

_module = require_module(Module.statistics)


async def require_statistics(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    if actor_of(connection).kind == "alliance_admin":
        return
    await _module(connection, handler)
    require_permission(Permission.statistics_view.value)(connection, handler)


async def require_download(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    await _module(connection, handler)
    require_permission(Permission.statistics_download.value)(connection, handler)
