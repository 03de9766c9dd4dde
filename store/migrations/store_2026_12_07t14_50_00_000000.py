# ruff: noqa: E501  (Piccolo's SQL, one column a line, verbatim)
"""The patient archive's cloud film (issue 15): ``cloud_film_rule`` and ``patient_match``.

Piccolo's DDL for the two tables of ``store/tables/patients.py`` (``python -m store.ddl``),
frozen; plus what Piccolo cannot declare: one live match per (person, examination), a unique
index over the rows not un-matched.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl, ddl_script

ID = "2026-12-07T14:50:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "cloud-film rules and patient matches"

TABLES = """
CREATE TABLE "cloud_film_rule" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER UNIQUE REFERENCES "hospital" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "enabled" BOOLEAN NOT NULL DEFAULT false,
    "visible_when" VARCHAR(16) NOT NULL DEFAULT 'after_review',
    "visible_hours" INTEGER NOT NULL DEFAULT 0,
    "match_by_phone" BOOLEAN NOT NULL DEFAULT false,
    "allow_download" BOOLEAN NOT NULL DEFAULT false,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE "patient_match" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "person" INTEGER REFERENCES "patient_person" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "how" VARCHAR(12) NOT NULL DEFAULT '',
    "matched_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "visible_at" TIMESTAMPTZ DEFAULT null,
    "notified_at" TIMESTAMPTZ DEFAULT null,
    "unmatched_at" TIMESTAMPTZ DEFAULT null,
    "unmatch_reason" VARCHAR(200) NOT NULL DEFAULT ''
);
CREATE INDEX patient_match_hospital ON "patient_match" ("hospital");
CREATE INDEX patient_match_person ON "patient_match" ("person");
CREATE INDEX patient_match_examination ON "patient_match" ("examination");
CREATE UNIQUE INDEX ux_patient_match_live ON "patient_match" ("person", "examination") WHERE "unmatched_at" IS NULL;
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(TABLES))
    for table in ("patient_match", "cloud_film_rule"):
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    return manager
