"""Initial diagnosis and review (SPEC 2.4): ``submit``, ``approve``, ``return_``: who may
(403) and what the client saw (its version), then a step of ``states.exam_report`` through
``store.engine.apply``. What each step leaves in its unit of work — the lock freed, the
examination's status and the diagnosis request moved, the notices, on approval the report's
DICOM copy — is its declaration's, bound in ``api/reports/steps.py``."""

from __future__ import annotations

from typing import Any

from api.reports.access import Access, for_writing, page_topic, report_of
from api.reports.lock import held_elsewhere
from api.reports.read import may_review
from api.reports.schemas import Done, ReturnIn, StepIn
from api.reports.steps import ReportStep
from kernel.domain import Permission
from kernel.errors import BadRequest, Conflict, Forbidden
from kernel.i18n import gettext
from states.exam_report import EXAM_REPORT
from store.engine import apply
from store.tables import ExamReport
from store.uow import Ctx


async def _existing(exam_id: int) -> dict[str, Any]:
    report = await report_of(exam_id)
    if report is None:
        raise Conflict("There is no report yet; write and save it first.")
    return report


async def _step(
    ctx: Ctx, found: Access, report: dict[str, Any], trigger: str, version: int, reason: str = ""
) -> int:
    """The machine step through the engine (what it leaves: ``api/reports/steps.py``); the
    report's new version."""
    done = await apply(
        ctx,
        EXAM_REPORT,
        ExamReport,
        report["id"],
        trigger,
        ReportStep(impression=report["impression"], reason=reason, found=found, report=report),
        version=version,
        reason=reason,
        summary={"exam_id": found.exam_id},
        topics=[page_topic(found.exam_id)],
    )
    return done.version


async def submit(ctx: Ctx, exam_id: int, data: StepIn) -> Done:
    """The initial diagnosis: the saved draft goes to the reviewers."""
    assert ctx.actor is not None
    found = await for_writing(ctx.actor, exam_id, Permission.report_write)
    report = await _existing(exam_id)
    refused = await held_elsewhere(report["id"], found.actor)
    if refused:
        raise refused
    version = await _step(ctx, found, report, "submit", data.version)
    return Done(message=gettext("The initial diagnosis is submitted for review."), version=version)


async def _reviewable(ctx: Ctx, exam_id: int) -> tuple[Access, dict[str, Any]]:
    assert ctx.actor is not None
    found = await for_writing(ctx.actor, exam_id, Permission.report_review)
    report = await _existing(exam_id)
    if not await may_review(found, report):
        raise Forbidden(
            "You wrote this initial diagnosis; another reviewer reviews it (your "
            "hospital does not allow reviewing one's own report).",
        )
    return found, report


async def approve(ctx: Ctx, exam_id: int, data: StepIn) -> Done:
    found, report = await _reviewable(ctx, exam_id)
    version = await _step(ctx, found, report, "approve", data.version)
    return Done(message=gettext("The report is approved."), version=version)


async def return_(ctx: Ctx, exam_id: int, data: ReturnIn) -> Done:
    if len(data.reason) > 2000:
        raise BadRequest(
            "The reason is {n} characters long; at most 2000 fit.",
            n=len(data.reason),
        )
    found, report = await _reviewable(ctx, exam_id)
    reason = data.reason.strip()
    version = await _step(ctx, found, report, "return", data.version, reason)
    return Done(message=gettext("The report is returned to its author."), version=version)
