"""The examination list's pages (SPEC 2.1) and one examination's read.

Reads go through ``store.examinations.examination_branches`` (the one visibility rule of
examinations). Paging is keyset, never offset: the cursor holds the sort value and the id
of the last row, so page 20,000 costs what page 1 costs. Print time is nullable:
examinations not yet printed come after the printed ones in either direction (the
cursor's phase says which part of the list it is in).

Urgent first (issue 14 item 9): the urgent and emergency examinations of the filter that
wait for their report come as a bounded section before the page (``waiting_urgent``: at
most URGENT_MAX, emergency first, then the newest, read through the (hospital | shared_with,
priority, exam_time, id) partial indexes of the waiting urgent), and the page leaves them
out while the section holds them all (the cursor says so to the later pages, which do not
ask again). The page's own keyset stays (time, id): the urgent do not turn it into a sort.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw

from api.exams.filters import ExamFilter, ExamQuery, filter_clauses
from api.exams.schemas import ExamPage, ExamRead
from api.management.service import actor_of
from kernel import priority as priorities
from kernel.errors import BadRequest
from store.examinations import get_examination, list_branches, visible_hospital_ids
from store.reads import note
from store.tables import Department, Examination, Hospital, Study
from store.uow import Actor, Ctx

PROBE = 500  # a keyword's matches up to here are ordered in Python (see _probe_page)
URGENT_MAX = 50  # the "urgent first" section holds at most this many
WAITING = ("images_arrived", "report_draft", "initial_report")  # no reviewed report yet
# The condition of the partial indexes ix_exam_*_waiting_urgent (migration 2026-12-07T14:00),
# in literal words: SQLite uses a partial index only for a query that states its condition.
WAITING_URGENT = WhereRaw(
    '"examination"."priority" > 0 AND "examination"."status" IN ('
    + ", ".join(f"'{s}'" for s in WAITING)
    + ")"
)

# --- the cursor -----------------------------------------------------------------------------


def encode_cursor(
    f: ExamFilter, phase: str, value: datetime | None, row_id: int, skips: bool = False
) -> str:
    """``skips``: the pages leave out the waiting urgent (the first page's section held
    them all), so a later page need not ask again."""
    raw = msgspec.json.encode(
        [f.sort, f.order, phase, value.isoformat() if value else None, row_id, int(skips)]
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _cursor_fields(f: ExamFilter) -> list[Any]:
    raw = base64.urlsafe_b64decode(f.cursor + "=" * (-len(f.cursor) % 4))
    fields = msgspec.json.decode(raw)
    if not isinstance(fields, list) or len(fields) not in (5, 6):
        raise ValueError
    return fields if len(fields) == 6 else [*fields, 0]


def cursor_skips(f: ExamFilter) -> bool:
    """Whether the cursor's pages leave out the waiting urgent (``encode_cursor``)."""
    return bool(f.cursor) and _cursor_fields(f)[5] == 1


def decode_cursor(f: ExamFilter) -> tuple[str, datetime | None, int] | None:
    """(phase, value, id) of the last row seen, for the same sort and order only."""
    if not f.cursor:
        return None
    try:
        sort, order, phase, value, row_id, skips = _cursor_fields(f)
        if (sort, order) != (f.sort, f.order) or phase not in ("v", "n") or skips not in (0, 1):
            raise ValueError
        when = datetime.fromisoformat(value) if value is not None else None
        if (phase == "v") != (when is not None) or not isinstance(row_id, int):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, msgspec.DecodeError):
        raise BadRequest(
            "The cursor is not one this list handed out for this sort order; start "
            "again from the first page.",
        ) from None
    return phase, when, row_id


def _after(column: Any, value: datetime, row_id: int, desc: bool) -> Any:
    """Rows after (value, id) in the sort order. The redundant ``<=``/``>=`` bound lets an
    index on (…, column, id) start the scan at the cursor instead of filtering."""
    if desc:
        return (column <= value) & ((column < value) | (Examination.id < row_id))
    return (column >= value) & ((column > value) | (Examination.id > row_id))


async def _fetch(clauses: list[Any], order_by: list[Any], desc: bool, limit: int) -> list[dict]:
    query = Examination.select().where(*clauses)
    return await query.order_by(*order_by, ascending=not desc).limit(limit)


