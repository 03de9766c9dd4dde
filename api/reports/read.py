"""Reading the report (SPEC 2.4): what its reader may see and do (``ReportRead``: the text
once it may be shown, ``can_write`` / ``can_review`` / ``can_print`` / ``can_release``, the
lock, a notice saying why the reader cannot write)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.dictionaries.templates import templates_for_examination
from api.reports.access import Access, access, hospital_name, names, report_of
from api.reports.lock import EDITABLE, live_lock, lock_read
from api.reports.schemas import PersonRead, ReportRead, TemplateChoice
from kernel.domain import Permission
from store.reads import note
from store.tables import Hospital
from store.uow import Ctx


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


async def may_review(found: Access, report: dict[str, Any]) -> bool:
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
        and await may_review(found, report)
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
