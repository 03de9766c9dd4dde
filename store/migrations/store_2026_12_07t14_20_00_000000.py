# ruff: noqa: E501  (Piccolo's SQL, one column a line, verbatim)
"""The examinations attached to a consultation as a table (``consultation_examination``).

Until now an attachment was only a timeline step of its consultation (``exam_attach`` /
``exam_detach`` in ``case_history``, summary ``examination_id``) and who may read an attached
examination was a subquery over ``case_history`` in ``store.scoping``. This step:

- creates the table (Piccolo's DDL of ``store/tables/cases.py``, frozen) with its unique index
  on (consultation, examination), and ``case_history (case_type, case_id)``, the index every
  timeline read (``store.engine.timeline``) and this backfill lean on;
- backfills it from the steps: a pair is attached when its last ``exam_attach`` /
  ``exam_detach`` step is an attach (``ROW_NUMBER`` over the pair, newest first: SQLite ≥ 3.25
  and PostgreSQL alike), inserted in the order of those steps, ``added_by`` / ``added_at``
  from that step; a step naming a consultation or examination that is gone is left out;
- marks the examinations of soft-deleted studies deleted too (SPEC 8.11: study and
  examination are deleted together since ``api.archive.deletion`` does it in one unit of
  work; rows deleted before may have only the study marked), with the study's time.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.sqlite import SQLiteEngine

from store.db import ddl, ddl_script, engine

ID = "2026-12-07T14:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "consultation examinations table, backfilled; examinations of deleted studies"

TABLES = """
CREATE TABLE "consultation_examination" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "consultation" INTEGER REFERENCES "consultation" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "added_by" INTEGER REFERENCES "app_user" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "added_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX consultation_examination_examination ON "consultation_examination" ("examination");
CREATE UNIQUE INDEX ux_consultation_examination ON "consultation_examination" ("consultation", "examination");
CREATE INDEX ix_case_history_case ON "case_history" ("case_type", "case_id");
"""

# {exam}: the step's examination id as an integer, spelled per database.
BACKFILL = """
INSERT INTO consultation_examination (consultation, examination, added_by, added_at)
SELECT last.case_id, last.exam, u.id, last.at
FROM (
    SELECT h.id, h.case_id, {exam} AS exam, h.actor_id, h.at, h.event,
           ROW_NUMBER() OVER (PARTITION BY h.case_id, {exam} ORDER BY h.id DESC) AS n
    FROM case_history h
    WHERE h.case_type = 'consultation' AND h.event IN ('exam_attach', 'exam_detach')
) last
JOIN consultation c ON c.id = last.case_id
JOIN examination e ON e.id = last.exam
LEFT JOIN app_user u ON u.id = last.actor_id
WHERE last.n = 1 AND last.event = 'exam_attach'
ORDER BY last.id
"""
EXAM = {
    "sqlite": "CAST(json_extract(h.summary, '$.examination_id') AS INTEGER)",
    "postgres": "CAST(h.summary->>'examination_id' AS INTEGER)",
}
DELETED_WITH_STUDY = (
    "UPDATE examination SET deleted_at = "
    "(SELECT s.deleted_at FROM study s WHERE s.id = examination.study) "
    "WHERE deleted_at IS NULL AND study IN (SELECT id FROM study WHERE deleted_at IS NOT NULL)"
)


async def backfill() -> None:
    db = engine()
    kind = "sqlite" if isinstance(db, SQLiteEngine) else "postgres"
    await db.run_ddl(BACKFILL.format(exam=EXAM[kind]))


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(TABLES))
    manager.add_raw(backfill)
    manager.add_raw(ddl(DELETED_WITH_STUDY))
    manager.add_raw_backwards(ddl('DROP TABLE IF EXISTS "consultation_examination"'))
    manager.add_raw_backwards(ddl("DROP INDEX IF EXISTS ix_case_history_case"))
    return manager
