"""Existing DICOM nodes without a host keep working: ``any_address`` for them.

Until now an empty host meant "any address" (the form said so: "IP address (optional)",
the list showed "any"); an admin who left it empty chose that. From now on it is an explicit
tick, and a node with neither a host nor the tick is refused. The rows that chose "any"
under the old rule say so explicitly now, so an upgrade stops no PACS from sending; the
nodes page shows them as "any address" for the admin to narrow. Separate from the
add_column migration before it: Piccolo runs raw steps first.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import engine

ID = "2026-12-06T20:04:32:000000"
VERSION = "1.38.0"
DESCRIPTION = "dicom_node any_address for the nodes without a host"


async def _forwards() -> None:
    await engine().run_ddl("UPDATE dicom_node SET any_address = TRUE WHERE host = ''")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(_forwards)
    return manager
