"""Wire structs of the cloud-film rules (SPEC 8.7) and the patient's matches (SPEC 10.3)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from msgspec import Meta

from api.bounds import Id, Int, Text
from api.schemas import Base
from api.viewer.studies import ImageRef


class DefaultRule(Base):
    """The hospital's row: examinations without a check item, and the hospital switches."""

    enabled: bool
    visible_when: str  # at_once | after_review | after_hours
    visible_hours: int
    match_by_phone: bool
    allow_download: bool
    version: int
    matched: int  # live matches under this rule
    notified: int  # distinct patients told


class CheckItemRule(Base):
    id: int
    code: str
    name: str
    device_type_code: str
    enabled: bool
    visible_when: str
    visible_hours: int
    active: bool
    version: int
    matched: int
    notified: int


class RulesRead(Base):
    module_on: bool  # the hospital's cloud-film module: nothing is visible while it is off
    default: DefaultRule
    check_items: list[CheckItemRule]


class DefaultRuleUpdate(Base):
    version: Int
    enabled: bool
    visible_when: Text
    visible_hours: Int
    match_by_phone: bool
    allow_download: bool


class CheckItemRuleUpdate(Base):
    version: Int
    enabled: bool
    visible_when: Text
    visible_hours: Int = 0


class HospitalFigures(Base):
    hospital_id: int
    name: str
    module_on: bool
    check_items_on: int
    matched: int
    notified: int


class ManualMatch(Base):
    """The patient's proof (SPEC 10.3): the examination number, or the date and hospital."""

    accession_number: Text = ""
    exam_date: date | None = None
    hospital_id: Id | None = None


class MatchRead(Base):
    id: int
    examination_id: int
    hospital_id: int
    how: str
    matched_at: datetime
    visible_at: datetime | None
    notified_at: datetime | None


class ArchiveExam(Base):
    """One examination in the patient's archive (SPEC 10.4)."""

    id: int  # the examination
    person_id: int
    person_name: str
    relationship: str
    hospital_id: int
    hospital: str
    check_item: str
    exam_time: str
    report_state: str  # reviewed | pending


class ArchiveReport(Base):
    title: str
    findings: str
    impression: str
    reviewed_at: str


class ArchiveExamDetail(Base):
    exam: ArchiveExam
    study_uid: str
    modalities: str
    report: ArchiveReport | None  # only a reviewed report
    images: list[ImageRef]


class ArchiveHospital(Base):
    id: int
    name: str


class ProofOut(Base):
    matched: int
    visible: int  # of them, visible now
    examination_ids: list[int]


class DownloadAsked(Base):
    """A download request whose security code is on its way to the account's phone."""

    id: int
    phone: str  # masked
    message: str
    resend_after: int  # the page's countdown before another code may be asked for
    expires_in: int  # seconds the code is valid
    tries: int  # wrong codes allowed before the request is invalidated


class DownloadCodeIn(Base):
    code: Annotated[str, Meta(max_length=100)]


class DownloadLink(Base):
    """The link of the zip (``/api/patient/downloads/<token>``), valid until ``expires_at``."""

    url: str
    expires_at: str
    message: str


class QrScan(Base):
    """A scanned report code's token (the last part of ``/patient/qr/<token>``)."""

    token: Annotated[str, Meta(max_length=200)]


class QrScanOut(Base):
    examination_id: int
    matched: bool  # matched to one of her persons by this scan
    visible: bool  # she can open it now (else once the hospital releases it)
