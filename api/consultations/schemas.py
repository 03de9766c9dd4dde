"""Wire structs of the consultation API (SPEC 3). ORM rows never leave the service."""

from __future__ import annotations

import msgspec

from api.bounds import Id, Int, LongText, Many, Text
from api.schemas import Base

# --- contacts -------------------------------------------------------------------------------


class ContactDepartment(Base):
    id: int
    name: str
    hospital_id: int
    hospital_name: str


class ContactDoctor(Base):
    id: int
    display_name: str
    department_id: int
    department_name: str
    hospital_id: int
    hospital_name: str
    reviewer: bool


class Contacts(Base):
    departments: list[ContactDepartment]
    doctors: list[ContactDoctor]


# --- create ---------------------------------------------------------------------------------


class PatientIn(Base):
    name: Text = ""
    sex: Text = ""  # "" | male | female | other
    birth_date: Text = ""  # YYYY-MM-DD
    id_number: Text = ""
    his_number: Text = ""


class InviteCreate(Base):
    department_id: Id
    mandatory: bool = False
    expert_id: Id | None = None


class ConsultationCreate(Base):
    topic: Text
    scheduled_at: Text  # ISO 8601; without an offset it is the applicant hospital's local time
    invites: Many[InviteCreate]
    clinical_summary: LongText = ""
    patient: PatientIn = msgspec.field(default_factory=PatientIn)
    examination_ids: Many[Id] = msgspec.field(default_factory=list)  # cloud examinations


# --- actions --------------------------------------------------------------------------------


class DecisionIn(Base):
    department_id: Id
    decision: Text  # agree | agree_join | deny
    version: Int
    reason: Text = ""


class ExpertIn(Base):
    department_id: Id
    user_id: Id
    version: Int


class StepIn(Base):
    """Start, withdraw, cancel, submit the report: the version the client saw."""

    version: Int
    reason: Text = ""


class ReportIn(Base):
    text: LongText
    report_version: Int


# --- reads ----------------------------------------------------------------------------------


class PersonRead(Base):
    id: int
    name: str


class PatientRead(Base):
    name: str
    sex: str
    birth_date: str
    id_number: str
    his_number: str


class InviteRead(Base):
    department_id: int
    department_name: str
    hospital_id: int
    hospital_name: str
    mandatory: bool
    expert: PersonRead | None
    decision: str
    decided_by: PersonRead | None
    decided_at: str | None
    reason: str
    can_decide: bool  # the actor reviews this department and it is undecided
    can_adjust: bool  # the actor may change this department's expert now


class ParticipantRead(Base):
    user_id: int
    name: str
    role: str  # applicant | expert | participant
    department_name: str
    hospital_name: str


class AttachmentRead(Base):
    id: int
    name: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: PersonRead | None
    created_at: str
    url: str


class ExamIn(Base):
    """Cloud examinations to attach (ids from the examination search)."""

    examination_ids: Many[Id]


class ExamRead(Base):
    """A cloud examination (SPEC 3.1): one of the patient's, found by ID or HIS number, or
    one attached to the consultation. ``readable``: the reader may open its images and
    report (an invited department's reviewer who does not take part may not); the other
    fields are empty then."""

    id: int
    readable: bool
    hospital_name: str = ""
    exam_time: str | None = None
    device_type: str = ""
    body_part: str = ""
    check_item_name: str = ""
    accession_number: str = ""
    status: str = ""
    patient_name: str = ""
    viewer_url: str = ""  # OHIF
    mobile_url: str = ""  # the mobile viewer
    report_url: str = ""  # the report page
    attached: bool = False


class ReportRead(Base):
    text: str
    report_version: int
    lock_holder: PersonRead | None  # None when free or expired
    lock_until: str | None
    submitted_at: str | None
    can_edit: bool  # a participant, and the consultation is in progress
    holding: bool  # the actor holds the lock now


class ConsultationRead(Base):
    id: int
    topic: str
    scheduled_at: str
    created_at: str
    clinical_summary: str
    state: str
    version: int
    hospital_id: int
    hospital_name: str
    applicant: PersonRead
    patient: PatientRead
    invites: list[InviteRead]
    participants: list[ParticipantRead]
    attachments: list[AttachmentRead]
    examinations: list[ExamRead]
    meeting_url: str
    report: ReportRead
    my_roles: list[str]  # applicant | participant | expert | reviewer
    actions: list[str]  # case-wide triggers the actor may fire now: start, withdraw, cancel …
    blocked: dict[str, str]  # triggers the actor may fire in principle, and why not now
    can_attach: bool


class ConsultationSummary(Base):
    id: int
    topic: str
    scheduled_at: str
    state: str
    version: int
    applicant_name: str
    hospital_name: str
    my_roles: list[str]
    pending_departments: list[str]  # undecided departments the actor reviews (review list)


class LogEntry(Base):
    id: int
    topic: str
    scheduled_at: str
    created_at: str
    applicant_name: str
    hospital_name: str
    state: str
    invited_hospitals: list[str]


class LogPage(Base):
    total: int
    items: list[LogEntry]


class ReportLock(Base):
    holder: PersonRead
    until: str


class Done(Base):
    ok: bool = True
    message: str = ""
    version: int | None = None
    report_version: int | None = None
