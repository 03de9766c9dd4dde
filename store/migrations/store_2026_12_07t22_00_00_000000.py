"""Issue 16 and 17's schema, one step: ward rounds, teaching and its recordings, statistics
rollups and quality control.

Each area is one named block below (its DDL frozen from ``python -m store.ddl``), added to
``forwards`` in this order, and its tables dropped backwards in reverse:

(the blocks are added by the work of issues 16 and 17)

Written while none of it had run anywhere but in tests.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-07T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ward rounds; teaching and recordings; statistics rollups; quality control"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    return manager
