"""The rows behind a figure (SPEC 6.3): a bar's or point's examinations are the examination
list's query (``api.exams.filters`` / ``search``) with the bar's days, device type and
department and the reader's own hospital: the drill-down is a page of that list, the
download all of its rows, read by keyset in batches and streamed (CSV as it is read; XLSX
through xlsxwriter's ``constant_memory`` mode into a temporary file, then sent), so memory
stays flat whatever the count. Both are patient-data reads, for staff only (``api.phi``).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any
from zoneinfo import ZoneInfo

import anyio
import xlsxwriter  # type: ignore[import-untyped]

from api.exams.filters import ExamFilter, ExamQuery, filter_clauses
from api.exams.labels import STATUS_LABELS
from api.exams.schemas import ExamPage
from api.exams.search import _after, list_exams
from api.management.service import actor_of
from api.statistics.figures import StatFilter
from api.statistics.service import hospitals_in_scope
from kernel.errors import BadRequest
from kernel.i18n import N_, Listed, gettext
from store.examinations import list_branches
from store.reads import note
from store.tables import Department, Examination
from store.uow import Actor, Ctx
from store.zones import hospital_zone

FORMATS = ("csv", "xlsx")
BATCH = 2000
CHUNK = 1 << 16
# (column title (a catalogue id), the examination's column)
COLUMNS = (
    (N_("Examination time"), "exam_time"),
    (N_("Patient"), "patient_name"),
    (N_("Patient ID"), "patient_id"),
    (N_("Accession number"), "accession_number"),
    (N_("Device type"), "device_type"),
    (N_("Department"), "department"),
    (N_("Body part"), "body_part"),
    (N_("Check item"), "check_item_name"),
    (N_("Status"), "status"),
)


def exam_query(f: StatFilter, hospital_id: int, cursor: str = "", limit: str = "") -> ExamQuery:
    """The examination list's query string for the rows of ``f`` (the page's link too)."""
    return ExamQuery(
        date_from=f.start.isoformat(),
        date_to=f.end.isoformat(),
        device_type=f.device_type,
        hospital_id=str(hospital_id),
        department_id=str(f.department_id) if f.department_id is not None else "",
        cursor=cursor,
        limit=limit,
    )


async def own_hospital(actor: Actor, f: StatFilter) -> int:
    """The hospital whose rows these are: the reader's own (403 for another's)."""
    ids = await hospitals_in_scope(actor, f.hospital_id)
    if len(ids) != 1:
        raise BadRequest("Choose one hospital to see its examinations.")
    return ids[0]


async def drill_down(ctx: Ctx, f: StatFilter, cursor: str, limit: str) -> ExamPage:
    hospital = await own_hospital(actor_of(ctx), f)
    return await list_exams(ctx, exam_query(f, hospital, cursor, limit))


def check_format(value: str) -> str:
    if value not in FORMATS:
        raise BadRequest(
            "Download as one of {formats}, not {value!r}.",
            formats=Listed(FORMATS),
            value=value[:10],
        )
    return value


async def _rows(actor: Actor, f: StatFilter, hospital: int) -> AsyncIterator[list[dict]]:
    mine, _ = await list_branches(actor)
    ef = ExamFilter(
        date_from=f.start,
        date_to=f.end,
        device_type=f.device_type,
        hospital_id=hospital,
        department_id=f.department_id,
    )
    clauses = [mine, *await filter_clauses(actor, ef)]
    columns = [Examination.id, *(getattr(Examination, c) for _, c in COLUMNS)]
    after: tuple[Any, int] | None = None
    while True:
        page = clauses + (
            [_after(Examination.exam_time, after[0], after[1], True)] if after else []
        )
        batch = (
            await Examination.select(*columns)
            .where(*page)
            .order_by(Examination.exam_time, Examination.id, ascending=False)
            .limit(BATCH)
        )
        if not batch:
            return
        yield batch
        if len(batch) < BATCH:
            return
        after = (batch[-1]["exam_time"], batch[-1]["id"])


Cells = Callable[[dict], list[str]]


def cells_of(zone: ZoneInfo, departments: dict[int, str]) -> Cells:
    """A row's cells in COLUMNS' order: the time in the hospital's zone to the minute, the
    department's name, the status's label in the reader's language (translated once here).
    Written out by hand, not a loop over COLUMNS: it runs once per row of a download of
    100,000."""
    statuses = {code: gettext(label) for code, label in STATUS_LABELS.items()}

    def cells(row: dict) -> list[str]:
        department = row["department"]
        return [
            row["exam_time"].astimezone(zone).isoformat(" ", "minutes")[:16],
            row["patient_name"] or "",
            row["patient_id"] or "",
            row["accession_number"] or "",
            row["device_type"] or "",
            departments.get(department, "") if department else "",
            row["body_part"] or "",
            row["check_item_name"] or "",
            statuses.get(row["status"], row["status"] or ""),
        ]

    return cells


async def _departments(hospital: int) -> dict[int, str]:
    rows = await Department.select(Department.id, Department.name).where(
        Department.hospital == hospital
    )
    return {int(r["id"]): r["name"] for r in rows}


def file_name(f: StatFilter, fmt: str) -> str:
    return f"examinations-{f.start.isoformat()}-{f.end.isoformat()}.{fmt}"


async def download(ctx: Ctx, f: StatFilter, fmt: str) -> AsyncIterator[bytes]:
    """The rows of ``f`` as a CSV or XLSX body (an iterator of chunks). The read is noted
    for its audit row before the first byte."""
    actor = actor_of(ctx)
    check_format(fmt)
    hospital = await own_hospital(actor, f)
    zone = await hospital_zone(hospital)
    departments = await _departments(hospital)
    titles = [gettext(title) for title, _ in COLUMNS]
    note(
        hospital_id=hospital,
        detail=f"{fmt}; {f.start.isoformat()}..{f.end.isoformat()}"
        + (f"; device_type={f.device_type}" if f.device_type else "")
        + (f"; department={f.department_id}" if f.department_id is not None else ""),
    )
    rows = _rows(actor, f, hospital)
    cells = cells_of(zone, departments)
    if fmt == "csv":
        return _csv(rows, titles, cells)
    return _xlsx(rows, titles, cells)


async def _csv(
    rows: AsyncIterator[list[dict]], titles: list[str], cells: Cells
) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")  # Excel reads UTF-8 (Chinese names) only with the mark
    writer.writerow(titles)
    async for batch in rows:
        writer.writerows(map(cells, batch))
        yield buffer.getvalue().encode()
        buffer.seek(0)
        buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


async def _xlsx(
    rows: AsyncIterator[list[dict]], titles: list[str], cells: Cells
) -> AsyncIterator[bytes]:
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        book = xlsxwriter.Workbook(path, {"constant_memory": True})
        sheet = book.add_worksheet()
        sheet.write_row(0, 0, titles)
        line = 1
        async for batch in rows:
            for row in batch:
                sheet.write_row(line, 0, cells(row))
                line += 1
        book.close()
        async with await anyio.open_file(path, "rb") as body:
            while chunk := await body.read(CHUNK):
                yield chunk
    finally:
        os.unlink(path)
