"""Wire structs of the statistics API (SPEC 6): figures only, never a patient's row."""

from __future__ import annotations

from api.schemas import Base


class HospitalFigures(Base):
    hospital_id: int
    hospital_name: str
    storage_used_bytes: int
    examinations_stored: int  # all time, not soft-deleted
    examinations: int  # in the range (all time without one)
    remote_diagnoses: int  # requests received for diagnosis
    remote_sent: int  # requests sent to another hospital
    consultations: int  # applied for


class Overview(Base):
    hospitals: list[HospitalFigures]
    start: str | None
    end: str | None


class Series(Base):
    """One count per bar (``labels``; each bar's first and last local day) and series."""

    step: str
    labels: list[str]
    starts: list[str]
    ends: list[str]
    exam: list[int]
    remote: list[int]
    consult: list[int]


class Stage(Base):
    stage: str  # initial | reviewed
    reports: int
    median_minutes: int | None  # the bucket's upper bound; -1: beyond the last bound
    p90_minutes: int | None


class Doctor(Base):
    user_id: int
    name: str
    initial_reports: int
    reviews: int


class Turnaround(Base):
    stages: list[Stage]
    doctors: list[Doctor]


class CaseRow(Base):
    """One remote diagnosis or consultation behind a bar: no patient identifier."""

    id: int
    created_at: str
    state: str
    hospital_name: str  # a request's sender; empty for a consultation
    link: str  # where the reader may open it, or empty


class CasePage(Base):
    kind: str  # remote | consult
    items: list[CaseRow]
    next_cursor: str | None
