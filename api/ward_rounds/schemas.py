"""Wire structs of the ward-round API (SPEC 4). ORM rows never leave the service."""

from __future__ import annotations

import msgspec

from api.bounds import Id, Int, LongText, Many, Text
from api.consultations.schemas import ExamRead, PersonRead
from api.schemas import Base


class WardPatientIn(Base):
    name: Text = ""
    id_number: Text = ""
    his_number: Text = ""


class WardRoundCreate(Base):
    topic: Text
    scheduled_at: Text  # ISO 8601; without an offset it is the applicant hospital's local time
    expert_ids: Many[Id]
    summary: LongText = ""
    patient: WardPatientIn = msgspec.field(default_factory=WardPatientIn)
    examination_ids: Many[Id] = msgspec.field(default_factory=list)


class StepIn(Base):
    """Start, cancel, finish: the version the client saw."""

    version: Int
    reason: Text = ""


class RecordIn(Base):
    """A save of the ward-round record: the record version it started from; the applicant
    writes the conclusion, an expert his own opinion."""

    record_version: Int
    conclusion: LongText | msgspec.UnsetType = msgspec.UNSET
    opinion: LongText | msgspec.UnsetType = msgspec.UNSET


class Done(Base):
    id: int
    state: str
    version: int
    record_version: int


class ExpertRead(Base):
    id: int
    name: str
    department_name: str
    hospital_name: str
    opinion: str
    opinion_at: str | None


class WardPatientRead(Base):
    name: str
    id_number: str
    his_number: str


class WardRoundRead(Base):
    id: int
    topic: str
    scheduled_at: str
    created_at: str
    summary: str
    state: str
    version: int
    hospital_id: int
    hospital_name: str
    applicant: PersonRead
    patient: WardPatientRead
    experts: list[ExpertRead]
    examinations: list[ExamRead]
    meeting_url: str
    conclusion: str
    record_version: int
    finished_at: str | None
    my_roles: list[str]
    actions: list[str]
    blocked: dict[str, str]
    can_write: bool  # the record is written now (in progress) by the people taking part


class WardRoundSummary(Base):
    id: int
    topic: str
    scheduled_at: str
    state: str
    patient_name: str
    applicant_name: str
    hospital_name: str
    expert_names: list[str]
    my_roles: list[str]
