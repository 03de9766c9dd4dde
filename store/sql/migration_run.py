"""The ``migration_run`` statements of ingest: the run's hospital (with that hospital's quota,
for the checks before any byte is written, in the same read), and its counters and study
list, written once per batch in one ``UPDATE`` that adds a study UID only when the list
lacks it (one statement, so two batches of one run cannot lose each other's)."""

from __future__ import annotations

from store.sql import Statement
from store.tables import MigrationRun

HOSPITAL = Statement(
    MigrationRun,
    "SELECT migration_run.hospital FROM migration_run WHERE migration_run.id = :id",
    columns=("hospital", "id"),
)
HOSPITAL_QUOTA = Statement(
    MigrationRun,
    "SELECT migration_run.hospital, h.storage_quota_bytes, h.storage_used_bytes"
    " FROM migration_run JOIN hospital h ON h.id = migration_run.hospital"
    " WHERE migration_run.id = :id",
    columns=("hospital", "id"),
)
STUDY_UIDS = Statement(
    MigrationRun,
    "SELECT migration_run.study_uids FROM migration_run WHERE migration_run.id = :id",
    columns=("study_uids", "id"),
)
_COUNT = (
    "UPDATE migration_run SET received_count = received_count + :received,"
    " stored_count = stored_count + :stored, duplicate_count = duplicate_count + :duplicate,"
    " new_version_count = new_version_count + :new_version,"
    " failed_count = failed_count + :failed, received_bytes = received_bytes + :received_bytes"
)
_COUNT_COLUMNS = (
    "received_count",
    "stored_count",
    "duplicate_count",
    "new_version_count",
    "failed_count",
    "received_bytes",
    "id",
)
COUNT = Statement(MigrationRun, _COUNT + " WHERE id = :id", columns=_COUNT_COLUMNS)
_LIST = "COALESCE(NULLIF(migration_run.study_uids, ''), '[]')"
COUNT_AND_STUDY = Statement(
    MigrationRun,
    _COUNT + ", study_uids = CASE WHEN EXISTS (SELECT 1 FROM json_each(" + _LIST + ")"
    " WHERE json_each.value = :study_uid) THEN migration_run.study_uids"
    " ELSE json_insert(" + _LIST + ", '$[#]', :study_uid) END WHERE id = :id",
    columns=(*_COUNT_COLUMNS, "study_uids"),
    postgres=_COUNT + ", study_uids = CASE WHEN migration_run.study_uids::jsonb"
    " ? CAST(:study_uid AS text) THEN migration_run.study_uids"
    " ELSE (migration_run.study_uids::jsonb || jsonb_build_array(CAST(:study_uid AS text)))::json"
    " END WHERE id = :id",
)
STATEMENTS = (HOSPITAL, HOSPITAL_QUOTA, STUDY_UIDS, COUNT, COUNT_AND_STUDY)
