"""Who reaches the examination list: doctors of a hospital with remote diagnosis switched
on, and hospital administrators (their scope is decided by ``store.examinations``). The
alliance administrator sees no patient data (``store.scoping.sees_patient_data``): 403."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.auth import actor_of, module_enabled
from kernel.domain import Module
from kernel.errors import Forbidden
from store.scoping import NO_PATIENT_DATA, sees_patient_data


async def require_exam_list(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    actor = actor_of(connection)
    if not sees_patient_data(actor):
        raise Forbidden(NO_PATIENT_DATA)
    if actor.is_admin:
        return
    if not await module_enabled(actor.hospital_id, Module.remote_diagnosis):
        raise Forbidden(
            "The module 'remote_diagnosis' is switched off for your hospital.",
        )
