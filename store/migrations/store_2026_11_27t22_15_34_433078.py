"""The unique key of a stored instance revision (``Instance.instance_key``).

SQLite cannot ADD a UNIQUE column, so the column came plain in the previous migration and
this unique index, valid on both databases, makes a second writer of the same revision fail
(NULLs never collide).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl

ID = "2026-11-27T22:15:34:433078"
VERSION = "1.38.0"
DESCRIPTION = "instance revision key unique index"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(
        ddl("CREATE UNIQUE INDEX IF NOT EXISTS instance_key_unique ON instance (instance_key)")
    )
    manager.add_raw_backwards(ddl("DROP INDEX IF EXISTS instance_key_unique"))
    return manager
