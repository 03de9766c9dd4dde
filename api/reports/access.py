"""Who may do what with an examination's report.

The reporting hospital (``api.diagnosis.steps.reporting_hospital``) writes and reviews it: its
doctors with ``report.write`` / ``report.review``. The examination's own hospital, when the
report is written remotely, reads it once it is at least an initial diagnosis. Whoever may
not see the examination gets 404 (``store.examinations.get_examination``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from api.diagnosis.steps import reporting_hospital
from kernel.domain import Permission
from kernel.errors import Conflict, Forbidden, NotFound
from kernel.i18n import current
from store.examinations import get_examination
from store.tables import ExamReport, Hospital, User
from store.uow import Actor, Ctx, now, unit_of_work

CASE = "exam_report"
SHOWN_REMOTELY = ("initial", "reviewed")


def page_topic(exam_id: int) -> str:
    """The live topic of an examination's report page (keyed by examination: the page
    subscribes before any report row exists)."""
    return f"case:report:{exam_id}"


@dataclass(frozen=True)
class Access:
    actor: Actor
    exam: dict[str, Any]
    reporting: int | None  # None while a diagnosis request waits for acceptance
    pending: str  # the sentence saying why there is no reporting hospital yet
    waiting: Conflict | None = None  # the refusal itself (translated where it is shown)

    @property
    def exam_id(self) -> int:
        return int(self.exam["id"])

    @property
    def in_reporting_hospital(self) -> bool:
        return self.reporting is not None and self.actor.hospital_id == self.reporting

    def has(self, permission: Permission) -> bool:
        return (
            self.in_reporting_hospital
            and self.actor.kind == "doctor"
            and permission.value in self.actor.permissions
        )

    def reads_all(self) -> bool:
        """The reporting hospital's people read drafts too (nobody outside the examination's
        hospitals reaches this far: ``get_examination`` is 404 to them)."""
        return self.in_reporting_hospital


async def access(actor: Actor, exam_id: int) -> Access:
    exam = await get_examination(actor, exam_id)
    try:
        return Access(actor, exam, await reporting_hospital(exam), "")
    except Conflict as waiting:
        return Access(actor, exam, None, waiting.text(current()), waiting)  # the reader's words


async def for_writing(actor: Actor, exam_id: int, permission: Permission) -> Access:
    """The examination, if ``actor`` may write (or review) its report: 409 while a request
    waits, 403 without the permission or from another hospital that sees it."""
    found = await access(actor, exam_id)
    if found.reporting is None:
        raise found.waiting or Conflict(found.pending)
    if not found.in_reporting_hospital:
        name = await hospital_name(found.reporting)
        raise Forbidden(
            "The report of this examination is written by {name}; you may read it.",
            name=name,
        )
    if not found.has(permission):
        raise Forbidden(
            "Your role lacks the permission {value!r}.",
            value=permission.value,
        )
    return found


async def report_of(exam_id: int) -> dict[str, Any] | None:
    return await ExamReport.select().where(ExamReport.examination == exam_id).first()


async def readable(actor: Actor, exam_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """(report, examination) if ``actor`` may read the report: the reporting hospital
    always, the examination's own hospital once it is an initial diagnosis (else 404)."""
    found = await access(actor, exam_id)
    report = await report_of(exam_id)
    if report is None:
        raise NotFound("Examination {exam_id} has no report yet.", exam_id=exam_id)
    if not (found.reads_all() or report["state"] in SHOWN_REMOTELY):
        raise NotFound(
            "The report of examination {exam_id} is not shown to your hospital yet.",
            exam_id=exam_id,
        )
    return report, found.exam


async def ensure_report(ctx: Ctx, found: Access) -> dict[str, Any]:
    """The report row, made on first use (the first lock or save). Two first uses at once
    make one row: the examination column is unique; the loser reads the winner's row."""
    row = await report_of(found.exam_id)
    if row is not None:
        return row
    at = now()
    try:
        async with unit_of_work(ctx) as uow:
            if not await ExamReport.exists().where(ExamReport.examination == found.exam_id):
                made = await ExamReport.insert(
                    ExamReport(
                        hospital=found.reporting,
                        examination=found.exam_id,
                        created_at=at,
                        updated_at=at,
                    )
                ).returning(ExamReport.id)
                await uow.audit(
                    f"{CASE}.create", CASE, made[0]["id"], detail=f"examination {found.exam_id}"
                )
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError):
        pass  # made by a concurrent first use
    row = await report_of(found.exam_id)
    if row is None:
        raise NotFound(
            "The report of examination {exam_id} could not be made.",
            exam_id=found.exam_id,
        )
    return row


async def hospital_name(hospital_id: int) -> str:
    row = await Hospital.select(Hospital.name).where(Hospital.id == hospital_id).first()
    return str(row["name"]) if row else f"hospital {hospital_id}"


async def names(*user_ids: int | None) -> dict[int, str]:
    ids = sorted({u for u in user_ids if u is not None})
    if not ids:
        return {}
    rows = await User.select(User.id, User.display_name).where(User.id.is_in(ids))
    return {int(r["id"]): str(r["display_name"]) for r in rows}


async def reviewers(hospital_id: int) -> list[int]:
    """Active doctors of the hospital whose role may review reports."""
    rows = await User.select(User.id, User.role.permissions).where(
        User.hospital == hospital_id,
        User.kind == "doctor",
        User.active.eq(True),
        User.frozen.eq(False),
    )
    out = []
    for row in rows:
        perms = row["role.permissions"]
        if isinstance(perms, str):
            perms = msgspec.json.decode(perms or "[]")
        if Permission.report_review.value in (perms or []):
            out.append(int(row["id"]))
    return out


async def can_watch(actor: Actor, exam_id: int) -> bool:
    """The page topic is open to whoever sees the examination."""
    try:
        await get_examination(actor, exam_id)
    except NotFound:
        return False
    return True


async def can_watch_report(actor: Actor, report_id: int) -> bool:
    row = await ExamReport.select(ExamReport.examination).where(ExamReport.id == report_id).first()
    return row is not None and await can_watch(actor, int(row["examination"]))
