"""The examination list (SPEC 2.1) and an examination's admin edit (issue 5 items 1-2).

Reads go through ``store.examinations.examination_branches`` (the one visibility rule of
examinations); writes through ``unit_of_work`` with an audit row and a live event.

Paging is keyset, never offset: the cursor holds the sort value and the id of the last row,
so page 20,000 costs what page 1 costs. Print time is nullable: examinations not yet
printed come after the printed ones in either direction (the cursor's phase says which
part of the list it is in).
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import msgspec
from msgspec import UNSET
from piccolo.query.functions.aggregate import Count

from api.exams.schemas import ColumnPrefs, ExamPage, ExamRead, ExamUpdate, StatusCounts
from api.management.audit import parse_day
from api.management.service import actor_of
from kernel.errors import BadRequest
from kernel.i18n import Listed, Msg
from store.examinations import (
    STATUSES,
    get_examination,
    list_branches,
    update_examination,
    visible_hospital_ids,
)
from store.reads import note
from store.tables import (
    Department,
    Examination,
    ExaminationCount,
    Hospital,
    ListPreference,
    Study,
)
from store.uow import Actor, Ctx, unit_of_work
from store.zones import hospital_zone

SORTS = ("exam_time", "print_time")
ORDERS = ("desc", "asc")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
COUNT_CAP = 10_000  # counts per status are exact up to here
PROBE = 500  # a keyword's matches up to here are ordered in Python (see _probe_page)
TOP = "\U0010ffff"  # sorts after every character: [p, p + TOP) is "starts with p"

COLUMNS = (
    "patient_name",
    "patient_sex",
    "patient_age",
    "patient_id",
    "accession_number",
    "his_number",
    "id_number",
    "check_item",
    "device_type",
    "body_part",
    "exam_category",
    "scanning_method",
    "department",
    "hospital",
    "exam_time",
    "print_time",
    "status",
)
DEFAULT_COLUMNS = [
    "patient_name",
    "patient_sex",
    "patient_age",
    "device_type",
    "check_item",
    "exam_time",
    "status",
    "hospital",
]
LIST_NAME = "exams"


# --- the filter -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExamFilter:
    date_from: date | None = None
    date_to: date | None = None
    status: str = ""
    device_type: str = ""
    exam_category: str = ""
    scanning_method: str = ""
    hospital_id: int | None = None
    department_id: int | None = None
    q: str = ""
    sort: str = "exam_time"
    order: str = "desc"
    cursor: str = ""
    limit: int = DEFAULT_LIMIT


def _id(value: str, what: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise BadRequest(
            "The {what} filter must be an id, not {value!r}.",
            what=Msg(what),
            value=value[:20],
        )
    return int(value)


def _short(value: str, what: str, max_len: int) -> str:
    if len(value) > max_len:
        raise BadRequest(
            "The {what} has at most {max_len} characters.",
            what=Msg(what),
            max_len=max_len,
        )
    return value


@dataclass(frozen=True)
class ExamQuery:
    """The list's query string as typed, shared by the API and the page."""

    date_from: str = ""
    date_to: str = ""
    status: str = ""
    device_type: str = ""
    exam_category: str = ""
    scanning_method: str = ""
    hospital_id: str = ""
    department_id: str = ""
    q: str = ""
    sort: str = "exam_time"
    order: str = "desc"
    cursor: str = ""
    limit: str = ""

    def given(self) -> dict[str, str]:
        """The non-empty parameters except the cursor, for links that keep the filter."""
        return {k: v for k, v in asdict(self).items() if v and k != "cursor"}

    def parse(self) -> ExamFilter:
        """The filter, or ``BadRequest`` naming the parameter that is wrong."""
        if self.status and self.status not in STATUSES:
            raise BadRequest(
                "Unknown status {status!r}; one of {statuses}.",
                status=self.status[:30],
                statuses=Listed(STATUSES),
            )
        if self.sort not in SORTS:
            raise BadRequest(
                "Sort by one of {sorts}, not {sort!r}.", sorts=Listed(SORTS), sort=self.sort[:30]
            )
        if self.order not in ORDERS:
            raise BadRequest(
                "The order is 'asc' or 'desc', not {order!r}.",
                order=self.order[:30],
            )
        limit = DEFAULT_LIMIT
        if self.limit:
            if (
                not (self.limit.isascii() and self.limit.isdigit())
                or not 1 <= int(self.limit) <= MAX_LIMIT
            ):
                raise BadRequest(
                    "The limit is a number from 1 to {max_limit}.",
                    max_limit=MAX_LIMIT,
                )
            limit = int(self.limit)
        start, end = parse_day(self.date_from, "start date"), parse_day(self.date_to, "end date")
        if start and end and end < start:
            raise BadRequest("The end date is before the start date.")
        return ExamFilter(
            date_from=start,
            date_to=end,
            status=self.status,
            device_type=_short(self.device_type, "device type", 16),
            exam_category=_short(self.exam_category, "exam category", 40),
            scanning_method=_short(self.scanning_method, "scanning method", 60),
            hospital_id=_id(self.hospital_id, "hospital"),
            department_id=_id(self.department_id, "department"),
            q=_short(self.q.strip(), "search text", 64),
            sort=self.sort,
            order=self.order,
            cursor=self.cursor,
            limit=limit,
        )


