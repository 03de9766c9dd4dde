"""Wire structs of the examination list API (SPEC 2.1, issue 5 items 1-2).

``ExamRead`` goes out (one list row, also the detail), ``ExamUpdate`` comes in for an admin's
edit: its fields default to ``msgspec.UNSET`` so that only what the client sent is touched.
"""

from __future__ import annotations

from msgspec import UNSET, UnsetType

from api.bounds import Id, Many, Text
from api.schemas import Base, Update


class ExamRead(Base):
    id: int
    hospital_id: int
    hospital_name: str
    study_id: int | None
    study_uid: str
    patient_name: str
    patient_sex: str
    patient_birth_date: str
    patient_id: str
    patient_id_number: str
    patient_his_number: str
    patient_phone: str
    accession_number: str
    check_item_id: int | None
    check_item_name: str
    device_type: str
    device_name: str
    body_part: str
    exam_category: str
    scanning_method: str
    department_id: int | None
    department_name: str
    exam_time: str
    status: str
    print_time: str | None
    version: int
    shared: bool  # another hospital's examination, seen through a diagnosis request
    priority: str = "routine"  # routine | urgent | emergency (kernel.priority)


class ExamPage(Base):
    items: list[ExamRead]
    next_cursor: str | None  # pass back as ``cursor`` for the next page; None: the last page
    sort: str
    order: str
    limit: int
    # First page only, unless a priority is filtered: the urgent and emergency examinations
    # of the filter that wait for their report (images arrived, draft, initial report),
    # emergency first, then the newest; at most URGENT_MAX. ``items`` leaves them out while
    # this holds them all; with more (``urgent_more``) they stay in ``items`` too.
    urgent: list[ExamRead] = []
    urgent_more: bool = False


class StatusCounts(Base):
    """How many examinations of the current filter (status aside) are in each status:
    exact up to a cap; a status in ``capped`` has more than its count says ("10000+")."""

    counts: dict[str, int]
    total: int
    capped: list[str]


class ExamUpdate(Update):
    patient_name: Text | UnsetType = UNSET
    patient_sex: Text | UnsetType = UNSET  # M | F | O | ""
    patient_birth_date: Text | UnsetType = UNSET  # YYYY-MM-DD or YYYYMMDD or ""
    patient_id_number: Text | UnsetType = UNSET  # national ID (18 characters, checksum)
    patient_his_number: Text | UnsetType = UNSET
    patient_phone: Text | UnsetType = UNSET
    check_item_id: Id | UnsetType | None = UNSET
    department_id: Id | UnsetType | None = UNSET
    exam_category: Text | UnsetType = UNSET
    scanning_method: Text | UnsetType = UNSET


class PriorityIn(Base):
    """A doctor's (or an administrator's) change of an examination's priority; ``version``
    the one the client saw (409 when stale)."""

    priority: Text
    version: Id | None = None


class DensityIn(Base):
    density: Text  # normal | compact


class ColumnChoice(Base):
    columns: Many[Text]


class ColumnPrefs(Base):
    columns: list[str]  # the user's choice, in order
    available: list[str]  # every column a user may choose
    default: list[str]
    density: str = "normal"  # the list's row height: normal | compact
