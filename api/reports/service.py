"""The report's life (SPEC 2.4): read, save drafts (autosave), submit the initial diagnosis,
review (approve or return with a reason), versions and their differences.

Each machine step goes through ``store.engine.apply`` on ``states.exam_report`` (history,
live events, audit) and, in the same unit of work, moves the examination's status
(``exam_changed``), the diagnosis request (``follow_report``), queues the notices and, on
approval, the report's DICOM copy (outbox "report.dicom").
"""

from __future__ import annotations

import difflib
from datetime import datetime, timedelta
from typing import Any

import msgspec

from api.diagnosis.steps import follow_report
from api.dictionaries.templates import templates_for_examination
from api.reports.access import (
    CASE,
    Access,
    access,
    ensure_report,
    for_writing,
    hospital_name,
    names,
    page_topic,
    readable,
    report_of,
    reviewers,
)
from api.reports.lock import (
    EDITABLE,
    LOCK_MINUTES,
    free_or_mine,
    held_elsewhere,
    live_lock,
    lock_event,
    lock_read,
    set_timer,
)
from api.reports.schemas import (
    DiffLine,
    DiffRead,
    Done,
    FieldDiff,
    PersonRead,
    ReportRead,
    ReportSave,
    ReturnIn,
    Saved,
    StepIn,
    TemplateChoice,
    VersionRead,
    VersionSummary,
)
from kernel.domain import Permission
from kernel.errors import BadRequest, Conflict, Forbidden, NotFound
from kernel.i18n import N_, Msg
from states.exam_report import EXAM_REPORT, ExamReportFacts
from states.machine import Decision
from store.engine import apply
from store.examinations import exam_changed
from store.reads import note
from store.tables import Examination, ExamReport, ExamReportVersion, Hospital
from store.uow import Ctx, UnitOfWork, now, unit_of_work

MAX_TITLE = 200
MAX_TEXT = 100_000
FIELDS = ("title", "findings", "impression")
AUTOSAVE = "autosave"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _person(who: dict[int, str], user_id: int | None) -> PersonRead | None:
    return PersonRead(user_id, who.get(user_id, "")) if user_id is not None else None


async def self_review_allowed(hospital_id: int) -> bool:
    row = (
        await Hospital.select(Hospital.self_review_allowed)
        .where(Hospital.id == hospital_id)
        .first()
    )
    return bool(row and row["self_review_allowed"])


async def _may_review(found: Access, report: dict[str, Any]) -> bool:
    if report["initial_by"] != found.actor.user_id:
        return True
    return found.reporting is not None and await self_review_allowed(found.reporting)


async def _read(found: Access, report: dict[str, Any] | None) -> ReportRead:
    actor = found.actor
    state = report["state"] if report else ""
    available = found.reads_all() or state in ("initial", "reviewed")
    notice = ""
    if found.reporting is None:
        notice = found.pending
    elif not found.in_reporting_hospital:
        notice = f"The report is written by {await hospital_name(found.reporting)}." + (
            "" if available else " It shows here once the initial diagnosis is submitted."
        )
    can_write = found.has(Permission.report_write) and state in ("", *EDITABLE)
    can_review = (
        report is not None
        and state == "initial"
        and found.has(Permission.report_review)
        and await _may_review(found, report)
    )
    templates: list[TemplateChoice] = []
    if can_write:
        templates = [
            TemplateChoice(t.id, t.name, t.scope, t.check_item_name)
            for t in await templates_for_examination(actor, found.exam_id)
        ]
    r = report or {}
    who = await names(r.get("author"), r.get("initial_by"), r.get("reviewer"))
    shown = available and report is not None
    return ReportRead(
        exam_id=found.exam_id,
        report_id=r.get("id"),
        exam_hospital_id=int(found.exam["hospital"]),
        reporting_hospital_id=found.reporting,
        reporting_hospital_name=await hospital_name(found.reporting) if found.reporting else "",
        state=state,
        version=int(r.get("version", 0)),
        revision=int(r.get("revision", 0)),
        title=r["title"] if shown else "",
        findings=r["findings"] if shown else "",
        impression=r["impression"] if shown else "",
        template_id=r.get("template"),
        author=_person(who, r.get("author")),
        initial_by=_person(who, r.get("initial_by")),
        initial_at=iso(r.get("initial_at")),
        reviewer=_person(who, r.get("reviewer")),
        reviewed_at=iso(r.get("reviewed_at")),
        returned_reason=r.get("returned_reason", "") if shown else "",
        printed_at=iso(r.get("printed_at")),
        print_count=int(r.get("print_count", 0)),
        lock=await lock_read(report, actor),
        available=available,
        notice=notice,
        can_write=can_write,
        can_review=can_review,
        can_print=found.has(Permission.report_print) and state == "reviewed",
        can_release=actor.kind == "hospital_admin"
        and found.in_reporting_hospital
        and live_lock(report)[0] is not None,
        templates=templates,
        updated_at=iso(r.get("updated_at")),
    )


