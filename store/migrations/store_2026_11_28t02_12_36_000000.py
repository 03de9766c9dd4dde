"""``examination.shared_with`` kept by triggers on ``diagnosis_request``, and indexed.

The diagnosing hospital's examination list reads its shared examinations through
``examination (shared_with, exam_time, id)`` / ``(shared_with, print_time, id)`` like its own
(O(page), not one lookup per open request; docs/benchmarks.md "Examination list"). The
column is the target hospital of the examination's open request (one per examination),
NULL when none: set when a request is created, kept while it is open, cleared when it is
rejected, cancelled or deleted. Triggers do it in the transaction of every write of
``diagnosis_request``, so no code path can forget it. (On the databases of its day it then
backfilled the column; since the baseline it runs before any row exists.)
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.sqlite import SQLiteEngine

from store.db import engine

ID = "2026-11-28T02:12:36:000000"
VERSION = "1.38.0"
DESCRIPTION = "examination shared_with triggers and indexes"

INDEXES = [
    "CREATE INDEX IF NOT EXISTS ix_exam_shared_time ON examination (shared_with, exam_time, id)",
    "CREATE INDEX IF NOT EXISTS ix_exam_shared_print ON examination (shared_with, print_time, id)",
]
INDEXES_DROP = [
    "DROP INDEX IF EXISTS ix_exam_shared_time",
    "DROP INDEX IF EXISTS ix_exam_shared_print",
]

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS diagnosis_request_shared_insert
AFTER INSERT ON diagnosis_request
WHEN NEW.state NOT IN ('rejected', 'cancelled') BEGIN
  UPDATE examination SET shared_with = NEW.target_hospital WHERE id = NEW.examination;
END""",
    """CREATE TRIGGER IF NOT EXISTS diagnosis_request_shared_update
AFTER UPDATE OF state, target_hospital ON diagnosis_request
WHEN NEW.state NOT IN ('rejected', 'cancelled') BEGIN
  UPDATE examination SET shared_with = NEW.target_hospital
  WHERE id = NEW.examination AND shared_with IS NOT NEW.target_hospital;
END""",
    """CREATE TRIGGER IF NOT EXISTS diagnosis_request_shared_close
AFTER UPDATE OF state, target_hospital ON diagnosis_request
WHEN NEW.state IN ('rejected', 'cancelled') AND OLD.state NOT IN ('rejected', 'cancelled')
BEGIN
  UPDATE examination SET shared_with = NULL
  WHERE id = NEW.examination AND shared_with IN (NEW.target_hospital, OLD.target_hospital);
END""",
    """CREATE TRIGGER IF NOT EXISTS diagnosis_request_shared_delete
AFTER DELETE ON diagnosis_request
WHEN OLD.state NOT IN ('rejected', 'cancelled') BEGIN
  UPDATE examination SET shared_with = NULL
  WHERE id = OLD.examination AND shared_with = OLD.target_hospital;
END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS diagnosis_request_shared_insert",
    "DROP TRIGGER IF EXISTS diagnosis_request_shared_update",
    "DROP TRIGGER IF EXISTS diagnosis_request_shared_close",
    "DROP TRIGGER IF EXISTS diagnosis_request_shared_delete",
]

POSTGRES = [
    """CREATE OR REPLACE FUNCTION diagnosis_request_shared_trigger() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.state NOT IN ('rejected', 'cancelled') THEN
      UPDATE examination SET shared_with = NEW.target_hospital WHERE id = NEW.examination;
    END IF;
  ELSIF TG_OP = 'UPDATE' THEN
    IF NEW.state NOT IN ('rejected', 'cancelled') THEN
      UPDATE examination SET shared_with = NEW.target_hospital
      WHERE id = NEW.examination AND shared_with IS DISTINCT FROM NEW.target_hospital;
    ELSIF OLD.state NOT IN ('rejected', 'cancelled') THEN
      UPDATE examination SET shared_with = NULL
      WHERE id = NEW.examination
        AND shared_with IN (NEW.target_hospital, OLD.target_hospital);
    END IF;
  ELSIF OLD.state NOT IN ('rejected', 'cancelled') THEN
    UPDATE examination SET shared_with = NULL
    WHERE id = OLD.examination AND shared_with = OLD.target_hospital;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS diagnosis_request_shared ON diagnosis_request",
    """CREATE TRIGGER diagnosis_request_shared
  AFTER INSERT OR DELETE OR UPDATE OF state, target_hospital ON diagnosis_request
  FOR EACH ROW EXECUTE FUNCTION diagnosis_request_shared_trigger()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS diagnosis_request_shared ON diagnosis_request",
    "DROP FUNCTION IF EXISTS diagnosis_request_shared_trigger()",
]


def _sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


async def _forwards() -> None:
    db = engine()
    for sql in [*INDEXES, *(SQLITE if _sqlite() else POSTGRES)]:
        await db.run_ddl(sql)


async def _backwards() -> None:
    db = engine()
    for sql in [*(SQLITE_DROP if _sqlite() else POSTGRES_DROP), *INDEXES_DROP]:
        await db.run_ddl(sql)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
