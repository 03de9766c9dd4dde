# ruff: noqa: E501  (Piccolo's SQL, one column a line, verbatim)
"""Issue 16 and 17's schema, one step: ward rounds, teaching and its recordings, statistics
rollups and quality control.

Each area is one named block below (its DDL frozen from ``python -m store.ddl``), added to
``forwards`` in this order, and its tables dropped backwards in reverse:

(the blocks are added by the work of issues 16 and 17)

1. **Recordings** (issue 16 point 3): ``recording`` (``RECORDINGS``), a video uploaded with
   tus and processed into a stream-friendly MP4 with a poster, owned by a course (or another
   owner kind): Piccolo's DDL of ``store/tables/recordings.py``, frozen.
2. **Teaching** (issue 16 points 2, 4–7): ``course`` (a live course of a lecturer's
   hospital, its machine state, premium flag, recording), ``course_range`` (the departments
   and people who may see it) and ``learning_record`` (the merged watched intervals of one
   person and course) (``TEACHING``): Piccolo's DDL of ``store/tables/teaching.py``, frozen.

Written while none of it had run anywhere but in tests.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from store.db import ddl, ddl_script

ID = "2026-12-07T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "ward rounds; teaching and recordings; statistics rollups; quality control"

RECORDINGS = """
CREATE TABLE "recording" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "owner_kind" VARCHAR(32) NOT NULL DEFAULT '',
    "owner_id" INTEGER NOT NULL DEFAULT 0,
    "uploader" INTEGER NOT NULL DEFAULT 0,
    "filename" VARCHAR(255) NOT NULL DEFAULT '',
    "declared_size" BIGINT NOT NULL DEFAULT 0,
    "received" BIGINT NOT NULL DEFAULT 0,
    "status" VARCHAR(12) NOT NULL DEFAULT 'uploading',
    "failure_reason" TEXT NOT NULL DEFAULT '',
    "duration_ms" INTEGER DEFAULT null,
    "width" INTEGER DEFAULT null,
    "height" INTEGER DEFAULT null,
    "video_codec" VARCHAR(32) NOT NULL DEFAULT '',
    "audio_codec" VARCHAR(32) NOT NULL DEFAULT '',
    "transcoded" BOOLEAN NOT NULL DEFAULT false,
    "stored_path" VARCHAR(200) NOT NULL DEFAULT '',
    "poster_path" VARCHAR(200) NOT NULL DEFAULT '',
    "stored_size" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "uploaded_at" TIMESTAMPTZ DEFAULT null,
    "ready_at" TIMESTAMPTZ DEFAULT null,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX recording_hospital ON "recording" ("hospital");
CREATE INDEX recording_owner_id ON "recording" ("owner_id");
CREATE INDEX recording_status ON "recording" ("status");
"""

TEACHING = """
CREATE TABLE "course" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "lecturer" INTEGER REFERENCES "app_user" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "topic" VARCHAR(200) NOT NULL DEFAULT '',
    "starts_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "ends_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "place" VARCHAR(200) NOT NULL DEFAULT '',
    "introduction" TEXT NOT NULL DEFAULT '',
    "recording_mode" VARCHAR(8) NOT NULL DEFAULT 'host',
    "meeting_url" VARCHAR(500) NOT NULL DEFAULT '',
    "state" VARCHAR(20) NOT NULL DEFAULT 'draft',
    "recording_id" INTEGER DEFAULT null,
    "duration_seconds" INTEGER DEFAULT null,
    "premium" BOOLEAN NOT NULL DEFAULT false,
    "premium_at" TIMESTAMPTZ DEFAULT null,
    "premium_by" INTEGER DEFAULT null,
    "version" INTEGER NOT NULL DEFAULT 1,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX course_hospital ON "course" ("hospital");
CREATE INDEX course_lecturer ON "course" ("lecturer");
CREATE INDEX course_state ON "course" ("state");
CREATE INDEX course_premium ON "course" ("premium");

CREATE TABLE "course_range" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "course" INTEGER REFERENCES "course" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "department" INTEGER REFERENCES "department" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null
);
CREATE INDEX course_range_course ON "course_range" ("course");

CREATE TABLE "learning_record" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "course" INTEGER REFERENCES "course" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "intervals" TEXT NOT NULL DEFAULT '[]',
    "watched_seconds" INTEGER NOT NULL DEFAULT 0,
    "progress_permille" INTEGER NOT NULL DEFAULT 0,
    "last_position" INTEGER NOT NULL DEFAULT 0,
    "last_beat_at" TIMESTAMPTZ DEFAULT null,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "finished_at" TIMESTAMPTZ DEFAULT null,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX learning_record_hospital ON "learning_record" ("hospital");
CREATE INDEX learning_record_course ON "learning_record" ("course");
CREATE INDEX learning_record_user ON "learning_record" ("user");
"""


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(RECORDINGS))
    manager.add_raw_backwards(ddl('DROP TABLE IF EXISTS "recording"'))
    manager.add_raw(ddl_script(TEACHING))
    for table in ("learning_record", "course_range", "course"):
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    return manager
