"""Initial diagnosis and review (SPEC 2.4): ``submit``, ``approve``, ``return_``, each a
step of ``states.exam_report`` through ``store.engine.apply`` that, in the same unit of
work, frees the lock, moves the examination's status (``exam_changed``) and the diagnosis
request (``follow_report``), queues the notices and, on approval, the report's DICOM copy
(outbox "report.dicom")."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.diagnosis.steps import follow_report
from api.reports.access import CASE, Access, for_writing, page_topic, report_of, reviewers
from api.reports.lock import held_elsewhere, live_lock, lock_event, set_timer
from api.reports.read import may_review, self_review_allowed
from api.reports.saving import set_exam_status
from api.reports.schemas import Done, ReturnIn, StepIn
from api.reports.versions import FIELDS, new_version
from kernel.domain import Permission
from kernel.errors import BadRequest, Conflict, Forbidden
from states.exam_report import EXAM_REPORT, ExamReportFacts
from states.machine import Decision
from store.engine import Effects, apply
from store.tables import ExamReport
from store.uow import Ctx, UnitOfWork, now


async def _existing(exam_id: int) -> dict[str, Any]:
    report = await report_of(exam_id)
    if report is None:
        raise Conflict("There is no report yet; write and save it first.")
    return report


async def _clear_lock(uow: UnitOfWork, exam_id: int, report: dict[str, Any]) -> None:
    await set_timer(report["id"], None)
    holder = live_lock(report)[0]
    if holder is not None:
        await lock_event(uow, exam_id, report["id"], "lock_freed", user_id=holder)


def _notice(report_id: int, exam_id: int, event: str, user_ids: list[int]) -> dict[str, Any]:
    return {
        "business_type": "diagnosis",
        "event": event,
        "case_type": CASE,
        "case_id": report_id,
        "user_ids": sorted(set(user_ids)),
        "link": f"/exams/{exam_id}/report",
    }


async def _close(report: dict[str, Any], values: dict[Any, Any], at: datetime) -> None:
    """Write the step's columns with the lock freed (``at`` the change's time)."""
    await ExamReport.update(
        {
            **values,
            ExamReport.lock_user: None,
            ExamReport.lock_until: None,
            ExamReport.updated_at: at,
        }
    ).where(ExamReport.id == report["id"])


async def _move(
    uow: UnitOfWork, found: Access, report: dict[str, Any], status: str, step: str
) -> None:
    """After the step: the lock's timer and holder told, the examination's status and the
    diagnosis request moved."""
    await _clear_lock(uow, found.exam_id, report)
    await set_exam_status(uow, found, status)
    assert found.reporting is not None
    await follow_report(uow.ctx, found.exam_id, found.reporting, step)


async def _step(
    ctx: Ctx,
    exam_id: int,
    report: dict[str, Any],
    trigger: str,
    version: int,
    effects: Effects,
    reason: str = "",
) -> int:
    """The machine step through the engine; the report's new version."""
    done = await apply(
        ctx,
        EXAM_REPORT,
        ExamReport,
        report["id"],
        trigger,
        ExamReportFacts(impression=report["impression"], reason=reason),
        version=version,
        reason=reason,
        summary={"exam_id": exam_id},
        topics=[page_topic(exam_id)],
        effects=effects,
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
    actor = found.actor
    assert found.reporting is not None
    reporting = found.reporting

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        at = now()
        values = {ExamReport.initial_by: actor.user_id, ExamReport.initial_at: at}
        await _close(report, values, at)
        content = {f: report[f] for f in FIELDS}
        revision = await new_version(
            report["id"], "initial", content, actor.user_id, "initial diagnosis"
        )
        await _move(uow, found, report, "initial_report", "initial")
        people = [u for u in await reviewers(reporting) if u != actor.user_id]
        if await self_review_allowed(reporting) and actor.user_id in await reviewers(reporting):
            people.append(actor.user_id)
        if people:
            await uow.outbox(
                "notify",
                _notice(report["id"], exam_id, "submit_report", people),
                key=f"notify-exam-report-{report['id']}-initial-{revision}",
            )

    version = await _step(ctx, exam_id, report, "submit", data.version, effects)
    return Done(message="The initial diagnosis is submitted for review.", version=version)


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
    actor = found.actor

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        at = now()
        values = {
            ExamReport.reviewer: actor.user_id,
            ExamReport.reviewed_at: at,
            ExamReport.returned_reason: "",
        }
        await _close(report, values, at)
        content = {f: report[f] for f in FIELDS}
        revision = await new_version(report["id"], "reviewed", content, actor.user_id, "approved")
        await _move(uow, found, report, "reviewed", "approve")
        await uow.outbox(
            "report.dicom",
            {"report_id": report["id"], "exam_id": exam_id},
            key=f"report-dicom-{report['id']}-{revision}",
        )
        if report["initial_by"] is not None and report["initial_by"] != actor.user_id:
            await uow.outbox(
                "notify",
                _notice(report["id"], exam_id, "review", [report["initial_by"]]),
                key=f"notify-exam-report-{report['id']}-reviewed-{revision}",
            )

    version = await _step(ctx, exam_id, report, "approve", data.version, effects)
    return Done(message="The report is approved.", version=version)


async def return_(ctx: Ctx, exam_id: int, data: ReturnIn) -> Done:
    if len(data.reason) > 2000:
        raise BadRequest(
            "The reason is {n} characters long; at most 2000 fit.",
            n=len(data.reason),
        )
    found, report = await _reviewable(ctx, exam_id)
    actor = found.actor
    reason = data.reason.strip()

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        await _close(report, {ExamReport.returned_reason: reason}, now())
        await _move(uow, found, report, "report_draft", "return")
        if report["initial_by"] is not None and report["initial_by"] != actor.user_id:
            await uow.outbox(
                "notify",
                _notice(report["id"], exam_id, "return", [report["initial_by"]]),
                key=f"notify-exam-report-{report['id']}-returned-{report['version']}",
            )

    version = await _step(ctx, exam_id, report, "return", data.version, effects, reason)
    return Done(message="The report is returned to its author.", version=version)
