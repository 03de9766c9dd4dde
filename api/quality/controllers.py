"""Quality control API (SPEC 7): thin handlers, one service call each. The module must be
switched on for the hospital; tasks and cases show examinations, so their reads are
declared patient-data reads (``api.phi``)."""

from __future__ import annotations

import re

from litestar import Controller, Request, Response, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.auth import actor_of, ctx_of, require_login, require_module, require_permission
from api.live import register_case_watcher
from api.phi import patient_only, phi
from api.quality import service, stats
from api.quality.schemas import (
    ArbitrationIn,
    CaseRead,
    CaseRow,
    EvaluationIn,
    Saved,
    StatisticsRead,
    StepIn,
    TaskCreate,
    TaskRead,
)
from kernel.domain import Module, Permission

GUARDS = [require_login, require_module(Module.quality_control)]
TASK = "qc_task"
LIST = phi("qc_task.list", TASK)
VIEW = phi("qc_task.view", TASK, "task_id")
CASE_VIEW = phi("qc_case.view", "qc_case", "case_id")
FIGURES = phi("qc.statistics", TASK)

register_case_watcher(TASK, service.can_watch)


class QualityController(Controller):
    path = "/api/quality"
    tags = ["quality control"]
    guards = GUARDS

    @get("/tasks", opt=LIST)
    async def tasks(self, request: Request) -> list[TaskRead]:
        return await service.list_tasks(actor_of(request))

    @post("/tasks", status_code=HTTP_201_CREATED, opt=patient_only())
    async def create(self, request: Request, data: TaskCreate) -> TaskRead:
        return await service.create_task(ctx_of(request), data)

    @get("/tasks/{task_id:int}", opt=VIEW)
    async def task(self, request: Request, task_id: int) -> TaskRead:
        return await service.read_task(actor_of(request), task_id)

    @post("/tasks/{task_id:int}/sample", status_code=HTTP_200_OK, opt=patient_only())
    async def sample(self, request: Request, task_id: int, data: StepIn) -> TaskRead:
        return await service.sample(ctx_of(request), task_id, data)

    @post("/tasks/{task_id:int}/cancel", status_code=HTTP_200_OK, opt=patient_only())
    async def cancel(self, request: Request, task_id: int, data: StepIn) -> TaskRead:
        return await service.cancel(ctx_of(request), task_id, data)

    @get("/tasks/{task_id:int}/cases", opt=VIEW)
    async def cases(self, request: Request, task_id: int, mine: bool = False) -> list[CaseRow]:
        return await service.cases_of(actor_of(request), task_id, mine)

    @get("/cases/{case_id:int}", opt=CASE_VIEW)
    async def case(self, request: Request, case_id: int) -> CaseRead:
        return await service.read_case(actor_of(request), case_id)

    @post("/cases/{case_id:int}/evaluation", status_code=HTTP_200_OK, opt=patient_only())
    async def evaluate(self, request: Request, case_id: int, data: EvaluationIn) -> Saved:
        return await service.evaluate(ctx_of(request), case_id, data)

    @post("/cases/{case_id:int}/arbitration", status_code=HTTP_200_OK, opt=patient_only())
    async def arbitrate(self, request: Request, case_id: int, data: ArbitrationIn) -> Saved:
        return await service.arbitrate(ctx_of(request), case_id, data)

    @get("/statistics", opt=patient_only(), guards=[require_permission(Permission.qc_manage)])
    async def statistics(
        self,
        request: Request,
        by: str = "device_type",
        step: str = "month",
        task_id: int | None = None,
        date_from: str = "",
        date_to: str = "",
    ) -> StatisticsRead:
        selection = stats.Selection(task_id, date_from, date_to)
        return await stats.statistics(actor_of(request), by, step, selection)

    @get("/statistics/cases", opt=FIGURES, guards=[require_permission(Permission.qc_manage)])
    async def drill(
        self,
        request: Request,
        by: str,
        key: str,
        task_id: int | None = None,
        date_from: str = "",
        date_to: str = "",
    ) -> list[CaseRow]:
        selection = stats.Selection(task_id, date_from, date_to)
        return await stats.drill(actor_of(request), by, key, selection)

    @get(
        "/statistics/download",
        opt=FIGURES,
        guards=[
            require_permission(Permission.qc_manage),
            require_permission(Permission.statistics_download),
        ],
    )
    async def download(
        self,
        request: Request,
        by: str,
        key: str,
        format: str = "csv",
        task_id: int | None = None,
        date_from: str = "",
        date_to: str = "",
    ) -> Response[bytes]:
        selection = stats.Selection(task_id, date_from, date_to)
        body, media = await stats.download(actor_of(request), by, key, selection, format)
        # the key is the caller's text: only a slug of it goes into the header
        name = f"qc-{by}-{re.sub(r'[^A-Za-z0-9._-]+', '_', key)[:60]}.{format}"
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
