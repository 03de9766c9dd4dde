"""Examination counts per hospital and status, kept by database triggers.

The status chips of the examination list read ``examination_count`` instead of counting a
million rows (0.1–3 s before, docs/benchmarks.md "Examination list"). Triggers keep it in
the transaction of every insert, update and delete of ``examination`` — the migration flow,
report steps, printing, soft delete and bulk loads alike — so no code path can forget it.
Soft-deleted examinations are not counted. (On the databases of its day it then counted the
existing rows; since the baseline it runs before any row exists.)
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.sqlite import SQLiteEngine

from store.db import engine

ID = "2026-11-28T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "examination count triggers"

UNIQUE = (
    "CREATE UNIQUE INDEX IF NOT EXISTS ux_examination_count ON examination_count (hospital, status)"
)

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS examination_count_insert AFTER INSERT ON examination
WHEN NEW.deleted_at IS NULL BEGIN
  INSERT INTO examination_count (hospital, status, n) VALUES (NEW.hospital, NEW.status, 1)
  ON CONFLICT (hospital, status) DO UPDATE SET n = n + 1;
END""",
    """CREATE TRIGGER IF NOT EXISTS examination_count_delete AFTER DELETE ON examination
WHEN OLD.deleted_at IS NULL BEGIN
  UPDATE examination_count SET n = n - 1 WHERE hospital = OLD.hospital AND status = OLD.status;
END""",
    """CREATE TRIGGER IF NOT EXISTS examination_count_update
AFTER UPDATE OF hospital, status, deleted_at ON examination
WHEN OLD.hospital IS NOT NEW.hospital OR OLD.status IS NOT NEW.status
  OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL) BEGIN
  UPDATE examination_count SET n = n - 1
    WHERE OLD.deleted_at IS NULL AND hospital = OLD.hospital AND status = OLD.status;
  INSERT INTO examination_count (hospital, status, n)
    SELECT NEW.hospital, NEW.status, 1 WHERE NEW.deleted_at IS NULL
  ON CONFLICT (hospital, status) DO UPDATE SET n = n + 1;
END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS examination_count_insert",
    "DROP TRIGGER IF EXISTS examination_count_delete",
    "DROP TRIGGER IF EXISTS examination_count_update",
]

POSTGRES = [
    """CREATE OR REPLACE FUNCTION examination_count_trigger() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
    UPDATE examination_count SET n = n - 1 WHERE hospital = OLD.hospital AND status = OLD.status;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
    INSERT INTO examination_count (hospital, status, n) VALUES (NEW.hospital, NEW.status, 1)
    ON CONFLICT (hospital, status) DO UPDATE SET n = examination_count.n + 1;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER examination_count_insert_delete AFTER INSERT OR DELETE ON examination
  FOR EACH ROW EXECUTE FUNCTION examination_count_trigger()""",
    """CREATE TRIGGER examination_count_update
  AFTER UPDATE OF hospital, status, deleted_at ON examination
  FOR EACH ROW WHEN (OLD.hospital IS DISTINCT FROM NEW.hospital
    OR OLD.status IS DISTINCT FROM NEW.status
    OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
  EXECUTE FUNCTION examination_count_trigger()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS examination_count_insert_delete ON examination",
    "DROP TRIGGER IF EXISTS examination_count_update ON examination",
    "DROP FUNCTION IF EXISTS examination_count_trigger()",
]


def _sqlite() -> bool:
    return isinstance(engine(), SQLiteEngine)


async def _forwards() -> None:
    db = engine()
    for sql in [UNIQUE, *(SQLITE if _sqlite() else POSTGRES)]:
        await db.run_ddl(sql)


async def _backwards() -> None:
    db = engine()
    for sql in SQLITE_DROP if _sqlite() else POSTGRES_DROP:
        await db.run_ddl(sql)


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(_forwards)
    manager.add_raw_backwards(_backwards)
    return manager
