# ruff: noqa: E501  (Piccolo's SQL, one column a line, verbatim)
"""The patient's share links (issue 15 point 6): ``patient_share`` and
``patient_share_session``.

Piccolo's DDL for the two tables of ``store/tables/patients.py`` (``python -m store.ddl``),
frozen.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl, ddl_script

ID = "2026-12-07T15:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "patient share links"

TABLES = """
CREATE TABLE "patient_share" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "account" INTEGER REFERENCES "patient_account" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "person" INTEGER REFERENCES "patient_person" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "token_hash" VARCHAR(64) UNIQUE NOT NULL DEFAULT '',
    "password_hash" VARCHAR(200) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "revoked_at" TIMESTAMPTZ DEFAULT null,
    "failures" INTEGER NOT NULL DEFAULT 0,
    "locked_at" TIMESTAMPTZ DEFAULT null,
    "openings" INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX patient_share_account ON "patient_share" ("account");
CREATE INDEX patient_share_examination ON "patient_share" ("examination");

CREATE TABLE "patient_share_session" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "share" INTEGER REFERENCES "patient_share" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "token_hash" VARCHAR(64) UNIQUE NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX patient_share_session_share ON "patient_share_session" ("share");
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(TABLES))
    for table in ("patient_share_session", "patient_share"):
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    return manager
