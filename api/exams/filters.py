"""The examination list's filter (SPEC 2.1): the query string as typed (``ExamQuery``),
checked into an ``ExamFilter`` (a 400 names the wrong parameter), and its SQL conditions
(``filter_clauses``), visibility aside (``store.examinations.examination_branches``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from api.management.audit import parse_day
from kernel import priority as priorities
from kernel.errors import BadRequest
from kernel.i18n import Listed, Msg
from store.examinations import STATUSES
from store.tables import Examination
from store.uow import Actor
from store.zones import hospital_zone

SORTS = ("exam_time", "print_time")
ORDERS = ("desc", "asc")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
TOP = "\U0010ffff"  # sorts after every character: [p, p + TOP) is "starts with p"


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
    priority: int | None = None  # kernel.priority's value


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


def max_length(value: str, what: str, max_len: int) -> str:
    """``value``, or ``BadRequest`` when it is longer than ``max_len``."""
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
    priority: str = ""

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
            device_type=max_length(self.device_type, "device type", 16),
            exam_category=max_length(self.exam_category, "exam category", 40),
            scanning_method=max_length(self.scanning_method, "scanning method", 60),
            hospital_id=_id(self.hospital_id, "hospital"),
            department_id=_id(self.department_id, "department"),
            q=max_length(self.q.strip(), "search text", 64),
            sort=self.sort,
            order=self.order,
            cursor=self.cursor,
            limit=limit,
            priority=priorities.parse(self.priority) if self.priority else None,
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
    priority: str = "",
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
        priority.strip(),
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
    if f.priority is not None:
        clauses.append(Examination.priority == f.priority)
    if f.q:
        clauses.append(keyword_clause(f.q))
    return clauses
