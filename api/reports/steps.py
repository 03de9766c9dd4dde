"""The examination report process's home (SPEC 2.4): what each step of ``states.exam_report``
leaves in its unit of work, bound to the names its declaration (``EXAM_REPORT_STEPS``)
gives them, and the draft write that a save of a draft and of a returned report share.

- "draft written" (save of a returned report): the draft's columns, its version row, the
  lock kept or freed, the examination's status, the diagnosis request followed, audit;
- "initial diagnosis" (submit), "approval" (approve), "returned" (return): the step's
  columns with the lock freed, a version row (submit, approve), the examination's status and
  the diagnosis request moved; an approval queues the report's DICOM copy
  (outbox ``report.dicom``);
- audiences: "reviewers" (the reporting hospital's reviewers; the author too where the
  hospital allows reviewing one's own report), "author" (the initial diagnosis's author,
  unless he is the one acting). Their notice has business type "diagnosis" and links to
  the report page.

A step's facts (``ReportStep``) carry what its effects need: the access the service
checked, the report row it read, and for a save the text written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.diagnosis.steps import follow_report
from api.patient_archive.visibility import report_reviewed
from api.reports.access import CASE, Access, names, reviewers
from api.reports.lock import free_or_mine, held_elsewhere, live_lock, lock_event, set_timer
from api.reports.read import self_review_allowed
from api.reports.schemas import ReportSave
from api.reports.versions import AUTOSAVE, FIELDS, keep_version, new_version
from kernel.errors import Conflict
from kernel.i18n import Msg
from states.exam_report import EXAM_REPORT, ExamReportFacts
from store import engine
from store.engine import Done
from store.examinations import exam_changed
from store.tables import Examination, ExamReport
from store.uow import UnitOfWork, now


@dataclass(frozen=True)
class ReportStep(ExamReportFacts):
    """The facts of a report step (the guards read ``impression`` and ``reason``) and what
    its effects write."""

    found: Access | None = None
    report: dict[str, Any] = field(default_factory=dict)
    draft: ReportSave | None = None  # a save: the text
    at: datetime | None = None  # a save: when
    until: datetime | None = None  # a save: the lock's new end (autosave keeps it)


def _step(done: Done) -> tuple[ReportStep, Access, dict[str, Any]]:
    step: ReportStep = done.facts
    assert step.found is not None
    return step, step.found, step.report


async def set_exam_status(uow: UnitOfWork, found: Access, status: str) -> None:
    owner = int(found.exam["hospital"])
    moved = (
        await Examination.update({Examination.status: status, Examination.updated_at: now()})
        .where(Examination.id == found.exam_id, Examination.status != status)
        .returning(Examination.id)
    )
    if moved:
        await exam_changed(uow, found.exam_id, owner, status)


async def stale(report: dict[str, Any], seen: int) -> Conflict:
    """The 409 of an edit made from an old version: who changed it, and what to do."""
    row = await ExamReport.select().where(ExamReport.id == report["id"]).first() or report
    who = await names(row["author"])
    by = Msg(" by {name}", name=who[row["author"]]) if row["author"] in who else ""
    return Conflict(
        "The report was changed{by} meanwhile (version {version}, you edited "
        "version {seen}). Copy your text, reload, and merge your changes.",
        by=by,
        version=row["version"],
        seen=seen,
        extra={"version": row["version"], "state": row["state"]},
    )


async def write_draft(uow: UnitOfWork, step: ReportStep, version: int, bump: bool) -> int:
    """Write the draft of ``step`` over ``version`` (``bump``: the save itself moves the
    version; a machine step's save was moved by the engine). Refuses (409) when someone else
    holds the lock or changed the report meanwhile; returns the version row's revision."""
    found, report, data = step.found, step.report, step.draft
    assert found is not None and data is not None and step.at is not None
    actor, at, keep_lock = found.actor, step.at, data.autosave
    values: dict[Any, Any] = {
        ExamReport.title: data.title,
        ExamReport.findings: data.findings,
        ExamReport.impression: data.impression,
        ExamReport.template: data.template_id
        if data.template_id is not None
        else report["template"],
        ExamReport.author: report["author"] or actor.user_id,
        ExamReport.updated_at: at,
        ExamReport.lock_user: actor.user_id if keep_lock else None,
        ExamReport.lock_until: step.until if keep_lock else None,
    }
    if bump:
        values[ExamReport.version] = ExamReport.version + 1
    query = ExamReport.update(values).where(
        ExamReport.id == report["id"], ExamReport.version == version, free_or_mine(actor, at)
    )
    if not await query.returning(ExamReport.id):
        seen = version if bump else version - 1
        raise await held_elsewhere(report["id"], actor) or await stale(report, seen)
    content = {f: getattr(data, f) for f in FIELDS}
    revision = await keep_version(report["id"], content, actor.user_id, data.autosave)
    await set_timer(report["id"], step.until if keep_lock else None)
    if not keep_lock and report["lock_user"] is not None:
        await lock_event(
            uow, found.exam_id, report["id"], "lock_freed", user_id=report["lock_user"]
        )
    await set_exam_status(uow, found, "report_draft")
    assert found.reporting is not None
    await follow_report(uow.ctx, found.exam_id, found.reporting, "draft")
    await uow.audit(
        f"{CASE}.{AUTOSAVE if data.autosave else 'save'}",
        CASE,
        report["id"],
        detail=f"revision {revision}, {sum(len(v) for v in content.values())} characters",
    )
    return revision


async def _draft_written(done: Done) -> None:
    await write_draft(done.uow, done.facts, done.version, False)


async def _close(done: Done, values: dict[Any, Any], status: str, follow: str) -> None:
    """The step's columns with the lock freed (its timer gone, its holder told), then the
    examination's status and the diagnosis request moved."""
    _, found, report = _step(done)
    await ExamReport.update(
        {
            **values,
            ExamReport.lock_user: None,
            ExamReport.lock_until: None,
            ExamReport.updated_at: now(),
        }
    ).where(ExamReport.id == report["id"])
    await set_timer(report["id"], None)
    holder = live_lock(report)[0]
    if holder is not None:
        await lock_event(done.uow, found.exam_id, report["id"], "lock_freed", user_id=holder)
    await set_exam_status(done.uow, found, status)
    assert found.reporting is not None
    await follow_report(done.ctx, found.exam_id, found.reporting, follow)


def _by(done: Done) -> int:
    assert done.ctx.actor is not None
    return done.ctx.actor.user_id


async def _initial(done: Done) -> None:
    _, _, report = _step(done)
    await _close(
        done,
        {ExamReport.initial_by: _by(done), ExamReport.initial_at: now()},
        "initial_report",
        "initial",
    )
    content = {f: report[f] for f in FIELDS}
    await new_version(report["id"], "initial", content, _by(done), "initial diagnosis")


async def _approval(done: Done) -> None:
    _, found, report = _step(done)
    values = {
        ExamReport.reviewer: _by(done),
        ExamReport.reviewed_at: now(),
        ExamReport.returned_reason: "",
    }
    await _close(done, values, "reviewed", "approve")
    await report_reviewed(done.uow, found.exam_id)  # cloud film visible "after review"
    content = {f: report[f] for f in FIELDS}
    revision = await new_version(report["id"], "reviewed", content, _by(done), "approved")
    await done.uow.outbox(
        "report.dicom",
        {"report_id": report["id"], "exam_id": found.exam_id},
        key=f"report-dicom-{report['id']}-{revision}",
    )


async def _returned(done: Done) -> None:
    await _close(done, {ExamReport.returned_reason: done.reason}, "report_draft", "return")


async def _reviewers(done: Done) -> list[int]:
    _, found, _ = _step(done)
    assert found.reporting is not None
    everyone = await reviewers(found.reporting)
    people = [u for u in everyone if u != _by(done)]
    if _by(done) in everyone and await self_review_allowed(found.reporting):
        people.append(_by(done))
    return people


async def _author(done: Done) -> list[int]:
    _, _, report = _step(done)
    author = report["initial_by"]
    return [int(author)] if author is not None and author != _by(done) else []


async def _link(done: Done) -> str:
    _, found, _ = _step(done)
    return f"/exams/{found.exam_id}/report"


engine.bind(
    EXAM_REPORT,
    audiences={"reviewers": _reviewers, "author": _author},
    effects={
        "draft written": _draft_written,
        "initial diagnosis": _initial,
        "approval": _approval,
        "returned": _returned,
    },
    business_type="diagnosis",
    link=_link,
)
