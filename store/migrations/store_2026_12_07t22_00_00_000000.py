# ruff: noqa: E501  (Piccolo's SQL, one column a line, verbatim)
"""Issue 16 and 17's schema, one step: ward rounds, teaching and its recordings, statistics
rollups and quality control.

Each area is one named block below (its DDL frozen from ``python -m store.ddl``), added to
``forwards`` in this order, and its tables dropped backwards in reverse:

1. **Ward rounds** (issue 16, SPEC 4): ``ward_round``, ``ward_round_expert`` (one row per
   invited expert, with his opinion; unique (ward_round, expert)),
   ``ward_round_examination`` (unique (ward_round, examination)) and
   ``ward_round_record_version``: Piccolo's DDL of ``store/tables/ward_rounds.py``
   (``python -m store.ddl``), frozen (``WARD_ROUNDS``), plus the two unique indexes.

2. **Quality control** (issue 17, SPEC 7): ``qc_task`` (a QC task, a case on the engine:
   criteria, sample size or percentage, evaluators, arbitrator, the sample's seed and
   population), ``qc_case`` (one sampled examination, its evaluator, scores, RADPEER and the
   arbitration beside it) and ``qc_series_grade`` (the image grade of one series). Written
   as PostgreSQL spells it (``store.db.ddl_script`` spells the types for SQLite).

Written while none of it had run anywhere but in tests.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl, ddl_script

ID = "2026-12-07T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ward rounds; teaching and recordings; statistics rollups; quality control"

WARD_ROUNDS = """
CREATE TABLE "ward_round" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "applicant" INTEGER REFERENCES "app_user" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "topic" VARCHAR(200) NOT NULL DEFAULT '',
    "scheduled_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "summary" TEXT NOT NULL DEFAULT '',
    "patient_name" VARCHAR(100) NOT NULL DEFAULT '',
    "patient_id_number" VARCHAR(32) NOT NULL DEFAULT '',
    "patient_his_number" VARCHAR(64) NOT NULL DEFAULT '',
    "state" VARCHAR(20) NOT NULL DEFAULT 'scheduled',
    "version" INTEGER NOT NULL DEFAULT 1,
    "meeting_url" VARCHAR(500) NOT NULL DEFAULT '',
    "conclusion" TEXT NOT NULL DEFAULT '',
    "record_version" INTEGER NOT NULL DEFAULT 0,
    "started_at" TIMESTAMPTZ DEFAULT null,
    "finished_at" TIMESTAMPTZ DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX ward_round_hospital ON "ward_round" ("hospital");
CREATE INDEX ward_round_scheduled_at ON "ward_round" ("scheduled_at");
CREATE INDEX ward_round_state ON "ward_round" ("state");
CREATE TABLE "ward_round_expert" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "ward_round" INTEGER REFERENCES "ward_round" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "expert" INTEGER REFERENCES "app_user" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "opinion" TEXT NOT NULL DEFAULT '',
    "opinion_at" TIMESTAMPTZ DEFAULT null
);
CREATE INDEX ward_round_expert_ward_round ON "ward_round_expert" ("ward_round");
CREATE INDEX ward_round_expert_expert ON "ward_round_expert" ("expert");
CREATE TABLE "ward_round_examination" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "ward_round" INTEGER REFERENCES "ward_round" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "added_by" INTEGER REFERENCES "app_user" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "added_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX ward_round_examination_ward_round ON "ward_round_examination" ("ward_round");
CREATE INDEX ward_round_examination_examination ON "ward_round_examination" ("examination");
CREATE TABLE "ward_round_record_version" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "ward_round" INTEGER REFERENCES "ward_round" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "version" INTEGER NOT NULL DEFAULT 0,
    "conclusion" TEXT NOT NULL DEFAULT '',
    "opinions" JSON NOT NULL DEFAULT '{}',
    "author" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX ward_round_record_version_ward_round ON "ward_round_record_version" ("ward_round");