async def provide_exam_query(
    date_from: str = "",
    date_to: str = "",
    status: str = "",
    device_type: str = "",
    exam_category: str = "",
    scanning_method: str = "",
    hospital_id: str = "",
    department_id: str = "",
    q: str = "",
    sort: str = "exam_time",
    order: str = "desc",
    cursor: str = "",
    limit: str = "",
) -> ExamQuery:
    """A Litestar dependency: the query parameters, stripped."""
    return ExamQuery(
        date_from.strip(),
        date_to.strip(),
        status.strip(),
        device_type.strip(),
        exam_category.strip(),
        scanning_method.strip(),
        hospital_id.strip(),
        department_id.strip(),
        q,
        sort.strip() or "exam_time",
        order.strip() or "desc",
        cursor.strip(),
        limit.strip(),
    )


def _prefix(column: Any, text: str) -> Any:
    return (column >= text) & (column < text + TOP)


def keyword_clause(q: str) -> Any:
    """Patient name by prefix (pinyin case-insensitive, Chinese as typed); patient ID,
    accession number, HIS number and ID number exactly."""
    return (
        _prefix(Examination.patient_name_search, q.upper())
        | _prefix(Examination.patient_name, q)
        | (Examination.patient_id == q)
        | (Examination.accession_number == q)
        | (Examination.patient_his_number == q)
        | (Examination.patient_id_number == q.upper())
    )


async def filter_clauses(actor: Actor, f: ExamFilter, *, with_status: bool = True) -> list[Any]:
    """The filter's conditions, visibility aside (see ``examination_branches``)."""
    clauses: list[Any] = []
    if f.date_from or f.date_to:
        zone = await hospital_zone(actor.hospital_id)
        if f.date_from:
            start = datetime.combine(f.date_from, time(0), tzinfo=zone).astimezone(UTC)
            clauses.append(Examination.exam_time >= start)
        if f.date_to:
            end = datetime.combine(f.date_to + timedelta(days=1), time(0), tzinfo=zone)
            clauses.append(Examination.exam_time < end.astimezone(UTC))
    if with_status and f.status:
        clauses.append(Examination.status == f.status)
    if f.device_type:
        clauses.append(Examination.device_type == f.device_type.upper())
    if f.exam_category:
        clauses.append(Examination.exam_category == f.exam_category)
    if f.scanning_method:
        clauses.append(Examination.scanning_method == f.scanning_method)
    if f.hospital_id is not None:
        clauses.append(Examination.hospital == f.hospital_id)
    if f.department_id is not None:
        clauses.append(Examination.department == f.department_id)
    if f.q:
        clauses.append(keyword_clause(f.q))
    return clauses


# --- the cursor -----------------------------------------------------------------------------


def encode_cursor(f: ExamFilter, phase: str, value: datetime | None, row_id: int) -> str:
    raw = msgspec.json.encode(
        [f.sort, f.order, phase, value.isoformat() if value else None, row_id]
    )
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(f: ExamFilter) -> tuple[str, datetime | None, int] | None:
    """(phase, value, id) of the last row seen, for the same sort and order only."""
    if not f.cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(f.cursor + "=" * (-len(f.cursor) % 4))
        sort, order, phase, value, row_id = msgspec.json.decode(raw)
        if (sort, order) != (f.sort, f.order) or phase not in ("v", "n"):
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


