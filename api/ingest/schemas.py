"""Wire format of the ingest API (msgspec)."""

from __future__ import annotations

import msgspec

from api.bounds import Id, Int, Text
from api.schemas import Base, CheckedUpdate, HistoryEntry

# a port as sent: any 32-bit number here, so that one outside 1–65535 gets the service's own
# sentence (``api.ingest.nodes``) rather than the decoder's; 0: none
Port = Int


class UploadAccepted(Base):
    run_id: int
    files: int
    url: str


class RunRead(Base):
    id: int
    hospital_id: int
    hospital: str
    source: str
    source_detail: str
    state: str
    version: int
    received: int
    checked: int
    stored: int
    duplicates: int
    new_versions: int
    refused: int  # files not acceptable (each item says why)
    failed: int  # acceptable files that could not be stored
    received_bytes: int
    percent: int
    studies: int
    error: str
    created_at: str
    finished_at: str | None
    actions: list[str]


class RunPage(Base):
    total: int
    offset: int
    items: list[RunRead]


class ItemRead(Base):
    id: int
    file_name: str
    sop_uid: str
    study_uid: str
    status: str
    code: str
    reason: str
    size_bytes: int
    revision: int | None = None  # the instance's revision, when the file was stored


class RunDetail(Base):
    run: RunRead
    items: list[ItemRead]
    items_total: int
    history: list[HistoryEntry]


class LogRead(Base):
    id: int
    at: str
    hospital: str
    migration_id: int
    study_id: int
    examination: str
    size_bytes: int
    billing_unit: str
    billing_quantity: str
    billing_entity: str
    resource_package: str
    validity_until: str | None
    # the run's instances of this study whose pixel data cannot be decoded (stored, flagged
    # by the thumbnail step; the run's items say why)
    undecodable: int = 0


class LogPage(Base):
    total: int
    offset: int
    items: list[LogRead]
    total_bytes: int


class NodeRead(Base):
    id: int
    hospital_id: int
    hospital: str
    ae_title: str
    host: str
    any_address: bool  # no host: may call from anywhere (the admin ticked it)
    description: str
    enabled: bool
    version: int
    port: int = 0  # its own SCP's port (a C-MOVE destination); 0: none
    may_store: bool = True
    may_query: bool = False
    may_retrieve: bool = False
    move_destination: bool = False


class NodeCreate(Base):
    ae_title: Text
    host: Text = ""  # the IP address it calls from; empty only with any_address
    any_address: bool = False
    description: Text = ""
    hospital_id: Id | None = None  # an alliance admin chooses; a hospital admin's own
    port: Port = 0
    may_store: bool = True
    may_query: bool = False
    may_retrieve: bool = False
    move_destination: bool = False


class NodeUpdate(CheckedUpdate):
    host: Text | msgspec.UnsetType = msgspec.UNSET
    any_address: bool | msgspec.UnsetType = msgspec.UNSET
    description: Text | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    port: Port | msgspec.UnsetType = msgspec.UNSET
    may_store: bool | msgspec.UnsetType = msgspec.UNSET
    may_query: bool | msgspec.UnsetType = msgspec.UNSET
    may_retrieve: bool | msgspec.UnsetType = msgspec.UNSET
    move_destination: bool | msgspec.UnsetType = msgspec.UNSET
