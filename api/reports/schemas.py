"""Wire structs of the report API. ORM rows never leave the service."""

from __future__ import annotations

from api.bounds import Id, Int, LongText, Text
from api.schemas import Base


class PersonRead(Base):
    id: int
    name: str


class LockRead(Base):
    holder: PersonRead | None = None
    until: str | None = None  # ISO 8601
    mine: bool = False


class TemplateChoice(Base):
    id: int
    name: str
    scope: str
    check_item_name: str


class ReportRead(Base):
    """The report of an examination, or an empty one (``report_id`` None, ``version`` 0)
    with the templates usable for it. ``can_*`` say which buttons the reader gets."""

    exam_id: int
    report_id: int | None
    exam_hospital_id: int
    reporting_hospital_id: int | None
    reporting_hospital_name: str
    state: str  # "" before the first save | draft | initial | reviewed | returned
    version: int
    revision: int
    title: str
    findings: str
    impression: str
    template_id: int | None
    author: PersonRead | None
    initial_by: PersonRead | None
    initial_at: str | None
    reviewer: PersonRead | None
    reviewed_at: str | None
    returned_reason: str
    printed_at: str | None
    print_count: int
    lock: LockRead
    available: bool  # False: the reader may not see the text yet (a remote draft)
    notice: str  # why the reader cannot write now, in a sentence ("" when he can)
    can_write: bool
    can_review: bool
    can_print: bool
    can_release: bool
    templates: list[TemplateChoice]
    updated_at: str | None


class ReportSave(Base):
    version: Int  # the report version the editor started from (0: no report yet)
    title: Text = ""
    findings: LongText = ""
    impression: LongText = ""
    template_id: Id | None = None
    autosave: bool = False  # autosaves keep the lock; an explicit save releases it


class StepIn(Base):
    version: Int


class ReturnIn(Base):
    version: Int
    reason: Text


class Saved(Base):
    message: str
    version: int
    revision: int
    saved_at: str
    report_id: int


class Done(Base):
    message: str
    version: int | None = None


class VersionRead(Base):
    revision: int
    state: str
    title: str
    findings: str
    impression: str
    author: PersonRead
    note: str
    created_at: str


class VersionSummary(Base):
    revision: int
    state: str
    author: PersonRead
    note: str
    created_at: str


class DiffLine(Base):
    op: str  # " " same, "-" only in the older, "+" only in the newer
    text: str


class FieldDiff(Base):
    field: str
    changed: bool
    lines: list[DiffLine]


class DiffRead(Base):
    older: int
    newer: int
    fields: list[FieldDiff]