async def search(actor: Actor, f: ExamFilter) -> tuple[list[dict[str, Any]], str | None]:
    """One page of the list: rows and the cursor of the next page (None on the last)."""
    filters = await filter_clauses(actor, f)
    after = decode_cursor(f)
    want = f.limit + 1
    rows: list[dict[str, Any]] = []
    mine, shared = await list_branches(actor)
    if mine is not None:
        rows += await _branch_page([mine, *filters], f, after, want)
    if shared is not None:
        rows += await _branch_page([shared, *filters], f, after, want)
    if mine is not None and shared is not None:
        rows = _in_order(rows, f)
    more = len(rows) > f.limit
    rows = rows[: f.limit]
    if not more:
        return rows, None
    last = rows[-1]
    value = last[f.sort]
    return rows, encode_cursor(f, "v" if value is not None else "n", value, last["id"])


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
    rows, cursor = await search(actor, f)
    items = await to_reads(actor, rows)
    note(detail=_describe(f))
    return ExamPage(items=items, next_cursor=cursor, sort=f.sort, order=f.order, limit=f.limit)


async def _capped_count(clauses: list[Any]) -> int:
    """How many rows match, counting at most COUNT_CAP + 1 of them: each status's count
    reads at most that many index entries, however long the list is."""
    sub = Examination.select(Examination.id).where(*clauses).limit(COUNT_CAP + 1)
    rows = await Examination.raw("SELECT COUNT(*) AS n FROM ({}) AS capped", sub.querystrings[0])
    return int(rows[0]["n"])


async def _shared_counts(shared: Any, filters: list[Any]) -> dict[str, int]:
    """Per status, exactly: one GROUP BY over the shared examinations (read by their
    ``shared_with`` index, bounded by the hospital's open requests)."""
    rows = (
        await Examination.select(Examination.status, Count(Examination.id, alias="n"))
        .where(shared, *filters)
        .group_by(Examination.status)
    )
    return {r["status"]: int(r["n"]) for r in rows}


def _only_by_hospital(f: ExamFilter) -> bool:
    """Whether the filter narrows by nothing but hospital (and status, which counts set
    aside): then ``examination_count`` answers the own branch exactly."""
    return not (
        f.date_from
        or f.date_to
        or f.device_type
        or f.exam_category
        or f.scanning_method
        or f.department_id is not None
        or f.q
    )


async def _kept_counts(hospitals: list[int]) -> dict[str, int]:
    """Per status from the counts the database triggers keep (one row per hospital and
    status): O(hospitals), however many examinations."""
    if not hospitals:
        return {}
    rows = await ExaminationCount.select(ExaminationCount.status, ExaminationCount.n).where(
        ExaminationCount.hospital.is_in(hospitals)
    )
    found: dict[str, int] = {}
    for r in rows:
        found[r["status"]] = found.get(r["status"], 0) + int(r["n"])
    return found


async def status_counts(actor: Actor, query: ExamQuery) -> StatusCounts:
    """Per status for the filter (its status aside). The own hospitals' part: exact from
    ``examination_count`` when the filter narrows by hospital at most, else exact up to
    COUNT_CAP a status (a status with more is reported as COUNT_CAP and named in
    ``capped``; the page shows "10000+"). The shared part: exact (one GROUP BY)."""
    f = query.parse()
    filters = await filter_clauses(actor, f, with_status=False)
    mine, shared = await list_branches(actor)
    found = dict.fromkeys(STATUSES, 0)
    capped: list[str] = []
    if mine is not None and _only_by_hospital(f):
        own = await visible_hospital_ids(actor)
        hospitals = [h for h in own if f.hospital_id in (None, h)]
        for s, n in (await _kept_counts(hospitals)).items():
            if s in found:
                found[s] += max(n, 0)
    elif mine is not None:
        for s in STATUSES:
            n = await _capped_count([mine, *filters, Examination.status == s])
            found[s] += min(n, COUNT_CAP)
            if n > COUNT_CAP:
                capped.append(s)
    if shared is not None:
        for s, n in (await _shared_counts(shared, filters)).items():
            if s in found:
                found[s] += n
    return StatusCounts(counts=found, total=sum(found.values()), capped=capped)


async def view(ctx: Ctx, exam_id: int) -> ExamRead:
    actor = actor_of(ctx)
    row = await get_examination(actor, exam_id)
    note(hospital_id=row["hospital"])  # the owner's admin sees who read it
    return (await to_reads(actor, [row]))[0]


# --- admin edit -----------------------------------------------------------------------------

SEXES = ("M", "F", "O", "")
ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
ID_CHECK = "10X98765432"
PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]{2,30}")


