"""The ``migration_item`` statements of ingest: a file's outcome, a new row for a file indexed
as it arrives (``INSERT … RETURNING``) or the spooled file's row updated."""

from __future__ import annotations

from store.sql import Statement
from store.tables import MigrationItem

INSERT = Statement(
    MigrationItem,
    "INSERT INTO migration_item (migration, file_name, size_bytes, status, code, reason,"
    " sop_uid, study_uid) VALUES (:migration, :file_name, :size_bytes, :status, :code,"
    " :reason, :sop_uid, :study_uid) RETURNING id",
    columns=(
        "migration",
        "file_name",
        "size_bytes",
        "status",
        "code",
        "reason",
        "sop_uid",
        "study_uid",
        "id",
    ),
)
RESOLVE = Statement(
    MigrationItem,
    "UPDATE migration_item SET status = :status, code = :code, reason = :reason,"
    " sop_uid = :sop_uid, study_uid = :study_uid WHERE id = :id",
    columns=("status", "code", "reason", "sop_uid", "study_uid", "id"),
)
STATEMENTS = (INSERT, RESOLVE)
