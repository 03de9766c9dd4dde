"""The ``migration_run`` statements of ingest: the run's hospital, its study list (on
PostgreSQL locked, so two batches of one run add to it in turn) and its counters, written
once per batch in one ``UPDATE``."""

from __future__ import annotations

from store.sql import Statement
from store.tables import MigrationRun

HOSPITAL = Statement(
    MigrationRun,
    "SELECT migration_run.hospital FROM migration_run WHERE migration_run.id = :id",
    columns=("hospital", "id"),
)
_STUDY_UIDS = "SELECT migration_run.study_uids FROM migration_run WHERE migration_run.id = :id"
STUDY_UIDS = Statement(
    MigrationRun,
    _STUDY_UIDS,
    columns=("study_uids", "id"),
    postgres=_STUDY_UIDS + " FOR NO KEY UPDATE",
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
COUNT_AND_STUDIES = Statement(
    MigrationRun,
    _COUNT + ", study_uids = :study_uids WHERE id = :id",
    columns=(*_COUNT_COLUMNS, "study_uids"),
)
STATEMENTS = (HOSPITAL, STUDY_UIDS, COUNT, COUNT_AND_STUDIES)
