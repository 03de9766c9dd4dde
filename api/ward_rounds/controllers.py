"""Ward-round API (SPEC 4): thin handlers, one service call each."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post, put
from litestar.status_codes import HTTP_200_OK

from api.auth import actor_of, ctx_of, require_login, require_module
from api.consultations import contacts
from api.consultations.schemas import Contacts, ExamRead
from api.live import register_case_watcher
from api.paper import pdf_response
from api.phi import phi
from api.schemas import HistoryEntry
from api.ward_rounds import access, printing, service
from api.ward_rounds.schemas import (
    Done,
    RecordIn,
    StepIn,
    WardRoundCreate,
    WardRoundRead,
    WardRoundSummary,
)
from kernel.domain import Module

GUARDS = [require_login, require_module(Module.ward_round)]
CASE = "ward_round"
LIST = phi("ward_round.list", CASE)
VIEW = phi("ward_round.view", CASE, "ward_round_id")

register_case_watcher(CASE, access.can_watch)


class WardRoundController(Controller):
    path = "/api/ward-rounds"
    tags = ["ward round"]
    guards = GUARDS

    @get("/", opt=LIST)
    async def search(
        self,
        request: Request,
        q: str = "",
        patient: str = "",
        expert: str = "",
        day_from: str = "",
        day_to: str = "",
    ) -> list[WardRoundSummary]:
        return await service.search(actor_of(request), q, patient, expert, day_from, day_to)

    @get("/experts")
    async def experts(self, request: Request, q: str = "") -> Contacts:
        """The expert picker: doctors of the alliance's leading hospital (pinyin too)."""
        actor = actor_of(request)
        found = await access.expert_hospitals(actor.alliance_id)
        return await contacts.search(actor, q, hospitals=found)

    @get("/examinations", opt=phi("ward_round.exam_search", "examination"))
    async def find_examinations(
        self, request: Request, id_number: str = "", his_number: str = ""
    ) -> list[ExamRead]:
        return await service.find_examinations(actor_of(request), id_number, his_number)

    @post("/")
    async def create(self, request: Request, data: WardRoundCreate) -> WardRoundRead:
        return await service.create(ctx_of(request), data)

    @get("/{ward_round_id:int}", opt=VIEW)
    async def read(self, request: Request, ward_round_id: int) -> WardRoundRead:
        return await service.view(ctx_of(request), ward_round_id)

    @get("/{ward_round_id:int}/timeline", opt=phi("ward_round.timeline", CASE, "ward_round_id"))
    async def timeline(self, request: Request, ward_round_id: int) -> list[HistoryEntry]:
        return await service.timeline(actor_of(request), ward_round_id)

    @post("/{ward_round_id:int}/start", status_code=HTTP_200_OK)
    async def start(self, request: Request, ward_round_id: int, data: StepIn) -> Done:
        return await service.apply_step(ctx_of(request), ward_round_id, "start", data)

    @post("/{ward_round_id:int}/cancel", status_code=HTTP_200_OK)
    async def cancel(self, request: Request, ward_round_id: int, data: StepIn) -> Done:
        return await service.apply_step(ctx_of(request), ward_round_id, "cancel", data)

    @post("/{ward_round_id:int}/finish", status_code=HTTP_200_OK)
    async def finish(self, request: Request, ward_round_id: int, data: StepIn) -> Done:
        return await service.apply_step(ctx_of(request), ward_round_id, "finish", data)

    @put("/{ward_round_id:int}/record")
    async def save_record(self, request: Request, ward_round_id: int, data: RecordIn) -> Done:
        return await service.save_record(ctx_of(request), ward_round_id, data)

    @get(
        "/{ward_round_id:int}/record.pdf",
        opt=phi("ward_round.record_print", CASE, "ward_round_id"),
    )
    async def record_pdf(self, request: Request, ward_round_id: int) -> Response[bytes]:
        return pdf_response(*await printing.printable(ctx_of(request), ward_round_id))
