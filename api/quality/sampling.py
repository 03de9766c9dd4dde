"""Drawing a QC task's sample (SPEC 7.1): the population is the hospital's examinations that
match the task's criteria (not deleted; with a report when a report is evaluated), ordered
by id; the sample is ``random.Random(seed).sample`` of it. The same seed over the same
population draws the same examinations, in the same order: the seed and the population's
size are kept on the task, so an auditor can draw it again.

``draw_sample(task_id)`` is the step the ``qc-sample`` flow runs (``flows/quality.py``):
idempotent (a task no longer sampling is left alone), all of it in one unit of work.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import msgspec

from api.quality import steps
from kernel.i18n import Msg
from store.scoping import not_deleted
from store.tables import Examination, ExamReport, QcCase, QcTask
from store.uow import Ctx, unit_of_work
from store.zones import hospital_zone

CTX = Ctx(ip="prefect", user_agent="qc sampling")
REPORTED = ("initial_report", "reviewed", "printed")
REVIEWED = ("reviewed", "printed")
BATCH = 500  # ids looked up and cases inserted per statement


class Criteria(msgspec.Struct, kw_only=True):
    """Which examinations a task samples from; an empty field does not narrow."""

    date_from: str = ""  # YYYY-MM-DD, the hospital's local day
    date_to: str = ""
    device_type: str = ""  # modality code, as the examination holds it
    device_name: str = ""  # the station / manufacturer model of the examination row
    departments: list[int] = []
    body_part: str = ""


def criteria_of(task: dict[str, Any]) -> Criteria:
    return msgspec.json.decode(task["criteria"] or "{}", type=Criteria)


async def population_query(
    hospital_id: int, criteria: Criteria, objects: list[str], *columns: Any
) -> Any:
    zone = await hospital_zone(hospital_id)
    query = Examination.select(*columns).where(
        Examination.hospital == hospital_id, not_deleted(Examination)
    )
    if criteria.date_from:
        start = datetime.combine(date.fromisoformat(criteria.date_from), time(), zone)
        query = query.where(Examination.exam_time >= start)
    if criteria.date_to:
        end = datetime.combine(date.fromisoformat(criteria.date_to), time(), zone)
        query = query.where(Examination.exam_time < end + timedelta(days=1))
    if criteria.device_type:
        query = query.where(Examination.device_type == criteria.device_type)
    if criteria.device_name:
        query = query.where(Examination.device_name == criteria.device_name)
    if criteria.departments:
        query = query.where(Examination.department.is_in(criteria.departments))
    if criteria.body_part:
        query = query.where(Examination.body_part == criteria.body_part)
    if "review_report" in objects:
        query = query.where(Examination.status.is_in(list(REVIEWED)))
    elif "initial_report" in objects:
        query = query.where(Examination.status.is_in(list(REPORTED)))
    return query


async def population_ids(task: dict[str, Any]) -> list[int]:
    objects = msgspec.json.decode(task["targets"] or "[]")
    query = await population_query(task["hospital"], criteria_of(task), objects, Examination.id)
    return [int(r["id"]) for r in await query.order_by(Examination.id)]


def sample_count(population: int, size: int | None, percent: int | None) -> int:
    if size is not None:
        return size
    return math.ceil(population * (percent or 0) / 100)


def draw(seed: int, population: list[int], n: int) -> list[int]:
    """The sample: ``n`` ids of the id-ordered ``population``, reproducible from ``seed``."""
    return random.Random(seed).sample(sorted(population), n)


@dataclass(frozen=True)
class Drawn:
    population: int
    sampled: int
    reason: str = ""


def shortfall(population: int, wanted: int) -> str:
    """Why a sample cannot be drawn, or "" when it can."""
    if population == 0:
        return Msg("No examination matches the task's criteria.")
    if wanted > population:
        return Msg(
            "The sample size {wanted} is above the {population} examination(s) matching the "
            "criteria.",
            wanted=wanted,
            population=population,
        )
    if wanted < 1:
        return Msg("The sample would be empty.")
    return ""


async def draw_sample(task_id: int) -> Drawn:
    task = await steps.load(task_id)
    if task["state"] != "sampling":
        return Drawn(task["population"] or 0, task["sampled"], f"task is {task['state']}")
    ids = await population_ids(task)
    wanted = sample_count(len(ids), task["sample_size"], task["sample_percent"])
    reason = shortfall(len(ids), wanted)
    if reason:
        async with unit_of_work(CTX):
            await QcTask.update({QcTask.population: len(ids), QcTask.sampled: 0}).where(
                QcTask.id == task_id
            )
            await steps.step(CTX, task_id, "nothing_drawn", reason=str(reason))
        return Drawn(len(ids), 0, str(reason))
    chosen = draw(int(task["seed"]), ids, wanted)
    evaluators = steps.ids_of(task["evaluators"])
    exams: dict[int, dict[str, Any]] = {}
    reports: dict[int, dict[str, Any]] = {}
    # in slices: a sample may be larger than the variables a statement may bind (SQLite)
    for start in range(0, len(chosen), BATCH):
        part = chosen[start : start + BATCH]
        for r in await Examination.select(
            Examination.id,
            Examination.device_type,
            Examination.device_name,
            Examination.department,
            Examination.body_part,
            Examination.exam_time,
        ).where(Examination.id.is_in(part)):
            exams[r["id"]] = r
        for r in await ExamReport.select(
            ExamReport.examination, ExamReport.initial_by, ExamReport.reviewer
        ).where(ExamReport.examination.is_in(part)):
            reports[r["examination"]] = r
    rows = []
    for position, exam_id in enumerate(chosen):
        exam, report = exams[exam_id], reports.get(exam_id, {})
        rows.append(
            QcCase(
                hospital=task["hospital"],
                task=task_id,
                examination=exam_id,
                position=position,
                evaluator=evaluators[position % len(evaluators)],
                device_type=exam["device_type"],
                device_name=exam["device_name"],
                department=exam["department"],
                body_part=exam["body_part"],
                exam_time=exam["exam_time"],
                initial_by=report.get("initial_by"),
                reviewer=report.get("reviewer"),
            )
        )
    async with unit_of_work(CTX):
        for start in range(0, len(rows), BATCH):
            await QcCase.insert(*rows[start : start + BATCH])
        await QcTask.update(
            {QcTask.population: len(ids), QcTask.sampled: wanted, QcTask.note: ""}
        ).where(QcTask.id == task_id)
        await steps.step(
            CTX,
            task_id,
            "sampled",
            summary={"seed": int(task["seed"]), "population": len(ids), "sampled": wanted},
        )
    return Drawn(len(ids), wanted)