async def view(ctx: Ctx, exam_id: int) -> ReportRead:
    """The report as its reader may see it; reading it is audited by the route's
    declaration (``api.phi``)."""
    assert ctx.actor is not None
    found = await access(ctx.actor, exam_id)
    report = await report_of(exam_id)
    data = await _read(found, report)
    _noted(found, report, f"examination {exam_id}")
    return data


def _noted(found: Access, report: dict[str, Any] | None, detail: str) -> None:
    """What the audit row of this read says: the report (if any) and ``detail``."""
    note(target_id=report["id"] if report is not None else None, detail=detail)


async def read_quietly(ctx: Ctx, exam_id: int) -> ReportRead:
    """The same for the examination page's panel, which shows no report text."""
    assert ctx.actor is not None
    found = await access(ctx.actor, exam_id)
    return await _read(found, await report_of(exam_id))


# --- saving ---------------------------------------------------------------------------------


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


async def _set_exam_status(uow: UnitOfWork, found: Access, status: str) -> None:
    owner = int(found.exam["hospital"])
    moved = (
        await Examination.update({Examination.status: status, Examination.updated_at: now()})
        .where(Examination.id == found.exam_id, Examination.status != status)
        .returning(Examination.id)
    )
    if moved:
        await exam_changed(uow, found.exam_id, owner, status)


async def _new_version(
    report_id: int, state: str, content: dict[str, str], author: int, note: str
) -> int:
    """Add a version row (the report's next revision) and return its number."""
    row = await ExamReport.select(ExamReport.revision).where(ExamReport.id == report_id).first()
    revision = int(row["revision"]) + 1 if row else 1
    await ExamReportVersion.insert(
        ExamReportVersion(
            report=report_id,
            revision=revision,
            state=state,
            title=content["title"],
            findings=content["findings"],
            impression=content["impression"],
            author=author,
            note=note[:300],
            created_at=now(),
        )
    )
    await ExamReport.update({ExamReport.revision: revision}).where(ExamReport.id == report_id)
    return revision


async def _keep_version(
    report_id: int, content: dict[str, str], author: int, autosave: bool
) -> int:
    """Consecutive autosaves of one author replace their last autosave version; an explicit
    save always adds one."""
    last = (
        await ExamReportVersion.select()
        .where(ExamReportVersion.report == report_id)
        .order_by(ExamReportVersion.revision, ascending=False)
        .first()
    )
    if autosave and last and last["note"] == AUTOSAVE and last["author"] == author:
        await ExamReportVersion.update(
            {
                ExamReportVersion.title: content["title"],
                ExamReportVersion.findings: content["findings"],
                ExamReportVersion.impression: content["impression"],
                ExamReportVersion.created_at: now(),
            }
        ).where(ExamReportVersion.id == last["id"])
        return int(last["revision"])
    return await _new_version(report_id, "draft", content, author, AUTOSAVE if autosave else "")


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
        revision = await _keep_version(report["id"], content, actor.user_id, data.autosave)
        await set_timer(report["id"], until if keep_lock else None)
        if not keep_lock and report["lock_user"] is not None:
            await lock_event(uow, exam_id, report["id"], "lock_freed", user_id=report["lock_user"])
        await _set_exam_status(uow, found, "report_draft")
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


