"""Unique dictionary codes per hospital, and the index the diagnosing hospital's list needs.

Raw SQL valid on SQLite and PostgreSQL (Piccolo declares no composite indexes):
- (hospital, code) is unique for device types, body parts and check items, so two
  simultaneous creates of one code cannot both pass the service's check;
- diagnosis_request (target_hospital, state, examination) lets the list of a diagnosing
  hospital start from its open requests (bench/exam_list.py).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl

ID = "2026-11-27T22:52:33:970311"
VERSION = "1.38.0"
DESCRIPTION = "unique dictionary codes per hospital, diagnosis request target index"

UNIQUE = {
    "ux_device_type_code": "device_type (hospital, code)",
    "ux_body_part_code": "body_part (hospital, code)",
    "ux_check_item_code": "check_item (hospital, code)",
}
INDEXES = {"ix_diagnosis_request_target": "diagnosis_request (target_hospital, state, examination)"}


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    for name, on in UNIQUE.items():
        manager.add_raw(ddl(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {on}"))
        manager.add_raw_backwards(ddl(f"DROP INDEX IF EXISTS {name}"))
    for name, on in INDEXES.items():
        manager.add_raw(ddl(f"CREATE INDEX IF NOT EXISTS {name} ON {on}"))
        manager.add_raw_backwards(ddl(f"DROP INDEX IF EXISTS {name}"))
    return manager
