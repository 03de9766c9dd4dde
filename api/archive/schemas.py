"""Wire structs of the archive and data-maintenance API (SPEC 8.9, 8.11, 9.2)."""

from __future__ import annotations

import msgspec

from api.bounds import Id, Int, Text
from api.schemas import Base, CheckedUpdate, HistoryEntry, OffsetPage


class PolicyRead(Base):
    hospital_id: int
    hospital_name: str
    archive_after_days: int
    validity_days: int
    available_hours: int
    resource_package: str
    billing_unit: str
    version: int  # 0: the defaults, never saved


class PolicyUpdate(CheckedUpdate):
    archive_after_days: Int | msgspec.UnsetType = msgspec.UNSET
    validity_days: Int | msgspec.UnsetType = msgspec.UNSET
    available_hours: Int | msgspec.UnsetType = msgspec.UNSET
    resource_package: Text | msgspec.UnsetType = msgspec.UNSET
    billing_unit: Text | msgspec.UnsetType = msgspec.UNSET


class PolicyRunIn(Base):
    hospital_id: Id | None = None  # an alliance admin names the hospital


class StudyRow(Base):
    id: int
    hospital_id: int
    hospital_name: str
    study_uid: str
    study_date: str
    accession_number: str
    modalities: str
    description: str
    patient_id: str
    patient_name: str
    num_instances: int
    size_bytes: int
    tier: str
    archived_at: str | None
    deleted_at: str | None
    version: int
    open_retrieval_id: int | None = None


StudyPage = OffsetPage[StudyRow]


class RetrievalCreate(Base):
    study_id: Id
    reason: Text


class RetrievalReason(Base):
    reason: Text


class RetrievalRead(Base):
    id: int
    hospital_id: int
    hospital_name: str
    study_id: int
    study_uid: str
    accession_number: str
    patient_name: str
    state: str
    version: int
    requested_by: int
    requested_by_name: str
    reason: str
    available_until: str | None
    error: str
    created_at: str
    updated_at: str


class RetrievalDetail(Base):
    retrieval: RetrievalRead
    history: list[HistoryEntry]


class MaintenanceIn(Base):
    version: Int
    reason: Text = ""


class Done(Base):
    message: str
    version: int | None = None
