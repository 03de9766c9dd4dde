"""Composite indexes of the examination list (issue 5 item 2, bench/exam_list.py).

Raw SQL valid on SQLite and PostgreSQL (Piccolo declares no composite indexes). Each list
query is ``WHERE hospital = ? [AND <filter> = ?] ORDER BY <time>, id LIMIT n`` with a keyset
bound on (<time>, id): an index (hospital, <filter>, <time>, id) answers it by reading only
the page. The (exam_time, id) and (print_time, id) indexes serve the alliance-wide list of
an alliance admin (several hospitals); the name indexes serve the prefix search.
"""

from collections.abc import Awaitable, Callable

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T21:34:03:259966"
VERSION = "1.38.0"
DESCRIPTION = "examination list indexes"

INDEXES = {
    "ix_exam_h_time": "hospital, exam_time, id",
    "ix_exam_h_status_time": "hospital, status, exam_time, id",
    "ix_exam_h_device_time": "hospital, device_type, exam_time, id",
    "ix_exam_h_category_time": "hospital, exam_category, exam_time, id",
    "ix_exam_h_method_time": "hospital, scanning_method, exam_time, id",
    "ix_exam_h_dept_time": "hospital, department, exam_time, id",
    "ix_exam_h_print": "hospital, print_time, id",
    "ix_exam_time_id": "exam_time, id",
    "ix_exam_print_id": "print_time, id",
    "ix_exam_h_name": "hospital, patient_name",
    "ix_exam_h_name_search": "hospital, patient_name_search",
}


def run_sql(sql: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        engine = engine_finder()
        assert engine is not None, "no Piccolo engine configured"
        await engine.run_ddl(sql)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    for name, columns in INDEXES.items():
        manager.add_raw(run_sql(f"CREATE INDEX IF NOT EXISTS {name} ON examination ({columns})"))
        manager.add_raw_backwards(run_sql(f"DROP INDEX IF EXISTS {name}"))
    return manager
