"""Report API (SPEC 2.4, 2.5): thin handlers, one call each of ``read``, ``saving``,
``review`` or ``versions``."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, post, put
from litestar.status_codes import HTTP_200_OK

from api.auth import ctx_of, require_login
from api.exams.guards import require_exam_list
from api.live import register_case_watcher
from api.phi import phi
from api.reports import access, lock, read, review, saving, versions
from api.reports.schemas import (
    DiffRead,
    Done,
    LockRead,
    ReportRead,
    ReportSave,
    ReturnIn,
    Saved,
    StepIn,
    VersionRead,
    VersionSummary,
)

# ``case:report:<exam id>`` (the page) and ``case:exam_report:<report id>`` (the engine's).
register_case_watcher("report", access.can_watch)
register_case_watcher(access.CASE, access.can_watch_report)


class ReportController(Controller):
    path = "/api/exams/{exam_id:int}/report"
    tags = ["reports"]
    guards = [require_login, require_exam_list]

    @get("/", opt=phi("exam_report.view", "exam_report"))
    async def read(self, request: Request, exam_id: int) -> ReportRead:
        return await read.view(ctx_of(request), exam_id)

    @put("/")
    async def save(self, request: Request, exam_id: int, data: ReportSave) -> Saved:
        return await saving.save(ctx_of(request), exam_id, data)

    @post("/lock", status_code=HTTP_200_OK)
    async def lock(self, request: Request, exam_id: int) -> LockRead:
        """Take the lock, or keep it alive."""
        return await lock.take(ctx_of(request), exam_id)

    @delete("/lock", status_code=HTTP_200_OK)
    async def unlock(self, request: Request, exam_id: int) -> Done:
        return await lock.release(ctx_of(request), exam_id)

    @post("/lock/release", status_code=HTTP_200_OK)
    async def release(self, request: Request, exam_id: int) -> Done:
        """A hospital admin of the reporting hospital frees someone's lock."""
        return await lock.admin_release(ctx_of(request), exam_id)

    @post("/submit", status_code=HTTP_200_OK)
    async def submit(self, request: Request, exam_id: int, data: StepIn) -> Done:
        return await review.submit(ctx_of(request), exam_id, data)

    @post("/approve", status_code=HTTP_200_OK)
    async def approve(self, request: Request, exam_id: int, data: StepIn) -> Done:
        return await review.approve(ctx_of(request), exam_id, data)

    @post("/return", status_code=HTTP_200_OK)
    async def return_(self, request: Request, exam_id: int, data: ReturnIn) -> Done:
        return await review.return_(ctx_of(request), exam_id, data)

    @get("/versions", opt=phi("exam_report.view", "exam_report"))
    async def versions(self, request: Request, exam_id: int) -> list[VersionSummary]:
        return await versions.versions(ctx_of(request), exam_id)

    @get("/versions/{revision:int}", opt=phi("exam_report.view", "exam_report"))
    async def version(self, request: Request, exam_id: int, revision: int) -> VersionRead:
        return await versions.version(ctx_of(request), exam_id, revision)

    @get("/diff", opt=phi("exam_report.view", "exam_report"))
    async def diff(self, request: Request, exam_id: int, older: int, newer: int) -> DiffRead:
        return await versions.diff(ctx_of(request), exam_id, older, newer)
