"""The cloud-film rules API (SPEC 8.7), under ``/api/patient-archive``: the hospital admin
reads and edits his hospital's rules; the alliance admin reads the figures per hospital.
The patient's own operations (manual match, her matches) are ``matching`` functions taking
a ``PatientPerson`` id; their routes belong to the patient realm (``api/patients``)."""

from __future__ import annotations

from litestar import Controller, Request, get, put

from api.auth import actor_of, ctx_of, require_admin
from api.patient_archive import rules
from api.patient_archive.schemas import (
    CheckItemRuleUpdate,
    DefaultRuleUpdate,
    HospitalFigures,
    RulesRead,
)


class CloudFilmRuleController(Controller):
    path = "/api/patient-archive"
    tags = ["patient archive"]
    guards = [require_admin]

    @get("/rules")
    async def read_rules(self, request: Request) -> RulesRead:
        return await rules.read_rules(actor_of(request))

    @put("/rules/default")
    async def update_default(self, request: Request, data: DefaultRuleUpdate) -> RulesRead:
        return await rules.update_default(ctx_of(request), data)

    @put("/rules/check-items/{item_id:int}")
    async def update_check_item(
        self, request: Request, item_id: int, data: CheckItemRuleUpdate
    ) -> RulesRead:
        return await rules.update_check_item(ctx_of(request), item_id, data)

    @get("/overview")
    async def overview(self, request: Request) -> list[HospitalFigures]:
        return await rules.overview(actor_of(request))
