"""Examination list API (SPEC 2.1, issue 5 items 1-2): thin handlers over ``filters``,
``search``, ``counts``, ``columns`` and ``edit``.

``GET /api/exams`` one keyset page; ``GET /api/exams/counts`` counts per status for the
same filter; ``GET|PUT /api/exams/columns`` the user's columns (``PUT /api/exams/density`` the row
height); ``GET /api/exams/{id}``; ``PATCH /api/exams/{id}`` an administrator's edit and
``PUT /api/exams/{id}/priority`` a doctor's or administrator's priority (version-checked,
409 when stale).
"""

from __future__ import annotations

from litestar import Controller, Request, get, patch, put
from litestar.di import Provide

from api.auth import actor_of, ctx_of, require_admin
from api.exams import columns, counts, edit, search
from api.exams.filters import ExamQuery, provide_exam_query
from api.exams.guards import require_exam_list
from api.exams.schemas import (
    ColumnChoice,
    ColumnPrefs,
    DensityIn,
    ExamPage,
    ExamRead,
    ExamUpdate,
    PriorityIn,
    StatusCounts,
)
from api.phi import phi


class ExamController(Controller):
    path = "/api/exams"
    tags = ["examinations"]
    guards = [require_exam_list]
    dependencies = {"exam_query": Provide(provide_exam_query)}

    @get("/", opt=phi("exam.list", "examination"))
    async def list_exams(self, request: Request, exam_query: ExamQuery) -> ExamPage:
        return await search.list_exams(ctx_of(request), exam_query)

    @get("/counts")
    async def counts(self, request: Request, exam_query: ExamQuery) -> StatusCounts:
        return await counts.status_counts(actor_of(request), exam_query)

    @get("/columns")
    async def columns(self, request: Request) -> ColumnPrefs:
        return await columns.get_columns(actor_of(request))

    @put("/columns")
    async def set_columns(self, request: Request, data: ColumnChoice) -> ColumnPrefs:
        return await columns.set_columns(ctx_of(request), data.columns)

    @put("/density")
    async def set_density(self, request: Request, data: DensityIn) -> ColumnPrefs:
        return await columns.set_density(ctx_of(request), data.density)

    @put("/{exam_id:int}/priority")
    async def set_priority(self, request: Request, exam_id: int, data: PriorityIn) -> ExamRead:
        return await edit.set_priority(ctx_of(request), exam_id, data)

    @get("/{exam_id:int}", opt=phi("exam.view", "examination", "exam_id"))
    async def get_exam(self, request: Request, exam_id: int) -> ExamRead:
        return await search.view(ctx_of(request), exam_id)

    @patch("/{exam_id:int}", guards=[require_admin])
    async def update_exam(self, request: Request, exam_id: int, data: ExamUpdate) -> ExamRead:
        return await edit.update(ctx_of(request), exam_id, data)
