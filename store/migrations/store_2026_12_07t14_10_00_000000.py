# ruff: noqa: E501  (Piccolo's SQL, one statement a line, verbatim)
"""Priority (issue 14 item 9): examinations and remote diagnosis requests are routine (0),
urgent (1) or emergency (2) (``kernel.priority``); a study keeps what its DICOM states; a
list preference keeps the row height (normal | compact).

Piccolo's ``ADD COLUMN`` for the four columns (``python -m store.ddl``), frozen; the same
text on both databases. Then what Piccolo cannot declare:

- ``(hospital, priority, exam_time, id)`` and ``(shared_with, priority, exam_time, id)``: the
  examination list's priority filter pages by them as the other filters page by theirs
  (docs/benchmarks.md "Examination list"); the same, partial, over the urgent examinations
  that wait for their report (``ix_exam_*_waiting_urgent``): the "urgent first" section
  reads only those, whatever else the filter says (its query names the index's condition
  in the same literal words, which SQLite needs to use a partial index).
- ``(target_hospital, priority, id)`` and ``(hospital, priority, id)``: the incoming and
  outgoing diagnosis request lists, most urgent first, keyset by (priority, id).
- The boolean ``diagnosis_request.urgent`` it replaces is carried over (urgent → 1) and
  dropped (SQLite ≥ 3.35 drops a column that no index or trigger names, PostgreSQL alike).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl_script

ID = "2026-12-07T14:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "priority of examinations and diagnosis requests; list row height"

FORWARDS = """
ALTER TABLE "study" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "examination" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "diagnosis_request" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "list_preference" ADD COLUMN "density" VARCHAR(12) NOT NULL DEFAULT 'normal';
UPDATE diagnosis_request SET priority = 1 WHERE urgent = true;
ALTER TABLE "diagnosis_request" DROP COLUMN "urgent";
CREATE INDEX ix_exam_h_priority_time ON examination (hospital, priority, exam_time, id);
CREATE INDEX ix_exam_shared_priority_time ON examination (shared_with, priority, exam_time, id);
CREATE INDEX ix_exam_h_waiting_urgent ON examination (hospital, priority, exam_time, id) WHERE priority > 0 AND status IN ('images_arrived', 'report_draft', 'initial_report');
CREATE INDEX ix_exam_shared_waiting_urgent ON examination (shared_with, priority, exam_time, id) WHERE priority > 0 AND status IN ('images_arrived', 'report_draft', 'initial_report');
CREATE INDEX ix_diagnosis_request_target_priority ON diagnosis_request (target_hospital, priority, id);
CREATE INDEX ix_diagnosis_request_hospital_priority ON diagnosis_request (hospital, priority, id);
"""

BACKWARDS = """
DROP INDEX IF EXISTS ix_diagnosis_request_hospital_priority;
DROP INDEX IF EXISTS ix_diagnosis_request_target_priority;
DROP INDEX IF EXISTS ix_exam_shared_waiting_urgent;
DROP INDEX IF EXISTS ix_exam_h_waiting_urgent;
DROP INDEX IF EXISTS ix_exam_shared_priority_time;
DROP INDEX IF EXISTS ix_exam_h_priority_time;
ALTER TABLE "diagnosis_request" ADD COLUMN "urgent" BOOLEAN NOT NULL DEFAULT false;
UPDATE diagnosis_request SET urgent = true WHERE priority > 0;
ALTER TABLE "diagnosis_request" DROP COLUMN "priority";
ALTER TABLE "list_preference" DROP COLUMN "density";
ALTER TABLE "examination" DROP COLUMN "priority";
ALTER TABLE "study" DROP COLUMN "priority";
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(FORWARDS))
    manager.add_raw_backwards(ddl_script(BACKWARDS))
    return manager