# --- initial diagnosis and review -----------------------------------------------------------


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
        await ExamReport.update(
            {
                ExamReport.initial_by: actor.user_id,
                ExamReport.initial_at: at,
                ExamReport.lock_user: None,
                ExamReport.lock_until: None,
                ExamReport.updated_at: at,
            }
        ).where(ExamReport.id == report["id"])
        content = {f: report[f] for f in FIELDS}
        revision = await _new_version(
            report["id"], "initial", content, actor.user_id, "initial diagnosis"
        )
        await _clear_lock(uow, exam_id, report)
        await _set_exam_status(uow, found, "initial_report")
        await follow_report(uow.ctx, exam_id, reporting, "initial")
        people = [u for u in await reviewers(reporting) if u != actor.user_id]
        if await self_review_allowed(reporting) and actor.user_id in await reviewers(reporting):
            people.append(actor.user_id)
        if people:
            await uow.outbox(
                "notify",
                _notice(report["id"], exam_id, "submit_report", people),
                key=f"notify-exam-report-{report['id']}-initial-{revision}",
            )

    done = await apply(
        ctx,
        EXAM_REPORT,
        ExamReport,
        report["id"],
        "submit",
        ExamReportFacts(impression=report["impression"]),
        version=data.version,
        summary={"exam_id": exam_id},
        topics=[page_topic(exam_id)],
        effects=effects,
    )
    return Done(message="The initial diagnosis is submitted for review.", version=done.version)


async def _reviewable(ctx: Ctx, exam_id: int) -> tuple[Access, dict[str, Any]]:
    assert ctx.actor is not None
    found = await for_writing(ctx.actor, exam_id, Permission.report_review)
    report = await _existing(exam_id)
    if not await _may_review(found, report):
        raise Forbidden(
            "You wrote this initial diagnosis; another reviewer reviews it (your "
            "hospital does not allow reviewing one's own report).",
        )
    return found, report


async def approve(ctx: Ctx, exam_id: int, data: StepIn) -> Done:
    found, report = await _reviewable(ctx, exam_id)
    actor = found.actor
    assert found.reporting is not None
    reporting = found.reporting

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        at = now()
        await ExamReport.update(
            {
                ExamReport.reviewer: actor.user_id,
                ExamReport.reviewed_at: at,
                ExamReport.returned_reason: "",
                ExamReport.lock_user: None,
                ExamReport.lock_until: None,
                ExamReport.updated_at: at,
            }
        ).where(ExamReport.id == report["id"])
        content = {f: report[f] for f in FIELDS}
        revision = await _new_version(report["id"], "reviewed", content, actor.user_id, "approved")
        await _clear_lock(uow, exam_id, report)
        await _set_exam_status(uow, found, "reviewed")
        await follow_report(uow.ctx, exam_id, reporting, "approve")
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

    done = await apply(
        ctx,
        EXAM_REPORT,
        ExamReport,
        report["id"],
        "approve",
        ExamReportFacts(impression=report["impression"]),
        version=data.version,
        summary={"exam_id": exam_id},
        topics=[page_topic(exam_id)],
        effects=effects,
    )
    return Done(message="The report is approved.", version=done.version)


