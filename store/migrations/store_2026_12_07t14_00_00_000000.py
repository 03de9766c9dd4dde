# ruff: noqa: E501  (Piccolo's SQL, one column a line, verbatim)
"""The patient realm's identity (issue 15): ``patient_account`` and ``patient_person``.

Piccolo's DDL for the two tables of ``store/tables/patients.py`` (``python -m store.ddl``),
frozen; plus what Piccolo cannot declare: a verified national ID number belongs to one live
person only, a unique index over the rows not removed (partial indexes: SQLite ≥ 3.8,
PostgreSQL alike).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl, ddl_script

ID = "2026-12-07T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "patient accounts and persons"

TABLES = """
CREATE TABLE "patient_account" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "phone" VARCHAR(20) UNIQUE NOT NULL DEFAULT '',
    "display_name" VARCHAR(100) NOT NULL DEFAULT '',
    "wechat_openid" VARCHAR(64) NOT NULL DEFAULT '',
    "notify_opt_out" BOOLEAN NOT NULL DEFAULT false,
    "language" VARCHAR(8) NOT NULL DEFAULT 'zh',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "last_login_at" TIMESTAMPTZ DEFAULT null,
    "version" INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE "patient_person" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "account" INTEGER REFERENCES "patient_account" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "relationship" VARCHAR(16) NOT NULL DEFAULT '',
    "name" VARCHAR(100) NOT NULL DEFAULT '',
    "id_number" VARCHAR(18) NOT NULL DEFAULT '',
    "birth_date" DATE DEFAULT null,
    "sex" VARCHAR(1) NOT NULL DEFAULT '',
    "verified_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "removed_at" TIMESTAMPTZ DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX patient_person_account ON "patient_person" ("account");
CREATE INDEX patient_person_id_number ON "patient_person" ("id_number");
CREATE UNIQUE INDEX ux_patient_person_live_id_number ON "patient_person" ("id_number") WHERE "removed_at" IS NULL;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(TABLES))
    for table in ("patient_person", "patient_account"):
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    return manager
