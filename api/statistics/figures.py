"""The statistics' question (SPEC 6): a range of local days, a step, the filters; checked
into a ``StatFilter`` (a 400 names what is wrong and, for a range too long, the limit).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from api.exams.filters import max_length
from api.management.audit import parse_day
from kernel.errors import BadRequest
from kernel.i18n import Listed

STEPS = ("day", "week", "month")
MAX_POINTS = 400  # bars of one chart: a year and a month by day, 33 years by month
DEFAULT_DAYS = 30


@dataclass(frozen=True)
class StatFilter:
    start: date
    end: date
    step: str
    hospital_id: int | None = None
    department_id: int | None = None
    device_type: str = ""

    def buckets(self) -> list[tuple[str, date, date]]:
        """(label, first day, last day) of each bar, in order, clipped to the range."""
        out: list[tuple[str, date, date]] = []
        day = self.start
        while day <= self.end:
            first, last, label = _bucket(day, self.step)
            out.append((label, max(first, self.start), min(last, self.end)))
            day = last + timedelta(days=1)
        return out


def _bucket(day: date, step: str) -> tuple[date, date, str]:
    if step == "day":
        return day, day, day.isoformat()
    if step == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6), first.isoformat()
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1), first.isoformat()[:7]


def points(start: date, end: date, step: str) -> int:
    if step == "day":
        return (end - start).days + 1
    if step == "week":
        return (
            (end - timedelta(days=end.weekday())) - (start - timedelta(days=start.weekday()))
        ).days // 7 + 1
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _id(value: str, what: str) -> int | None:
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise BadRequest("The {what} must be an id, not {value!r}.", what=what, value=value[:20])
    return int(value)


@dataclass(frozen=True)
class StatQuery:
    """The query string as typed, shared by the API and the page."""

    start: str = ""
    end: str = ""
    step: str = "day"
    hospital_id: str = ""
    department_id: str = ""
    device_type: str = ""

    def parse(self, today: date) -> StatFilter:
        step = self.step or "day"
        if step not in STEPS:
            raise BadRequest(
                "Unknown step {step!r}; one of {steps}.", step=step[:20], steps=Listed(STEPS)
            )
        end = parse_day(self.end, "end date") or today
        start = parse_day(self.start, "start date") or end - timedelta(days=DEFAULT_DAYS - 1)
        if end < start:
            raise BadRequest("The end date is before the start date.")
        n = points(start, end, step)
        if n > MAX_POINTS:
            raise BadRequest(
                "That range has {n} points at this step; a chart shows at most {limit}: "
                "choose a shorter range or a longer step.",
                n=n,
                limit=MAX_POINTS,
            )
        return StatFilter(
            start=start,
            end=end,
            step=step,
            hospital_id=_id(self.hospital_id, "hospital"),
            department_id=_id(self.department_id, "department"),
            device_type=max_length(self.device_type.strip().upper(), "device type", 16),
        )


async def provide_stat_query(
    start: str = "",
    end: str = "",
    step: str = "day",
    hospital_id: str = "",
    department_id: str = "",
    device_type: str = "",
) -> StatQuery:
    """A Litestar dependency: the query parameters, stripped."""
    return StatQuery(
        start.strip(),
        end.strip(),
        step.strip(),
        hospital_id.strip(),
        department_id.strip(),
        device_type.strip(),
    )
