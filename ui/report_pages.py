"""The report editor page (SPEC 2.4, 2.5, 2.6) and the examination page's report panel.

Both read through ``api.reports.read`` like the API; every change is sent by the browser
to the JSON API (``/api/exams/{id}/report…``) so the rules and the audit live in one place.
The page listens on ``case:report:<exam id>`` and reloads when the report changes while its
reader is not the one editing it (the lock freed, a save, a review).
"""

from __future__ import annotations

from datetime import datetime

from litestar import Request, get
from litestar.response import Template

from api.auth import ctx_of
from api.exams import search as exams
from api.exams.priors import priors
from api.phi import phi
from api.reports import read as reports
from api.reports.access import page_topic
from ui.exam_pages import exam_reader
from ui.labels import reports as texts
from ui.pages import PageController, local_clock, page


class ReportPages(PageController):
    @get("/exams/{exam_id:int}/report", opt=phi("exam_report.view", "exam_report"))
    async def editor(self, request: Request, exam_id: int) -> Template:
        actor = await exam_reader(request)
        ctx = ctx_of(request)
        exam = await exams.view(ctx, exam_id)
        report = await reports.view(ctx, exam_id)
        return await page(
            request,
            "reports/editor.html",
            exam=exam,
            r=report,
            priors=await priors(
                actor,
                exam.id,
                exam.hospital_id,
                exam.patient_id,
                datetime.fromisoformat(exam.exam_time) if exam.exam_time else None,
            ),
            editing=report.lock.mine and report.can_write,
            topics=[page_topic(exam_id)],
            me_id=actor.user_id,
            when=await local_clock(actor),
            **texts.labels(),
        )

    @get("/exams/{exam_id:int}/panel/report")
    async def panel(self, request: Request, exam_id: int) -> Template:
        """The examination page's report panel: state, author, reviewer, the way in."""
        actor = await exam_reader(request)
        report = await reports.read_quietly(ctx_of(request), exam_id)
        return await page(
            request,
            "reports/_panel.html",
            r=report,
            when=await local_clock(actor),
            **texts.labels(),
        )
