"""QC statistics (SPEC 7.3): the results of a hospital's evaluated cases per device type,
device, department, evaluated doctor and evaluation object, and the rates over time
(excellent-image rate, reject rate, RADPEER discrepancy rate), with the cases behind each
figure and their download (CSV, XLSX).

A case's RADPEER is the arbitrator's where he decided, else the evaluator's; a discrepancy
is anything but 1. Rates are of the graded series (images) or the rated cases (RADPEER);
``None`` where there is nothing to divide by. QC samples are small (hundreds of cases a
task), so the figures are counted over the selected cases in one read each.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import xlsxwriter

from api.quality.schemas import CaseRow, Figures, StatisticsRead, TrendPoint
from api.quality.service import case_rows, names
from kernel.errors import BadRequest
from store.scoping import visible
from store.tables import Department, QcCase, QcSeriesGrade
from store.uow import Actor
from store.zones import hospital_zone

GROUPS = ("device_type", "device", "department", "doctor", "object")
STEPS = ("day", "week", "month")
OBJECT_WORDS = {
    "images": "images",
    "initial_report": "initial report",
    "review_report": "review report",
}


@dataclass
class _Tally:
    cases: int = 0
    evaluated: int = 0
    series: int = 0
    excellent: int = 0
    reject: int = 0
    rated: int = 0
    discrepant: int = 0
    scores: list[int] = field(default_factory=list)

    def add(self, case: dict[str, Any], grades: list[str], score: int | None, rate: bool) -> None:
        self.cases += 1
        if case["state"] == "pending":
            return
        self.evaluated += 1
        self.series += len(grades)
        self.excellent += grades.count("excellent")
        self.reject += grades.count("reject")
        final = final_radpeer(case)
        if rate and final:
            self.rated += 1
            self.discrepant += final != "1"
        if score is not None:
            self.scores.append(score)

    def figures(self, key: str, label: str) -> Figures:
        return Figures(
            key=key,
            label=label,
            cases=self.cases,
            evaluated=self.evaluated,
            series=self.series,
            excellent=self.excellent,
            reject=self.reject,
            excellent_rate=_rate(self.excellent, self.series),
            reject_rate=_rate(self.reject, self.series),
            rated=self.rated,
            discrepant=self.discrepant,
            discrepancy_rate=_rate(self.discrepant, self.rated),
            mean_score=round(sum(self.scores) / len(self.scores), 2) if self.scores else None,
        )


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def final_radpeer(case: dict[str, Any]) -> str:
    return str(case["arbiter_radpeer"] or case["radpeer"])


@dataclass(frozen=True)
class Selection:
    task_id: int | None = None
    date_from: str = ""
    date_to: str = ""


async def _cases(actor: Actor, sel: Selection) -> list[dict[str, Any]]:
    query = visible(
        QcCase,
        actor,
        *QcCase.all_columns(),
        QcCase.examination.accession_number,
        QcCase.task.targets,
    )
    if sel.task_id is not None:
        query = query.where(QcCase.task == sel.task_id)
    zone = await hospital_zone(actor.hospital_id)
    for value, name in ((sel.date_from, "date_from"), (sel.date_to, "date_to")):
        if value:
            try:
                day = date.fromisoformat(value)
            except ValueError:
                raise BadRequest(
                    "{field} must be a date (YYYY-MM-DD), not {value!r}.", field=name, value=value
                ) from None
            start = datetime.combine(day, time(), zone)
            query = query.where(
                QcCase.exam_time >= start
                if name == "date_from"
                else QcCase.exam_time < start + timedelta(days=1)
            )
    if sel.date_from and sel.date_to and sel.date_to < sel.date_from:
        raise BadRequest("The date range ends before it starts.")
    return list(await query.order_by(QcCase.id))


async def _grades(case_ids: list[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(case_ids), 500):
        rows = await QcSeriesGrade.select(QcSeriesGrade.case, QcSeriesGrade.grade).where(
            QcSeriesGrade.case.is_in(case_ids[start : start + 500])
        )
        for r in rows:
            out[r["case"]].append(r["grade"])
    return out


def _objects(case: dict[str, Any]) -> list[str]:
    import msgspec

    return list(msgspec.json.decode(case["task.targets"] or "[]"))


def _keys(by: str, case: dict[str, Any]) -> list[str]:
    if by == "device_type":
        return [case["device_type"] or "-"]
    if by == "device":
        return [case["device_name"] or "-"]
    if by == "department":
        return [str(case["department"] or "-")]
    if by == "doctor":
        return [str(case["initial_by"] or "-")]
    return _objects(case)


def _contribution(
    by: str, key: str, case: dict[str, Any], grades: list[str]
) -> tuple[list[str], int | None, bool]:
    """What a case adds to a group: its grades, its score, whether its RADPEER counts."""
    if by == "object":
        if key == "images":
            return grades, None, False
        score = case["initial_score"] if key == "initial_report" else case["review_score"]
        return [], score, True
    return grades, case["initial_score"], True


async def _labels(by: str, keys: set[str]) -> dict[str, str]:
    ids = [int(k) for k in keys if k.isdigit()]
    if by == "department" and ids:
        rows = await Department.select(Department.id, Department.name).where(
            Department.id.is_in(ids)
        )
        return {str(r["id"]): r["name"] for r in rows}
    if by == "doctor":
        return {str(k): v for k, v in (await names(ids)).items()}
    if by == "object":
        return dict(OBJECT_WORDS)
    return {}


def _period(step: str, at: datetime, zone: Any) -> str:
    day = at.astimezone(zone).date()
    if step == "day":
        return day.isoformat()
    if step == "week":
        monday = day - timedelta(days=day.weekday())
        return monday.isoformat()
    return day.strftime("%Y-%m")


def _check(by: str, step: str) -> None:
    if by not in GROUPS:
        raise BadRequest("Group by one of {groups}, not {by!r}.", groups=", ".join(GROUPS), by=by)
    if step not in STEPS:
        raise BadRequest("The step is one of day, week, month, not {step!r}.", step=step)


async def statistics(actor: Actor, by: str, step: str, sel: Selection) -> StatisticsRead:
    _check(by, step)
    cases = await _cases(actor, sel)
    grades = await _grades([c["id"] for c in cases])
    groups: dict[str, _Tally] = defaultdict(_Tally)
    total = _Tally()
    trend: dict[str, _Tally] = defaultdict(_Tally)
    zone = await hospital_zone(actor.hospital_id)
    for case in cases:
        mine = grades.get(case["id"], [])
        for key in _keys(by, case):
            groups[key].add(case, *_contribution(by, key, case, mine))
        total.add(case, mine, case["initial_score"], True)
        trend[_period(step, case["exam_time"], zone)].add(case, mine, None, True)
    labels = await _labels(by, set(groups))
    return StatisticsRead(
        by=by,
        groups=[groups[k].figures(k, labels.get(k, k)) for k in sorted(groups)],
        trend=[
            TrendPoint(
                period=p,
                excellent_rate=(f := trend[p].figures(p, p)).excellent_rate,
                reject_rate=f.reject_rate,
                discrepancy_rate=f.discrepancy_rate,
            )
            for p in sorted(trend)
        ],
        total=total.figures("all", "all"),
    )


async def drill(actor: Actor, by: str, key: str, sel: Selection) -> list[CaseRow]:
    """The cases behind one group's figures."""
    _check(by, "month")
    return await case_rows([c for c in await _cases(actor, sel) if key in _keys(by, c)])


