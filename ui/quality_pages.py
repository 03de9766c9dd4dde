"""Quality control pages (SPEC 7): the task list with the new-task form, a task (its state,
process diagram, cases and timeline), a case's evaluation form beside the viewer link, and
the QC statistics with their chart, drill-down and downloads. They read through the same
services as the API (``api/quality``); the forms post to it (``ui/static/quality.js``)."""

from __future__ import annotations

import msgspec
from litestar import Request, get
from litestar.response import Redirect, Template

from api.accounts import service as accounts
from api.auth import module_enabled
from api.quality import service, stats
from api.quality.controllers import CASE_VIEW, LIST, VIEW
from kernel.domain import Module, Permission
from kernel.errors import Forbidden
from kernel.i18n import N_, pgettext
from states.quality import GRADES, OBJECTS, QUALITY, RADPEER
from store.uow import Actor
from ui.pages import GoTo, PageController, local_clock, page, user_of

GRADE_LABELS = {
    "excellent": N_("Excellent (甲)"),
    "good": N_("Good (乙)"),
    "acceptable": N_("Acceptable (丙)"),
    "reject": N_("Reject (废片)"),
}
OBJECT_LABELS = {
    "images": N_("Images"),
    "initial_report": N_("Initial report"),
    "review_report": N_("Review report"),
}
RADPEER_LABELS = {
    "1": N_("1 — concur with the interpretation"),
    "2a": N_("2a — discrepancy, understandable miss, unlikely to matter clinically"),
    "2b": N_("2b — discrepancy, understandable miss, likely to matter clinically"),
    "3a": N_("3a — discrepancy, should be made most of the time, unlikely to matter"),
    "3b": N_("3b — discrepancy, should be made most of the time, likely to matter"),
}
GROUP_LABELS = {
    "device_type": N_("Device type"),
    "device": N_("Device"),
    "department": N_("Department"),
    "doctor": N_("Evaluated doctor"),
    "object": N_("Evaluation object"),
}


async def _doctor(request: Request) -> Actor:
    actor = user_of(request)
    if actor.realm == accounts.REALM_ADMIN:
        raise GoTo(Redirect("/"))
    if not await module_enabled(actor.hospital_id, Module.quality_control):
        raise Forbidden("The module 'quality_control' is switched off for your hospital.")
    return actor


def diagram(state: str) -> str:
    return "\n".join(
        [
            QUALITY.mermaid(
                state_word=lambda s: pgettext("qc_task state", s),
                step_word=lambda t: pgettext("qc_task step", t.replace("_", " ")),
            ),
            "    classDef current fill:#0b6bcb,color:#fff,stroke:#07467f,stroke-width:3px",
            f"    class {state} current",
        ]
    )


LABELS = {
    "grade_labels": GRADE_LABELS,
    "object_labels": OBJECT_LABELS,
    "radpeer_labels": RADPEER_LABELS,
    "group_labels": GROUP_LABELS,
    "grades": GRADES,
    "objects": OBJECTS,
    "radpeer": RADPEER,
    "pgettext": pgettext,  # the states and steps in the reader's words
}


class QualityPages(PageController):
    @get("/quality", opt=LIST)
    async def index(self, request: Request) -> Template:
        actor = await _doctor(request)
        return await page(
            request,
            "quality/index.html",
            tasks=await service.list_tasks(actor),
            manager=service.is_manager(actor),
            when=await local_clock(actor),
            **await service.choices(actor),
            **LABELS,
        )

    @get("/quality/{task_id:int}", opt=VIEW)
    async def task(self, request: Request, task_id: int) -> Template:
        actor = await _doctor(request)
        task = await service.read_task(actor, task_id)
        return await page(
            request,
            "quality/task.html",
            t=task,
            cases=await service.cases_of(actor, task_id),
            diagram=diagram(task.state),
            when=await local_clock(actor),
            topics=[f"case:qc_task:{task_id}"],
            **LABELS,
        )

    @get("/quality/cases/{case_id:int}", opt=CASE_VIEW)
    async def case(self, request: Request, case_id: int) -> Template:
        actor = await _doctor(request)
        return await page(
            request,
            "quality/case.html",
            c=await service.read_case(actor, case_id),
            when=await local_clock(actor),
            **LABELS,
        )

    @get("/quality/statistics", opt=LIST)
    async def statistics(
        self,
        request: Request,
        by: str = "device_type",
        step: str = "month",
        task_id: int | None = None,
    ) -> Template:
        actor = await _doctor(request)
        service.require_manager(actor)
        figures = await stats.statistics(actor, by, step, stats.Selection(task_id))
        return await page(
            request,
            "quality/statistics.html",
            s=figures,
            chart=msgspec.to_builtins({"groups": figures.groups, "trend": figures.trend}),
            by=by,
            step=step,
            task_id=task_id,
            can_download=Permission.statistics_download.value in actor.permissions,
            **LABELS,
        )