async def return_(ctx: Ctx, exam_id: int, data: ReturnIn) -> Done:
    if len(data.reason) > 2000:
        raise BadRequest(
            "The reason is {n} characters long; at most 2000 fit.",
            n=len(data.reason),
        )
    found, report = await _reviewable(ctx, exam_id)
    actor = found.actor
    assert found.reporting is not None
    reporting = found.reporting
    reason = data.reason.strip()

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        await ExamReport.update(
            {
                ExamReport.returned_reason: reason,
                ExamReport.lock_user: None,
                ExamReport.lock_until: None,
                ExamReport.updated_at: now(),
            }
        ).where(ExamReport.id == report["id"])
        await _clear_lock(uow, exam_id, report)
        await _set_exam_status(uow, found, "report_draft")
        await follow_report(uow.ctx, exam_id, reporting, "return")
        if report["initial_by"] is not None and report["initial_by"] != actor.user_id:
            await uow.outbox(
                "notify",
                _notice(report["id"], exam_id, "return", [report["initial_by"]]),
                key=f"notify-exam-report-{report['id']}-returned-{report['version']}",
            )

    done = await apply(
        ctx,
        EXAM_REPORT,
        ExamReport,
        report["id"],
        "return",
        ExamReportFacts(impression=report["impression"], reason=reason),
        version=data.version,
        reason=reason,
        summary={"exam_id": exam_id},
        topics=[page_topic(exam_id)],
        effects=effects,
    )
    return Done(message="The report is returned to its author.", version=done.version)


# --- versions -------------------------------------------------------------------------------


async def _readable(ctx: Ctx, exam_id: int) -> dict[str, Any]:
    assert ctx.actor is not None
    report = (await readable(ctx.actor, exam_id))[0]
    note(target_id=report["id"])
    return report


async def versions(ctx: Ctx, exam_id: int) -> list[VersionSummary]:
    report = await _readable(ctx, exam_id)
    rows = (
        await ExamReportVersion.select(
            ExamReportVersion.revision,
            ExamReportVersion.state,
            ExamReportVersion.author,
            ExamReportVersion.note,
            ExamReportVersion.created_at,
        )
        .where(ExamReportVersion.report == report["id"])
        .order_by(ExamReportVersion.revision, ascending=False)
    )
    who = await names(*(r["author"] for r in rows))
    return [
        VersionSummary(
            r["revision"],
            r["state"],
            PersonRead(r["author"], who.get(r["author"], "")),
            r["note"],
            r["created_at"].isoformat(),
        )
        for r in rows
    ]


async def _version(report_id: int, revision: int) -> dict[str, Any]:
    row = (
        await ExamReportVersion.select()
        .where(ExamReportVersion.report == report_id, ExamReportVersion.revision == revision)
        .first()
    )
    if row is None:
        raise NotFound("The report has no version {revision}.", revision=revision)
    return row


async def version(ctx: Ctx, exam_id: int, revision: int) -> VersionRead:
    report = await _readable(ctx, exam_id)
    row = await _version(report["id"], revision)
    who = await names(row["author"])
    note(target_id=report["id"], detail=f"version {revision}")
    return VersionRead(
        row["revision"],
        row["state"],
        row["title"],
        row["findings"],
        row["impression"],
        PersonRead(row["author"], who.get(row["author"], "")),
        row["note"],
        row["created_at"].isoformat(),
    )


def diff_lines(older: str, newer: str) -> list[DiffLine]:
    """Line by line, as ``difflib.ndiff`` sees it (its "?" hint lines left out)."""
    return [
        DiffLine(line[0], line[2:])
        for line in difflib.ndiff(older.splitlines(), newer.splitlines())
        if not line.startswith("? ")
    ]


async def diff(ctx: Ctx, exam_id: int, older: int, newer: int) -> DiffRead:
    report = await _readable(ctx, exam_id)
    if older == newer:
        raise BadRequest("Choose two different versions to compare.")
    older, newer = min(older, newer), max(older, newer)
    a, b = await _version(report["id"], older), await _version(report["id"], newer)
    note(target_id=report["id"], detail=f"versions {older}–{newer}")
    return DiffRead(
        older,
        newer,
        [FieldDiff(f, a[f] != b[f], diff_lines(a[f], b[f])) for f in FIELDS],
    )
