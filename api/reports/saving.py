"""Saving a draft (SPEC 2.4): from the version the editor started from, under the lock;
autosave keeps the lock and replaces the author's last autosave version; a returned
report's save is the machine step ``save`` of ``states.exam_report``."""

from __future__ import annotations

from datetime import timedelta

import msgspec

from api.dictionaries.templates import templates_for_examination
from api.reports.access import (
    Access,
    ensure_report,
    for_writing,
    page_topic,
    report_of,
)
from api.reports.lock import LOCK_MINUTES, held_elsewhere, lock_event
from api.reports.schemas import ReportSave, Saved
from api.reports.steps import ReportStep, stale, write_draft
from kernel.domain import Permission
from kernel.errors import BadRequest, Conflict
from kernel.i18n import N_, Msg, gettext
from states.exam_report import EXAM_REPORT
from store.engine import apply
from store.tables import ExamReport
from store.uow import Ctx, now, unit_of_work

MAX_TITLE = 200
MAX_TEXT = 100_000


def _check(data: ReportSave) -> None:
    if len(data.title) > MAX_TITLE:
        raise BadRequest(
            "The title is {n} characters long; at most {max_title} fit.",
            n=len(data.title),
            max_title=MAX_TITLE,
        )
    for name in ("findings", "impression"):
        text = getattr(data, name)
        if len(text) > MAX_TEXT:
            raise BadRequest(
                N_("The findings are {n} characters long; at most {max} fit.")
                if name == "findings"
                else N_("The impression is {n} characters long; at most {max} fit."),
                n=len(text),
                max=MAX_TEXT,
            )


async def _check_template(found: Access, template_id: int | None) -> None:
    if template_id is None:
        return
    usable = {t.id for t in await templates_for_examination(found.actor, found.exam_id)}
    if template_id not in usable:
        raise BadRequest(
            "The template {template_id} is not one you may use for this examination.",
            template_id=template_id,
        )


async def save(ctx: Ctx, exam_id: int, data: ReportSave) -> Saved:
    """Save a draft from the version the editor started from: a stale version or someone
    else's lock is a 409 and nothing changes. A returned report becomes a draft again."""
    assert ctx.actor is not None
    _check(data)
    found = await for_writing(ctx.actor, exam_id, Permission.report_write)
    await _check_template(found, data.template_id)
    report = await report_of(exam_id)
    if report is None:
        if data.version != 0:
            raise Conflict(
                "The report you edited no longer exists; reload the page.",
            )
        report = await ensure_report(ctx, found)
    if data.version == 0 and report["revision"] == 0:
        # made by a lock but never saved: the same empty report the editor started from
        data = msgspec.structs.replace(data, version=report["version"])
    refused = await held_elsewhere(report["id"], found.actor)
    if refused:
        raise refused
    decision = EXAM_REPORT.decide(EXAM_REPORT.states(report["state"]), "save")
    if not decision.allowed:
        raise Conflict(
            "The report is {state}; it is edited only as a draft or after the "
            "reviewer returned it.",
            state=Msg(report["state"], context="report state"),
            extra={"state": report["state"]},
        )
    if data.version != report["version"]:
        raise await stale(report, data.version)
    at = now()
    step = ReportStep(
        found=found,
        report=report,
        draft=data,
        at=at,
        until=at + timedelta(minutes=LOCK_MINUTES),
    )
    if report["state"] == "returned":
        # the machine step "save": its effect "draft written" (api/reports/steps.py)
        done = await apply(
            ctx,
            EXAM_REPORT,
            ExamReport,
            report["id"],
            "save",
            step,
            version=data.version,
            topics=[page_topic(exam_id)],
        )
        version = done.version
        revision = await _revision(report["id"])
    else:
        async with unit_of_work(ctx) as uow:
            revision = await write_draft(uow, step, data.version, True)
            await lock_event(uow, exam_id, report["id"], "saved", version=data.version + 1)
        version = data.version + 1
    return Saved(
        message=gettext("Saved.")
        if data.autosave
        else gettext("Saved; the report is free for others to edit."),
        version=version,
        revision=revision,
        saved_at=at.isoformat(),
        report_id=report["id"],
    )


async def _revision(report_id: int) -> int:
    row = await ExamReport.select(ExamReport.revision).where(ExamReport.id == report_id).first()
    return int(row["revision"]) if row else 0
