"""Wire structs of the remote diagnosis request API (SPEC 2.2). ORM rows never leave the
service."""

from __future__ import annotations

from api.bounds import Id, Int, LongText, Text
from api.schemas import Base, HistoryEntry


class RequestCreate(Base):
    examination_id: Id
    target_hospital_id: Id
    clinical_info: LongText = ""
    # routine | urgent | emergency (kernel.priority); none: the examination's own, or
    # urgent when ``urgent`` (the older form) is true
    priority: Text | None = None
    urgent: bool = False


class StepIn(Base):
    """Accept or cancel; ``version`` is the one the client saw (409 when stale)."""

    version: Int | None = None


class RejectIn(Base):
    reason: Text = ""
    version: Int | None = None


class TargetHospital(Base):
    id: int
    name: str
    level: str  # leading | lower


class RequestRead(Base):
    id: int
    state: str
    version: int
    priority: str  # routine | urgent | emergency
    urgent: bool  # priority is urgent or emergency
    clinical_info: str
    reason: str  # a rejection's reason
    examination_id: int
    patient_name: str
    accession_number: str
    device_type: str
    check_item_name: str
    exam_time: str
    exam_status: str
    hospital_id: int  # the requesting hospital
    hospital_name: str
    target_hospital_id: int
    target_hospital_name: str
    requested_by: int
    requested_by_name: str
    created_at: str
    updated_at: str
    direction: str  # incoming (my hospital diagnoses) | outgoing (my hospital asked)
    actions: list[str]  # what the viewer may do now: accept, reject, cancel


class RequestDetail(RequestRead, kw_only=True):
    timeline: list[HistoryEntry]


class RequestPage(Base):
    items: list[RequestRead]
    next_cursor: str | None  # pass back as ``cursor``; None: the last page
