"""The wire of quality control (SPEC 7): tasks, their cases, evaluations, arbitrations and the
statistics. Grades, RADPEER values and scores are checked by the service with a sentence
that names the wrong value (``states.quality`` holds the vocabularies)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from api.bounds import Id, Int, Many, Text
from api.schemas import Base, HistoryEntry

Short = Annotated[str, Meta(max_length=200)]
Code = Annotated[str, Meta(max_length=16)]


class CriteriaIn(Base, kw_only=True):
    date_from: Code = ""
    date_to: Code = ""
    device_type: Code = ""
    device_name: Annotated[str, Meta(max_length=100)] = ""
    departments: Many[Id] = []
    body_part: Annotated[str, Meta(max_length=64)] = ""


class TaskCreate(Base, kw_only=True):
    name: Short
    criteria: CriteriaIn = msgspec.field(default_factory=CriteriaIn)
    sample_size: Int | None = None
    sample_percent: Int | None = None
    objects: Many[Code] = []
    evaluators: Many[Id] = []
    arbitrator: Id | None = None
    blind: bool = False
    seed: Annotated[int, Meta(ge=0, le=2**53)] | None = None  # to draw a past sample again


class StepIn(Base, kw_only=True):
    version: Int
    reason: Text = ""


class Person(Base):
    id: int
    name: str


class TaskRead(Base, kw_only=True):
    id: int
    name: str
    state: str
    version: int
    criteria: CriteriaIn
    sample_size: int | None
    sample_percent: int | None
    objects: list[str]
    evaluators: list[Person]
    arbitrator: Person | None
    blind: bool
    seed: int | None
    population: int | None
    sampled: int
    note: str
    created_by: str
    created_at: str
    cases_done: int = 0
    cases_waiting: int = 0
    actions: list[str] = []
    history: list[HistoryEntry] = []


class SeriesGrade(Base, kw_only=True):
    series_uid: Annotated[str, Meta(max_length=64)]
    grade: Code
    reasons: Text = ""


class SeriesRead(Base, kw_only=True):
    series_uid: str
    number: int | None
    description: str
    modality: str
    images: int
    grade: str = ""
    reasons: str = ""


class CaseRead(Base, kw_only=True):
    id: int
    task_id: int
    task_name: str
    position: int
    state: str
    version: int
    evaluator: Person
    objects: list[str]
    examination_id: int
    accession_number: str
    patient_name: str
    device_type: str
    device_name: str
    body_part: str
    exam_time: str
    study_uid: str
    findings: str
    impression: str
    initial_doctor: str  # "" when the evaluation is blind
    review_doctor: str
    series: list[SeriesRead]
    initial_score: int | None
    initial_comment: str
    review_score: int | None
    review_comment: str
    radpeer: str
    radpeer_comment: str
    arbiter_radpeer: str
    arbiter_comment: str
    arbitrated_by: str
    can_evaluate: bool = False
    can_arbitrate: bool = False


class CaseRow(Base, kw_only=True):
    id: int
    position: int
    state: str
    evaluator: str
    accession_number: str
    device_type: str
    radpeer: str
    arbiter_radpeer: str


class EvaluationIn(Base, kw_only=True):
    version: Int
    series: Many[SeriesGrade] = []
    initial_score: Int | None = None
    initial_comment: Text = ""
    review_score: Int | None = None
    review_comment: Text = ""
    radpeer: Code = ""
    radpeer_comment: Text = ""


class ArbitrationIn(Base, kw_only=True):
    version: Int
    radpeer: Code
    comment: Text = ""


class Saved(Base):
    id: int
    state: str
    version: int
    task_state: str


class Figures(Base, kw_only=True):
    """One group's results (a device type, a device, a department, a doctor, an object)."""

    key: str
    label: str
    cases: int
    evaluated: int
    series: int
    excellent: int
    reject: int
    excellent_rate: float | None
    reject_rate: float | None
    rated: int  # cases with a RADPEER score
    discrepant: int  # RADPEER other than 1 (the arbitrator's where he decided)
    discrepancy_rate: float | None
    mean_score: float | None


class TrendPoint(Base, kw_only=True):
    period: str
    excellent_rate: float | None
    reject_rate: float | None
    discrepancy_rate: float | None


class StatisticsRead(Base, kw_only=True):
    by: str
    groups: list[Figures]
    trend: list[TrendPoint]
    total: Figures
