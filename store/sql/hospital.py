"""The ``hospital`` statements of ingest: its storage quota and the bytes in use (read in the
batch's transaction, which decides), and the bytes a batch adds, once per batch."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Hospital

QUOTA = Statement(
    Hospital,
    "SELECT hospital.storage_quota_bytes, hospital.storage_used_bytes FROM hospital"
    " WHERE hospital.id = :id",
    columns=("storage_quota_bytes", "storage_used_bytes", "id"),
)
ADD_USED = Statement(
    Hospital,
    "UPDATE hospital SET storage_used_bytes = storage_used_bytes + :bytes WHERE id = :id",
    columns=("storage_used_bytes", "id"),
)
STATEMENTS = (QUOTA, ADD_USED)
