"""Statistics API (SPEC 6): thin handlers over ``service`` and ``details``.

``GET /api/statistics/overview`` the figures per hospital in scope (all time, or the
range when given); ``/series`` the bars of a range at a step; ``/turnaround`` report
turnaround and workload per doctor; ``/examinations`` the rows behind a bar (a page of the
examination list); ``/download?format=csv|xlsx`` all of them, streamed; ``/cases?kind=
remote|consult`` the diagnosis requests or consultations behind a bar (no patient data).
"""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.response import Stream

from api.auth import actor_of, ctx_of, require_login
from api.exams.schemas import ExamPage
from api.phi import phi
from api.statistics import cases as case_rows
from api.statistics import details, service
from api.statistics.figures import StatQuery, provide_stat_query
from api.statistics.guards import require_download, require_statistics
from api.statistics.schemas import CasePage, Overview, Series, Turnaround

MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class StatisticsController(Controller):
    path = "/api/statistics"
    tags = ["statistics"]
    guards = [require_login, require_statistics]
    dependencies = {"stat_query": Provide(provide_stat_query)}

    @get("/overview")
    async def overview(self, request: Request, stat_query: StatQuery) -> Overview:
        actor = actor_of(request)
        ranged = stat_query.start or stat_query.end
        return await service.overview(
            actor, await service.parse(actor, stat_query) if ranged else None
        )

    @get("/series")
    async def series(self, request: Request, stat_query: StatQuery) -> Series:
        actor = actor_of(request)
        return await service.series(actor, await service.parse(actor, stat_query))

    @get("/turnaround")
    async def turnaround(self, request: Request, stat_query: StatQuery) -> Turnaround:
        actor = actor_of(request)
        return await service.turnaround(actor, await service.parse(actor, stat_query))

    @get("/examinations", opt=phi("statistics.detail", "examination"))
    async def examinations(
        self, request: Request, stat_query: StatQuery, cursor: str = "", limit: str = ""
    ) -> ExamPage:
        f = await service.parse(actor_of(request), stat_query)
        return await details.drill_down(ctx_of(request), f, cursor, limit)

    @get("/cases")
    async def cases(
        self, request: Request, stat_query: StatQuery, kind: str, cursor: str = ""
    ) -> CasePage:
        actor = actor_of(request)
        return await case_rows.cases(actor, kind, await service.parse(actor, stat_query), cursor)

    @get(
        "/download",
        guards=[require_download],
        opt=phi("statistics.download", "examination"),
    )
    async def download(
        self, request: Request, stat_query: StatQuery, format: str = "csv"
    ) -> Stream:
        f = await service.parse(actor_of(request), stat_query)
        body = await details.download(ctx_of(request), f, format)
        return Stream(
            body,
            media_type=MEDIA[format],
            headers={
                "Content-Disposition": f'attachment; filename="{details.file_name(f, format)}"',
                "Cache-Control": "no-store",
            },
        )
