"""Guards of the management API beyond ``api.auth``'s: the hospital admin's own area."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth import actor_of, require_admin
from kernel.errors import Forbidden


def require_hospital_admin(connection: ASGIConnection, handler: BaseRouteHandler) -> None:
    """Departments, doctors and roles belong to one hospital: its admin manages them."""
    require_admin(connection, handler)
    actor = actor_of(connection)
    if actor.kind != "hospital_admin" or actor.hospital_id is None:
        raise Forbidden(
            "Only a hospital administrator may do this; an alliance administrator "
            "manages hospitals and their administrators.",
        )
