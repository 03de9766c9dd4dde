# ruff: noqa: E501  (Piccolo's SQL, one column a line, verbatim)
"""The patient realm's login (issue 15): ``patient_session`` and ``patient_code``.

Piccolo's DDL for the two tables of ``store/tables/patients.py`` (``python -m store.ddl``),
frozen: a patient's session is its own table, never a staff ``app_session``; a text-message
code is kept hashed, per phone.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl, ddl_script

ID = "2026-12-07T14:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "patient sessions and login codes"

TABLES = """
CREATE TABLE "patient_session" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "token_hash" VARCHAR(64) UNIQUE NOT NULL DEFAULT '',
    "account" INTEGER REFERENCES "patient_account" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "last_seen_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "ip" VARCHAR(64) NOT NULL DEFAULT '',
    "user_agent" VARCHAR(300) NOT NULL DEFAULT '',
    "wechat_state" VARCHAR(64) NOT NULL DEFAULT '',
    "revoked" BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX patient_session_account ON "patient_session" ("account");

CREATE TABLE "patient_code" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "phone" VARCHAR(20) NOT NULL DEFAULT '',
    "code_hash" VARCHAR(200) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "tries" INTEGER NOT NULL DEFAULT 0,
    "used" BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX patient_code_phone ON "patient_code" ("phone");
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(TABLES))
    for table in ("patient_code", "patient_session"):
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    return manager