COLUMNS = (
    "case",
    "task",
    "accession_number",
    "device_type",
    "state",
    "evaluator",
    "radpeer",
    "arbiter_radpeer",
)


def _table(rows: list[CaseRow], task_of: Callable[[int], int]) -> list[list[Any]]:
    return [
        [
            r.id,
            task_of(r.id),
            r.accession_number,
            r.device_type,
            r.state,
            r.evaluator,
            r.radpeer,
            r.arbiter_radpeer,
        ]
        for r in rows
    ]


async def download(actor: Actor, by: str, key: str, sel: Selection, fmt: str) -> tuple[bytes, str]:
    """The drill-down's cases as ``csv`` or ``xlsx``: the bytes and the media type."""
    if fmt not in ("csv", "xlsx"):
        raise BadRequest("Download as csv or xlsx, not {fmt!r}.", fmt=fmt)
    rows = await drill(actor, by, key, sel)
    tasks = {
        r["id"]: r["task"]
        for r in await visible(QcCase, actor, QcCase.id, QcCase.task).where(
            QcCase.id.is_in([r.id for r in rows] or [0])
        )
    }
    table = _table(rows, lambda i: tasks.get(i, 0))
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(COLUMNS)
        writer.writerows(table)
        return ("\ufeff" + out.getvalue()).encode(), "text/csv; charset=utf-8"
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("QC")
    sheet.write_row(0, 0, COLUMNS)
    for i, row in enumerate(table, start=1):
        sheet.write_row(i, 0, row)
    book.close()
    return (
        buffer.getvalue(),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