def _is_after(row: dict[str, Any], f: ExamFilter, after: tuple[str, datetime | None, int]) -> bool:
    """Whether ``row`` comes after the cursor in the list's order (the SQL bound, in Python)."""
    phase, value, last_id = after
    desc = f.order == "desc"
    mine = row[f.sort]
    if phase == "n":  # in the unprinted part: only unprinted rows further on by id
        return mine is None and (row["id"] < last_id if desc else row["id"] > last_id)
    if mine is None:  # the unprinted all follow the printed
        return True
    assert value is not None
    if desc:
        return (mine, row["id"]) < (value, last_id)
    return (mine, row["id"]) > (value, last_id)


async def _probe_page(
    clauses: list[Any],
    f: ExamFilter,
    after: tuple[str, datetime | None, int] | None,
    want: int,
    cap: int = PROBE,
) -> list[dict[str, Any]] | None:
    """Read the ids and sort values of the matches with no ORDER BY — the database then
    finds them by the keyword's index instead of walking the time index past every row
    that does not match — and order them here. None when there are more than ``cap``
    (dense matches: the ordered keyset query finds a page at once)."""
    column = Examination.exam_time if f.sort == "exam_time" else Examination.print_time
    found = await Examination.select(Examination.id, column).where(*clauses).limit(cap + 1)
    if len(found) > cap:
        return None
    if after:
        found = [r for r in found if _is_after(r, f, after)]
    ids = [r["id"] for r in _in_order(found, f)[:want]]
    if not ids:
        return []
    rows = {r["id"]: r for r in await Examination.select().where(Examination.id.is_in(ids))}
    return [rows[i] for i in ids if i in rows]


async def _branch_page(
    clauses: list[Any],
    f: ExamFilter,
    after: tuple[str, datetime | None, int] | None,
    want: int,
) -> list[dict[str, Any]]:
    """Up to ``want`` rows after the cursor, in the list's order, of one branch."""
    if f.q:
        probed = await _probe_page(clauses, f, after, want)
        if probed is not None:
            return probed
    desc = f.order == "desc"
    if f.sort == "exam_time":
        if after:
            clauses = [*clauses, _after(Examination.exam_time, after[1], after[2], desc)]  # type: ignore[arg-type]
        return await _fetch(clauses, [Examination.exam_time, Examination.id], desc, want)
    rows: list[dict[str, Any]] = []
    if after is None or after[0] == "v":
        printed = [*clauses, Examination.print_time.is_not_null()]
        if after:
            printed.append(_after(Examination.print_time, after[1], after[2], desc))  # type: ignore[arg-type]
        rows = await _fetch(printed, [Examination.print_time, Examination.id], desc, want)
    if len(rows) < want:  # the printed part is exhausted: go on with the unprinted
        unprinted = [*clauses, Examination.print_time.is_null()]
        if after and after[0] == "n":
            unprinted.append(Examination.id < after[2] if desc else Examination.id > after[2])
        rows += await _fetch(unprinted, [Examination.id], desc, want - len(rows))
    return rows


def _in_order(rows: list[dict[str, Any]], f: ExamFilter) -> list[dict[str, Any]]:
    """Merge the branches' pages: by (time, id) in the list's direction; for print time
    the printed first, then the unprinted by id."""
    desc = f.order == "desc"
    column = f.sort
    ordered = sorted(
        rows, key=lambda r: (r[column] or datetime.min.replace(tzinfo=UTC), r["id"]), reverse=desc
    )
    return sorted(ordered, key=lambda r: r[column] is None)  # stable: keeps the order within


async def waiting_urgent(
    branches: list[Any], filters: list[Any], f: ExamFilter
) -> tuple[list[dict[str, Any]], bool]:
    """The urgent and emergency examinations of the filter that wait for their report,
    emergency first, then the newest (at most URGENT_MAX), and whether there are more.
    None with a priority filter (the page is then of one priority) or a status filter of
    a report done."""
    if f.priority is not None or (f.status and f.status not in WAITING):
        return [], False
    clauses = [*filters, WAITING_URGENT]
    order = [Examination.priority, Examination.exam_time, Examination.id]
    rows: list[dict[str, Any]] = []
    for branch in branches:
        rows += await _fetch([branch, *clauses], order, True, URGENT_MAX + 1)
    rows.sort(key=lambda r: (r["priority"], r["exam_time"], r["id"]), reverse=True)
    return rows[:URGENT_MAX], len(rows) > URGENT_MAX