def check_id_number(value: str) -> str:
    """A mainland resident ID number: 18 characters whose last is the ISO 7064 check."""
    value = value.strip().upper()
    if not value:
        return ""
    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
        raise BadRequest(
            "An ID number has 17 digits and a check digit or X (18 characters).",
        )
    total = sum(int(d) * w for d, w in zip(value[:17], ID_WEIGHTS, strict=True))
    if ID_CHECK[total % 11] != value[17]:
        raise BadRequest(
            "The ID number {value} fails its check digit; please check it.",
            value=value,
        )
    return value


def check_birth_date(value: str) -> str:
    digits = value.strip().replace("-", "")
    if not digits:
        return ""
    try:
        day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        if len(digits) != 8 or day > date.today():
            raise ValueError
    except ValueError:
        raise BadRequest(
            "{value!r} is not a birth date like 1980-05-31.",
            value=value[:20],
        ) from None
    return digits


def _text(value: str, what: str, max_len: int, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise BadRequest("The {what} must not be empty.", what=Msg(what))
    if len(value) > max_len:
        raise BadRequest(
            "The {what} has at most {max_len} characters.",
            what=Msg(what),
            max_len=max_len,
        )
    return value


def validated_changes(data: ExamUpdate) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if data.patient_name is not UNSET:
        out["patient_name"] = _text(data.patient_name, "patient name", 200, required=True)
    if data.patient_sex is not UNSET:
        sex = data.patient_sex.strip().upper()
        if sex not in SEXES:
            raise BadRequest("The sex is M, F, O or empty.")
        out["patient_sex"] = sex
    if data.patient_birth_date is not UNSET:
        out["patient_birth_date"] = check_birth_date(data.patient_birth_date)
    if data.patient_id_number is not UNSET:
        out["patient_id_number"] = check_id_number(data.patient_id_number)
    if data.patient_his_number is not UNSET:
        out["patient_his_number"] = _text(data.patient_his_number, "HIS number", 64)
    if data.patient_phone is not UNSET:
        phone = data.patient_phone.strip()
        if phone and not PHONE_RE.fullmatch(phone):
            raise BadRequest("{phone!r} is not a phone number.", phone=phone[:40])
        out["patient_phone"] = phone
    if data.check_item_id is not UNSET:
        out["check_item"] = data.check_item_id
    if data.department_id is not UNSET:
        out["department"] = data.department_id
    if data.exam_category is not UNSET:
        out["exam_category"] = _text(data.exam_category, "exam category", 40)
    if data.scanning_method is not UNSET:
        out["scanning_method"] = _text(data.scanning_method, "scanning method", 60)
    if not out:
        raise BadRequest(
            "Nothing to change: send at least one field.",
        )
    return out


async def update(ctx: Ctx, exam_id: int, data: ExamUpdate) -> ExamRead:
    changes = validated_changes(data)
    version = None if data.version is UNSET else data.version
    await update_examination(ctx, exam_id, changes, version)
    return await view(ctx, exam_id)


# --- column choice (per user, persisted) ----------------------------------------------------


def _pref_key(actor: Actor) -> str:
    return f"{actor.user_id}:{LIST_NAME}"


async def get_columns(actor: Actor) -> ColumnPrefs:
    row = (
        await ListPreference.select(ListPreference.columns)
        .where(ListPreference.pref_key == _pref_key(actor))
        .first()
    )
    chosen = msgspec.json.decode(row["columns"]) if row and row["columns"] else []
    chosen = [c for c in chosen if c in COLUMNS] or list(DEFAULT_COLUMNS)
    return ColumnPrefs(columns=chosen, available=list(COLUMNS), default=list(DEFAULT_COLUMNS))


async def set_columns(ctx: Ctx, columns: list[str]) -> ColumnPrefs:
    actor = actor_of(ctx)
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise BadRequest(
            "Unknown columns: {unknown}. Choose from: {columns}.",
            unknown=Listed(c[:30] for c in unknown[:5]),
            columns=Listed(COLUMNS),
        )
    if not columns:
        raise BadRequest("Choose at least one column.")
    if len(set(columns)) != len(columns):
        raise BadRequest("Each column may be chosen once.")
    encoded = msgspec.json.encode(columns).decode()
    key = _pref_key(actor)
    async with unit_of_work(ctx) as uow:
        updated = (
            await ListPreference.update(
                {
                    ListPreference.columns: encoded,
                    ListPreference.version: ListPreference.version + 1,
                }
            )
            .where(ListPreference.pref_key == key)
            .returning(ListPreference.id)
        )
        if not updated:
            await ListPreference.insert(
                ListPreference(pref_key=key, user=actor.user_id, columns=encoded)
            )
        await uow.audit("exam.columns", "list_preference", key, detail=",".join(columns))
    return await get_columns(actor)
