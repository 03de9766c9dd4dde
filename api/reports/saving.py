"""Saving a draft (SPEC 2.4): from the version the editor started from, under the lock;
autosave keeps the lock and replaces the author's last autosave version; a returned
report's save is the machine step ``save`` of ``states.exam_report``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec

from api.diagnosis.steps import follow_report
from api.dictionaries.templates import templates_for_examination
from api.reports.access import (
    CASE,
    Access,
    ensure_report,
    for_writing,
    names,
    page_topic,
    report_of,
)
from api.reports.lock import LOCK_MINUTES, free_or_mine, held_elsewhere, lock_event, set_timer
from api.reports.schemas import ReportSave, Saved
from api.reports.versions import AUTOSAVE, FIELDS, keep_version
from kernel.domain import Permission
from kernel.errors import BadRequest, Conflict
from kernel.i18n import N_, Msg
from states.exam_report import EXAM_REPORT, ExamReportFacts
from states.machine import Decision
from store.engine import apply
from store.examinations import exam_changed
from store.tables import Examination, ExamReport
from store.uow import Ctx, UnitOfWork, now, unit_of_work

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


async def set_exam_status(uow: UnitOfWork, found: Access, status: str) -> None:
    owner = int(found.exam["hospital"])
    moved = (
        await Examination.update({Examination.status: status, Examination.updated_at: now()})
        .where(Examination.id == found.exam_id, Examination.status != status)
        .returning(Examination.id)
    )
    if moved:
        await exam_changed(uow, found.exam_id, owner, status)


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
        raise await _stale(report, data.version)
    content = {f: getattr(data, f) for f in FIELDS}
    actor = found.actor
    at = now()
    until = at + timedelta(minutes=LOCK_MINUTES)
    keep_lock = data.autosave
    revision = 0

    async def write(uow: UnitOfWork, version: int, bump: bool) -> bool:
        nonlocal revision
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
            ExamReport.lock_until: until if keep_lock else None,
        }
        if bump:
            values[ExamReport.version] = ExamReport.version + 1
        query = ExamReport.update(values).where(
            ExamReport.id == report["id"], ExamReport.version == version, free_or_mine(actor, at)
        )
        if not await query.returning(ExamReport.id):
            return False
        revision = await keep_version(report["id"], content, actor.user_id, data.autosave)
        await set_timer(report["id"], until if keep_lock else None)
        if not keep_lock and report["lock_user"] is not None:
            await lock_event(uow, exam_id, report["id"], "lock_freed", user_id=report["lock_user"])
        await set_exam_status(uow, found, "report_draft")
        assert found.reporting is not None
        await follow_report(uow.ctx, exam_id, found.reporting, "draft")
        await uow.audit(
            f"{CASE}.{AUTOSAVE if data.autosave else 'save'}",
            CASE,
            report["id"],
            detail=f"revision {revision}, {sum(len(v) for v in content.values())} characters",
        )
        return True

    if report["state"] == "returned":

        async def effects(uow: UnitOfWork, _: Decision[Any]) -> None:
            if not await write(uow, data.version + 1, False):
                raise await held_elsewhere(report["id"], actor) or await _stale(
                    report, data.version
                )

        done = await apply(
            ctx,
            EXAM_REPORT,
            ExamReport,
            report["id"],
            "save",
            ExamReportFacts(),
            version=data.version,
            topics=[page_topic(exam_id)],
            effects=effects,
        )
        version = done.version
    else:
        async with unit_of_work(ctx) as uow:
            if not await write(uow, data.version, True):
                raise await held_elsewhere(report["id"], actor) or await _stale(
                    report, data.version
                )
            await lock_event(uow, exam_id, report["id"], "saved", version=data.version + 1)
        version = data.version + 1
    return Saved(
        message="Saved." if data.autosave else "Saved; the report is free for others to edit.",
        version=version,
        revision=revision,
        saved_at=at.isoformat(),
        report_id=report["id"],
    )


async def _stale(report: dict[str, Any], seen: int) -> Conflict:
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
