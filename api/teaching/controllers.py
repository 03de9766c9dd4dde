"""Remote teaching API (SPEC §5): thin handlers, one service call each. The module switch
``teaching`` off: 403 for everything here."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.status_codes import HTTP_200_OK

from api.auth import actor_of, ctx_of, require_login, require_module
from api.teaching import service
from api.teaching.schemas import CourseIn, HeartbeatIn, StepIn
from kernel.domain import Module

GUARDS = [require_login, require_module(Module.teaching)]


class TeachingController(Controller):
    path = "/api/teaching"
    tags = ["teaching"]
    guards = GUARDS

    @get("/courses")
    async def courses(self, request: Request, q: str = "") -> list[dict[str, Any]]:
        return await service.visible(actor_of(request), q=q)

    @get("/premium")
    async def premium(self, request: Request, q: str = "") -> list[dict[str, Any]]:
        return await service.visible(actor_of(request), premium=True, q=q)

    @post("/courses")
    async def create(self, request: Request, data: CourseIn) -> dict[str, Any]:
        ctx = ctx_of(request)
        course_id = await service.create(ctx, msgspec.structs.asdict(data))
        return await service.read(actor_of(request), course_id)

    @get("/courses/{course_id:int}")
    async def read(self, request: Request, course_id: int) -> dict[str, Any]:
        return await service.read(actor_of(request), course_id)

    @post("/courses/{course_id:int}/steps/{trigger:str}", status_code=HTTP_200_OK)
    async def act(
        self, request: Request, course_id: int, trigger: str, data: StepIn
    ) -> dict[str, Any]:
        return await service.act(ctx_of(request), course_id, trigger, data.version)

    @post("/courses/{course_id:int}/premium", status_code=HTTP_200_OK)
    async def premium_publish(self, request: Request, course_id: int) -> dict[str, Any]:
        return await service.make_premium(ctx_of(request), course_id)

    @post("/courses/{course_id:int}/heartbeats", status_code=HTTP_200_OK)
    async def heartbeat(
        self, request: Request, course_id: int, data: HeartbeatIn
    ) -> dict[str, Any]:
        return await service.heartbeat(ctx_of(request), course_id, data.position, data.watched)

    @get("/records")
    async def records(self, request: Request) -> dict[str, Any]:
        actor = actor_of(request)
        return {
            "teaching": await service.teaching_records(actor),
            "learning": await service.learning_records(actor),
        }

    @get("/records/export")
    async def export(self, request: Request) -> Response[str]:
        return Response(
            await service.export_csv(actor_of(request)),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="learning-records.csv"'},
        )