CREATE UNIQUE INDEX ux_ward_round_expert ON "ward_round_expert" ("ward_round", "expert");
CREATE UNIQUE INDEX ux_ward_round_examination ON "ward_round_examination" ("ward_round", "examination");
"""
WARD_ROUND_TABLES = (
    "ward_round_record_version",
    "ward_round_examination",
    "ward_round_expert",
    "ward_round",
)
QUALITY = """
CREATE TABLE "qc_task" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "name" VARCHAR(200) NOT NULL DEFAULT '',
    "state" VARCHAR(16) NOT NULL DEFAULT 'draft',
    "version" INTEGER NOT NULL DEFAULT 1,
    "criteria" TEXT NOT NULL DEFAULT '{}',
    "sample_size" INTEGER DEFAULT null,
    "sample_percent" INTEGER DEFAULT null,
    "targets" TEXT NOT NULL DEFAULT '[]',
    "evaluators" TEXT NOT NULL DEFAULT '[]',
    "arbitrator" INTEGER DEFAULT null,
    "blind" BOOLEAN NOT NULL DEFAULT false,
    "seed" BIGINT DEFAULT null,
    "population" INTEGER DEFAULT null,
    "sampled" INTEGER NOT NULL DEFAULT 0,
    "note" TEXT NOT NULL DEFAULT '',
    "created_by" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX qc_task_hospital ON "qc_task" ("hospital");
CREATE INDEX qc_task_state ON "qc_task" ("state");

CREATE TABLE "qc_case" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "task" INTEGER REFERENCES "qc_task" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "position" INTEGER NOT NULL DEFAULT 0,
    "evaluator" INTEGER NOT NULL DEFAULT 0,
    "state" VARCHAR(16) NOT NULL DEFAULT 'pending',
    "version" INTEGER NOT NULL DEFAULT 1,
    "device_type" VARCHAR(16) NOT NULL DEFAULT '',
    "device_name" VARCHAR(100) NOT NULL DEFAULT '',
    "department" INTEGER DEFAULT null,
    "body_part" VARCHAR(64) NOT NULL DEFAULT '',
    "exam_time" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "initial_by" INTEGER DEFAULT null,
    "reviewer" INTEGER DEFAULT null,
    "initial_score" INTEGER DEFAULT null,
    "initial_comment" TEXT NOT NULL DEFAULT '',
    "review_score" INTEGER DEFAULT null,
    "review_comment" TEXT NOT NULL DEFAULT '',
    "radpeer" VARCHAR(4) NOT NULL DEFAULT '',
    "radpeer_comment" TEXT NOT NULL DEFAULT '',
    "evaluated_at" TIMESTAMPTZ DEFAULT null,
    "arbiter_radpeer" VARCHAR(4) NOT NULL DEFAULT '',
    "arbiter_comment" TEXT NOT NULL DEFAULT '',
    "arbitrated_by" INTEGER DEFAULT null,
    "arbitrated_at" TIMESTAMPTZ DEFAULT null
);
CREATE INDEX qc_case_hospital ON "qc_case" ("hospital");
CREATE INDEX qc_case_task ON "qc_case" ("task");
CREATE INDEX qc_case_examination ON "qc_case" ("examination");
CREATE INDEX qc_case_evaluator ON "qc_case" ("evaluator");
CREATE INDEX qc_case_state ON "qc_case" ("state");

CREATE TABLE "qc_series_grade" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "case" INTEGER REFERENCES "qc_case" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "series_uid" VARCHAR(64) NOT NULL DEFAULT '',
    "grade" VARCHAR(12) NOT NULL DEFAULT '',
    "reasons" TEXT NOT NULL DEFAULT ''
);
CREATE INDEX qc_series_grade_hospital ON "qc_series_grade" ("hospital");
CREATE INDEX qc_series_grade_case ON "qc_series_grade" ("case");
"""
QUALITY_TABLES = ("qc_series_grade", "qc_case", "qc_task")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(WARD_ROUNDS))
    for table in WARD_ROUND_TABLES:
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    manager.add_raw(ddl_script(QUALITY))
    for table in QUALITY_TABLES:
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    return manager
