"""The report's kept versions (SPEC 2.4): written (``new_version``, ``keep_version``: one
row per autosave run of an author), listed, read one by one and compared field by field."""

from __future__ import annotations

import difflib
from typing import Any

from api.reports.access import names, readable
from api.reports.schemas import (
    DiffLine,
    DiffRead,
    FieldDiff,
    PersonRead,
    VersionRead,
    VersionSummary,
)
from kernel.errors import BadRequest, NotFound
from store.reads import note
from store.tables import ExamReport, ExamReportVersion
from store.uow import Ctx, now

FIELDS = ("title", "findings", "impression")
AUTOSAVE = "autosave"


async def new_version(
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


async def keep_version(report_id: int, content: dict[str, str], author: int, autosave: bool) -> int:
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
    return await new_version(report_id, "draft", content, author, AUTOSAVE if autosave else "")


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
