"""Remote diagnosis request API (SPEC 2.2): thin handlers, one service call each."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Request, get, post
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK

from api.auth import actor_of, ctx_of, require_login
from api.diagnosis import service
from api.diagnosis.schemas import (
    RejectIn,
    RequestCreate,
    RequestDetail,
    RequestPage,
    StepIn,
    TargetHospital,
)
from api.exams.guards import require_exam_list
from api.phi import phi


class DiagnosisRequestController(Controller):
    path = "/api/diagnosis-requests"
    tags = ["remote diagnosis"]
    guards = [require_login, require_exam_list]

    @get("/", opt=phi("diagnosis_request.list", "diagnosis_request"))
    async def list_requests(
        self,
        request: Request,
        box: str = "incoming",
        state_filter: Annotated[str, Parameter(query="state")] = "",
        cursor: str = "",
        limit: int = 50,
    ) -> RequestPage:
        return await service.list_requests(ctx_of(request), box, state_filter, cursor, limit)

    @get("/targets")
    async def targets(self, request: Request) -> list[TargetHospital]:
        return await service.targets(actor_of(request))

    @post("/")
    async def create(self, request: Request, data: RequestCreate) -> RequestDetail:
        return await service.create(ctx_of(request), data)

    @get("/{request_id:int}", opt=phi("diagnosis_request.view", "diagnosis_request", "request_id"))
    async def read(self, request: Request, request_id: int) -> RequestDetail:
        return await service.view(ctx_of(request), request_id)

    @post("/{request_id:int}/accept", status_code=HTTP_200_OK)
    async def accept(self, request: Request, request_id: int, data: StepIn) -> RequestDetail:
        return await service.step(ctx_of(request), request_id, "accept", data.version)

    @post("/{request_id:int}/reject", status_code=HTTP_200_OK)
    async def reject(self, request: Request, request_id: int, data: RejectIn) -> RequestDetail:
        return await service.step(ctx_of(request), request_id, "reject", data.version, data.reason)

    @post("/{request_id:int}/cancel", status_code=HTTP_200_OK)
    async def cancel(self, request: Request, request_id: int, data: StepIn) -> RequestDetail:
        return await service.step(ctx_of(request), request_id, "cancel", data.version)