async def search(
    actor: Actor, f: ExamFilter
) -> tuple[list[dict[str, Any]], str | None, list[dict[str, Any]], bool]:
    """One page of the list: rows, the cursor of the next page (None on the last), and
    (first page only) the waiting urgent section with whether it is cut short."""
    filters = await filter_clauses(actor, f)
    after = decode_cursor(f)
    want = f.limit + 1
    rows: list[dict[str, Any]] = []
    mine, shared = await list_branches(actor)
    if f.hospital_id is not None:
        # a hospital filter names one side: the other branch matches nothing, but its
        # query would still read every row of its index in the range (at 1,000,000 rows,
        # City's shared branch of a year: 70 ms of a statistics drill-down's 85)
        if f.hospital_id in await visible_hospital_ids(actor):
            shared = None
        else:
            mine = None
    branches = [b for b in (mine, shared) if b is not None]
    urgent: list[dict[str, Any]] = []
    urgent_more = False
    if after is None:
        urgent, urgent_more = await waiting_urgent(branches, filters, f)
    skips = bool(urgent and not urgent_more) if after is None else cursor_skips(f)
    if skips:  # the section holds them all: the pages leave them out
        filters = [
            *filters,
            (Examination.priority == 0) | Examination.status.not_in(list(WAITING)),
        ]
    for branch in branches:
        rows += await _branch_page([branch, *filters], f, after, want)
    if len(branches) > 1:
        rows = _in_order(rows, f)
    more = len(rows) > f.limit
    rows = rows[: f.limit]
    if not more:
        return rows, None, urgent, urgent_more
    last = rows[-1]
    value = last[f.sort]
    cursor = encode_cursor(f, "v" if value is not None else "n", value, last["id"], skips)
    return rows, cursor, urgent, urgent_more


async def _names(column: Any, label: Any, ids: set[int]) -> dict[int, str]:
    """``id → label`` of the rows of ``column``'s table with these ids (one query)."""
    if not ids:
        return {}
    rows = await column._meta.table.select(column, label).where(column.is_in(list(ids)))
    return {r[column._meta.name]: r[label._meta.name] for r in rows}


async def to_reads(actor: Actor, rows: list[dict[str, Any]]) -> list[ExamRead]:
    hospitals = await _names(Hospital.id, Hospital.name, {r["hospital"] for r in rows})
    departments = await _names(
        Department.id, Department.name, {r["department"] for r in rows if r["department"]}
    )
    studies = await _names(Study.id, Study.study_uid, {r["study"] for r in rows if r["study"]})
    own = set(await visible_hospital_ids(actor))
    return [
        ExamRead(
            id=r["id"],
            hospital_id=r["hospital"],
            hospital_name=hospitals.get(r["hospital"], ""),
            study_id=r["study"],
            study_uid=studies.get(r["study"], ""),
            patient_name=r["patient_name"],
            patient_sex=r["patient_sex"],
            patient_birth_date=r["patient_birth_date"],
            patient_id=r["patient_id"],
            patient_id_number=r["patient_id_number"],
            patient_his_number=r["patient_his_number"],
            patient_phone=r["patient_phone"],
            accession_number=r["accession_number"],
            check_item_id=r["check_item"],
            check_item_name=r["check_item_name"],
            device_type=r["device_type"],
            device_name=r["device_name"],
            body_part=r["body_part"],
            exam_category=r["exam_category"],
            scanning_method=r["scanning_method"],
            department_id=r["department"],
            department_name=departments.get(r["department"], ""),
            exam_time=r["exam_time"].isoformat(),
            status=r["status"],
            print_time=r["print_time"].isoformat() if r["print_time"] else None,
            version=r["version"],
            shared=r["hospital"] not in own,
            priority=priorities.name_of(r["priority"]),
        )
        for r in rows
    ]


def _describe(f: ExamFilter) -> str:
    """The filter for the audit row: which parameters, never the searched text."""
    parts = [f"{k}={v}" for k, v in asdict(f).items() if v and k not in ("q", "cursor")]
    return "; ".join(parts + (["keyword search"] if f.q else []))


async def list_exams(ctx: Ctx, query: ExamQuery) -> ExamPage:
    """A page of the list; reading patient names is a PHI read: the route is declared
    (``api.phi``), which audits it with the filter's description."""
    actor = actor_of(ctx)
    f = query.parse()
    rows, cursor, urgent, urgent_more = await search(actor, f)
    reads = await to_reads(actor, [*urgent, *rows])
    note(detail=_describe(f))
    return ExamPage(
        items=reads[len(urgent) :],
        next_cursor=cursor,
        sort=f.sort,
        order=f.order,
        limit=f.limit,
        urgent=reads[: len(urgent)],
        urgent_more=urgent_more,
    )


async def view(ctx: Ctx, exam_id: int) -> ExamRead:
    actor = actor_of(ctx)
    row = await get_examination(actor, exam_id)
    note(hospital_id=row["hospital"])  # the owner's admin sees who read it
    return (await to_reads(actor, [row]))[0]
