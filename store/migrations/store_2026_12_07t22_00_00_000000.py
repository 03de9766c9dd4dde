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

3. **Statistics rollups** (issue 17 point 1, SPEC 6): ``stat_day`` and ``stat_turnaround``
   (``store/tables/statistics.py``), Piccolo's DDL frozen, each with a unique index over its
   key, and the triggers that keep them in the transaction of every insert, update and
   delete of ``examination``, ``diagnosis_request``, ``consultation`` and ``exam_report``
   (on PostgreSQL an examination's inserts and deletes per statement, grouped from its
   transition table, so that a bulk import is one upsert per rollup row).
   The day is the hospital's local one: on PostgreSQL ``AT TIME ZONE`` the hospital's zone
   (daylight saving included); on SQLite, which has no zone data, the zone's fixed offset
   from ``STAT_ZONES`` (the zones of China and its neighbours, none with daylight saving;
   any other zone counts at UTC+8, the default zone's). A report's minutes to its initial
   report and to its review fall into the buckets of ``STAT_BUCKETS`` (upper bounds in
   minutes, the minutes rounded to two decimals; the last bucket is open), the ones
   ``api.statistics.service`` reads. The rows already there are counted by the same
   rules (``_backfill``) before the triggers are made.

4. **Recordings** (issue 16 point 3): ``recording`` (``RECORDINGS``), a video uploaded with
   tus and processed into a stream-friendly MP4 with a poster, owned by a course (or another
   owner kind): Piccolo's DDL of ``store/tables/recordings.py``, frozen.
5. **Teaching** (issue 16 points 2, 4–7): ``course`` (a live course of a lecturer's
   hospital, its machine state, premium flag, recording), ``course_range`` (the departments
   and people who may see it) and ``learning_record`` (the merged watched intervals of one
   person and course) (``TEACHING``): Piccolo's DDL of ``store/tables/teaching.py``, frozen.
6. **The status chips' counts per statement** (PostgreSQL only): ``examination_count``'s
   row trigger for inserts and deletes (migration 2026-11-28T01:00) is replaced by two
   statement triggers that group the statement's transition table, as block 3 does for
   ``stat_day``. A row trigger's upsert of the same few rows (one per hospital and status)
   a hundred thousand times in one statement kept the bulk import of the examination-list
   and statistics benchmarks below 200 rows a second. Updates stay per row.

7. **The decode check after the acknowledgement** (issue 18, point 3): ingest no longer
   decodes pixels before it answers; the run's thumbnail step decodes each new instance's
   first and last frame and records the outcome. ``instance.decode_state`` (``pending`` |
   ``ok`` | ``undecodable``; the rows already there passed the decode check at ingest, so
   ``ok``), ``instance.decode_error`` (why it cannot be decoded) and
   ``study.undecodable`` (how many of the study's current instances cannot be decoded).
   Piccolo's ``ADD COLUMN``, frozen (``UNDECODABLE``); backwards drops the three columns.
8. **DICOM nodes for query/retrieve** (issue 19, point 2): ``dicom_node.port`` (where the
   node's own SCP listens, the C-MOVE destination; 0: none) and its permissions
   ``may_store`` (the nodes already there keep sending: true), ``may_query``,
   ``may_retrieve`` and ``move_destination`` (false until an admin grants them).
   Piccolo's ``ADD COLUMN``, frozen (``DICOM_NODE_QR``); backwards drops the five columns.

Written while none of it had run anywhere but in tests.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.sqlite import SQLiteEngine

from store.db import ddl, ddl_script, engine

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


# 1. Statistics rollups ---------------------------------------------------------------------
STATISTICS = """
CREATE TABLE "stat_day" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER NOT NULL DEFAULT 0,
    "kind" VARCHAR(12) NOT NULL DEFAULT '',
    "day" VARCHAR(10) NOT NULL DEFAULT '',
    "department" INTEGER NOT NULL DEFAULT 0,
    "device_type" VARCHAR(16) NOT NULL DEFAULT '',
    "n" BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_stat_day ON stat_day (hospital, kind, day, department, device_type);
CREATE TABLE "stat_turnaround" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER NOT NULL DEFAULT 0,
    "stage" VARCHAR(12) NOT NULL DEFAULT '',
    "day" VARCHAR(10) NOT NULL DEFAULT '',
    "doctor" INTEGER NOT NULL DEFAULT 0,
    "bucket" INTEGER NOT NULL DEFAULT 0,
    "n" BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX ux_stat_turnaround ON stat_turnaround (hospital, stage, day, doctor, bucket);
"""
STAT_ZONES = {
    "Asia/Shanghai": 480,
    "Asia/Chongqing": 480,
    "Asia/Harbin": 480,
    "Asia/Hong_Kong": 480,
    "Asia/Macau": 480,
    "Asia/Taipei": 480,
    "Asia/Singapore": 480,
    "Asia/Urumqi": 360,
    "Asia/Kashgar": 360,
    "Asia/Tokyo": 540,
    "Asia/Seoul": 540,
    "UTC": 0,
    "Etc/UTC": 0,
}
STAT_BUCKETS = (
    5,
    10,
    15,
    20,
    30,
    45,
    60,
    90,
    120,
    180,
    240,
    360,
    480,
    720,
    1080,
    1440,
    2160,
    2880,
    4320,
    7200,
    10080,
    20160,
    43200,
)


def _bucket(minutes: str) -> str:
    cases = " ".join(f"WHEN {minutes} <= {b} THEN {i}" for i, b in enumerate(STAT_BUCKETS))
    return f"CASE {cases} ELSE {len(STAT_BUCKETS)} END"


def _sqlite_day(ts: str, hospital: str) -> str:
    zones = " ".join(f"WHEN '{z}' THEN '{m:+d} minutes'" for z, m in STAT_ZONES.items())
    shift = f"(SELECT CASE h.time_zone {zones} END FROM hospital h WHERE h.id = {hospital})"
    return f"date({ts}, COALESCE({shift}, '+480 minutes'))"


def _sqlite_add(h: str, kind: str, day: str, dept: str, dev: str, when: str = "1") -> str:
    return (
        "INSERT INTO stat_day (hospital, kind, day, department, device_type, n) "
        f"SELECT {h}, '{kind}', {day}, {dept}, {dev}, 1 WHERE {when} "
        "ON CONFLICT (hospital, kind, day, department, device_type) DO UPDATE SET n = n + 1;"
    )


def _sqlite_sub(h: str, kind: str, day: str, dept: str, dev: str, when: str = "1") -> str:
    return (
        f"UPDATE stat_day SET n = n - 1 WHERE {when} AND hospital = {h} AND kind = '{kind}' "
        f"AND day = {day} AND department = {dept} AND device_type = {dev};"
    )


def _sqlite_exam(row: str) -> tuple[str, str, str, str]:
    return (
        f"{row}.hospital",
        _sqlite_day(f"{row}.exam_time", f"{row}.hospital"),
        f"COALESCE({row}.department, 0)",
        f"{row}.device_type",
    )


def _sqlite_case(row: str, hospital: str, kind: str) -> tuple[str, str, str, str, str]:
    h = f"{row}.{hospital}"
    return (h, kind, _sqlite_day(f"{row}.created_at", h), "0", "''")


def _sqlite_tat(row: str, stage: str, at: str, doctor: str, sign: str) -> str:
    minutes = (
        f"round((julianday({row}.{at}) - julianday((SELECT e.exam_time FROM examination e "
        f"WHERE e.id = {row}.examination))) * 1440.0, 2)"
    )
    day = _sqlite_day(f"{row}.{at}", f"{row}.hospital")
    key = f"{row}.hospital, '{stage}', {day}, COALESCE({row}.{doctor}, 0), {_bucket(minutes)}"
    if sign == "+":
        return (
            "INSERT INTO stat_turnaround (hospital, stage, day, doctor, bucket, n) "
            f"SELECT {key}, 1 WHERE {row}.{at} IS NOT NULL "
            "ON CONFLICT (hospital, stage, day, doctor, bucket) DO UPDATE SET n = n + 1;"
        )
    return (
        f"UPDATE stat_turnaround SET n = n - 1 WHERE {row}.{at} IS NOT NULL AND "
        f"(hospital, stage, day, doctor, bucket) = (SELECT {key});"
    )


def _sqlite_statistics() -> list[str]:
    exam_changed = (
        "OLD.hospital IS NOT NEW.hospital OR OLD.exam_time IS NOT NEW.exam_time "
        "OR OLD.department IS NOT NEW.department OR OLD.device_type IS NOT NEW.device_type "
        "OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL)"
    )
    cases = [
        ("diagnosis_request", "remote", "target_hospital"),
        ("diagnosis_request", "sent", "hospital"),
        ("consultation", "consult", "hospital"),
    ]
    sql = [
        "CREATE TRIGGER stat_exam_insert AFTER INSERT ON examination "
        "WHEN NEW.deleted_at IS NULL BEGIN "
        f"{_sqlite_add(*_sqlite_exam('NEW')[:1], 'exam', *_sqlite_exam('NEW')[1:])} END",
        "CREATE TRIGGER stat_exam_delete AFTER DELETE ON examination "
        "WHEN OLD.deleted_at IS NULL BEGIN "
        f"{_sqlite_sub(*_sqlite_exam('OLD')[:1], 'exam', *_sqlite_exam('OLD')[1:])} END",
        "CREATE TRIGGER stat_exam_update "
        "AFTER UPDATE OF hospital, exam_time, department, device_type, deleted_at "
        f"ON examination WHEN {exam_changed} BEGIN "
        + _sqlite_sub(
            *_sqlite_exam("OLD")[:1], "exam", *_sqlite_exam("OLD")[1:], "OLD.deleted_at IS NULL"
        )
        + " "
        + _sqlite_add(
            *_sqlite_exam("NEW")[:1], "exam", *_sqlite_exam("NEW")[1:], "NEW.deleted_at IS NULL"
        )
        + " END",
    ]
    for table, kind, column in cases:
        name = f"stat_{kind}"
        sql += [
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON {table} BEGIN "
            f"{_sqlite_add(*_sqlite_case('NEW', column, kind))} END",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON {table} BEGIN "
            f"{_sqlite_sub(*_sqlite_case('OLD', column, kind))} END",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF {column}, created_at ON {table} "
            f"WHEN OLD.{column} IS NOT NEW.{column} OR OLD.created_at IS NOT NEW.created_at "
            f"BEGIN {_sqlite_sub(*_sqlite_case('OLD', column, kind))} "
            f"{_sqlite_add(*_sqlite_case('NEW', column, kind))} END",
        ]
    for stage, at, doctor in (
        ("initial", "initial_at", "initial_by"),
        ("reviewed", "reviewed_at", "reviewer"),
    ):
        name = f"stat_tat_{stage}"
        sql += [
            f"CREATE TRIGGER {name}_insert AFTER INSERT ON exam_report BEGIN "
            f"{_sqlite_tat('NEW', stage, at, doctor, '+')} END",
            f"CREATE TRIGGER {name}_delete AFTER DELETE ON exam_report BEGIN "
            f"{_sqlite_tat('OLD', stage, at, doctor, '-')} END",
            f"CREATE TRIGGER {name}_update AFTER UPDATE OF hospital, {at}, {doctor} "
            f"ON exam_report WHEN OLD.hospital IS NOT NEW.hospital OR OLD.{at} IS NOT NEW.{at} "
            f"OR OLD.{doctor} IS NOT NEW.{doctor} BEGIN "
            f"{_sqlite_tat('OLD', stage, at, doctor, '-')} "
            f"{_sqlite_tat('NEW', stage, at, doctor, '+')} END",
        ]
    return sql


STAT_TRIGGERS_SQLITE = [
    f"stat_{k}_{op}"
    for k in ("exam", "remote", "sent", "consult", "tat_initial", "tat_reviewed")
    for op in ("insert", "delete", "update")
]

POSTGRES_STATISTICS = [
    """CREATE OR REPLACE FUNCTION stat_local_day(ts timestamptz, hosp integer) RETURNS varchar
AS $$
  SELECT to_char(ts AT TIME ZONE COALESCE(
    (SELECT time_zone FROM hospital WHERE id = hosp), 'Asia/Shanghai'), 'YYYY-MM-DD')
$$ LANGUAGE sql STABLE""",
    """CREATE OR REPLACE FUNCTION stat_day_add(h integer, k varchar, d varchar, dep integer,
  dev varchar, delta integer) RETURNS void AS $$
BEGIN
  IF delta > 0 THEN
    INSERT INTO stat_day (hospital, kind, day, department, device_type, n)
    VALUES (h, k, d, dep, dev, delta)
    ON CONFLICT (hospital, kind, day, department, device_type)
    DO UPDATE SET n = stat_day.n + delta;
  ELSE
    UPDATE stat_day SET n = n + delta WHERE hospital = h AND kind = k AND day = d
      AND department = dep AND device_type = dev;
  END IF;
END $$ LANGUAGE plpgsql""",
    f"""CREATE OR REPLACE FUNCTION stat_tat_add(h integer, st varchar, e integer,
  at timestamptz, doc integer, delta integer) RETURNS void AS $$
DECLARE minutes numeric; b integer; d varchar;
BEGIN
  IF at IS NULL THEN RETURN; END IF;
  SELECT round(extract(epoch FROM (at - exam_time)) / 60.0, 2) INTO minutes
    FROM examination WHERE id = e;
  b := {_bucket("minutes")};
  d := stat_local_day(at, h);
  IF delta > 0 THEN
    INSERT INTO stat_turnaround (hospital, stage, day, doctor, bucket, n)
    VALUES (h, st, d, COALESCE(doc, 0), b, delta)
    ON CONFLICT (hospital, stage, day, doctor, bucket)
    DO UPDATE SET n = stat_turnaround.n + delta;
  ELSE
    UPDATE stat_turnaround SET n = n + delta WHERE hospital = h AND stage = st AND day = d
      AND doctor = COALESCE(doc, 0) AND bucket = b;
  END IF;
END $$ LANGUAGE plpgsql""",
    """CREATE OR REPLACE FUNCTION stat_exam_trigger() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.deleted_at IS NULL THEN
    PERFORM stat_day_add(OLD.hospital, 'exam', stat_local_day(OLD.exam_time, OLD.hospital),
      COALESCE(OLD.department, 0), OLD.device_type, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.deleted_at IS NULL THEN
    PERFORM stat_day_add(NEW.hospital, 'exam', stat_local_day(NEW.exam_time, NEW.hospital),
      COALESCE(NEW.department, 0), NEW.device_type, 1);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    # Inserts and deletes of examinations count per statement, from its transition table:
    # a bulk import of 100,000 rows is one grouped upsert, where a row trigger's upsert of
    # the same few stat_day rows again and again slowed to about 170 rows a second.
    """CREATE OR REPLACE FUNCTION stat_exam_rows() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO stat_day (hospital, kind, day, department, device_type, n)
    SELECT hospital, 'exam', stat_local_day(exam_time, hospital), COALESCE(department, 0),
      device_type, count(*) FROM new_rows WHERE deleted_at IS NULL GROUP BY 1, 3, 4, 5
    ON CONFLICT (hospital, kind, day, department, device_type)
    DO UPDATE SET n = stat_day.n + EXCLUDED.n;
  ELSE
    UPDATE stat_day s SET n = s.n - d.c
    FROM (SELECT hospital, stat_local_day(exam_time, hospital) AS day,
            COALESCE(department, 0) AS dep, device_type AS dev, count(*) AS c
          FROM old_rows WHERE deleted_at IS NULL GROUP BY 1, 2, 3, 4) d
    WHERE s.hospital = d.hospital AND s.kind = 'exam' AND s.day = d.day
      AND s.department = d.dep AND s.device_type = d.dev;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER stat_exam_insert AFTER INSERT ON examination
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stat_exam_rows()""",
    """CREATE TRIGGER stat_exam_delete AFTER DELETE ON examination
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stat_exam_rows()""",
    """CREATE TRIGGER stat_exam_update
  AFTER UPDATE OF hospital, exam_time, department, device_type, deleted_at ON examination
  FOR EACH ROW WHEN (OLD.hospital IS DISTINCT FROM NEW.hospital
    OR OLD.exam_time IS DISTINCT FROM NEW.exam_time
    OR OLD.department IS DISTINCT FROM NEW.department
    OR OLD.device_type IS DISTINCT FROM NEW.device_type
    OR (OLD.deleted_at IS NULL) <> (NEW.deleted_at IS NULL))
  EXECUTE FUNCTION stat_exam_trigger()""",
    """CREATE OR REPLACE FUNCTION stat_request_trigger() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM stat_day_add(OLD.target_hospital, 'remote',
      stat_local_day(OLD.created_at, OLD.target_hospital), 0, '', -1);
    PERFORM stat_day_add(OLD.hospital, 'sent', stat_local_day(OLD.created_at, OLD.hospital),
      0, '', -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM stat_day_add(NEW.target_hospital, 'remote',
      stat_local_day(NEW.created_at, NEW.target_hospital), 0, '', 1);
    PERFORM stat_day_add(NEW.hospital, 'sent', stat_local_day(NEW.created_at, NEW.hospital),
      0, '', 1);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER stat_request_insert_delete AFTER INSERT OR DELETE ON diagnosis_request
  FOR EACH ROW EXECUTE FUNCTION stat_request_trigger()""",
    """CREATE TRIGGER stat_request_update
  AFTER UPDATE OF hospital, target_hospital, created_at ON diagnosis_request
  FOR EACH ROW WHEN (OLD.hospital IS DISTINCT FROM NEW.hospital
    OR OLD.target_hospital IS DISTINCT FROM NEW.target_hospital
    OR OLD.created_at IS DISTINCT FROM NEW.created_at)
  EXECUTE FUNCTION stat_request_trigger()""",
    """CREATE OR REPLACE FUNCTION stat_consult_trigger() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM stat_day_add(OLD.hospital, 'consult', stat_local_day(OLD.created_at, OLD.hospital),
      0, '', -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM stat_day_add(NEW.hospital, 'consult', stat_local_day(NEW.created_at, NEW.hospital),
      0, '', 1);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER stat_consult_insert_delete AFTER INSERT OR DELETE ON consultation
  FOR EACH ROW EXECUTE FUNCTION stat_consult_trigger()""",
    """CREATE TRIGGER stat_consult_update AFTER UPDATE OF hospital, created_at ON consultation
  FOR EACH ROW WHEN (OLD.hospital IS DISTINCT FROM NEW.hospital
    OR OLD.created_at IS DISTINCT FROM NEW.created_at)
  EXECUTE FUNCTION stat_consult_trigger()""",
    """CREATE OR REPLACE FUNCTION stat_tat_trigger() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    PERFORM stat_tat_add(OLD.hospital, 'initial', OLD.examination, OLD.initial_at,
      OLD.initial_by, -1);
    PERFORM stat_tat_add(OLD.hospital, 'reviewed', OLD.examination, OLD.reviewed_at,
      OLD.reviewer, -1);
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    PERFORM stat_tat_add(NEW.hospital, 'initial', NEW.examination, NEW.initial_at,
      NEW.initial_by, 1);
    PERFORM stat_tat_add(NEW.hospital, 'reviewed', NEW.examination, NEW.reviewed_at,
      NEW.reviewer, 1);
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER stat_tat_insert_delete AFTER INSERT OR DELETE ON exam_report
  FOR EACH ROW EXECUTE FUNCTION stat_tat_trigger()""",
    """CREATE TRIGGER stat_tat_update
  AFTER UPDATE OF hospital, initial_at, initial_by, reviewed_at, reviewer ON exam_report
  FOR EACH ROW WHEN (OLD.hospital IS DISTINCT FROM NEW.hospital
    OR OLD.initial_at IS DISTINCT FROM NEW.initial_at
    OR OLD.initial_by IS DISTINCT FROM NEW.initial_by
    OR OLD.reviewed_at IS DISTINCT FROM NEW.reviewed_at
    OR OLD.reviewer IS DISTINCT FROM NEW.reviewer)
  EXECUTE FUNCTION stat_tat_trigger()""",
]
POSTGRES_STATISTICS_DROP = [
    "DROP TRIGGER IF EXISTS stat_exam_insert ON examination",
    "DROP TRIGGER IF EXISTS stat_exam_delete ON examination",
    "DROP TRIGGER IF EXISTS stat_exam_update ON examination",
    "DROP TRIGGER IF EXISTS stat_request_insert_delete ON diagnosis_request",
    "DROP TRIGGER IF EXISTS stat_request_update ON diagnosis_request",
    "DROP TRIGGER IF EXISTS stat_consult_insert_delete ON consultation",
    "DROP TRIGGER IF EXISTS stat_consult_update ON consultation",
    "DROP TRIGGER IF EXISTS stat_tat_insert_delete ON exam_report",
    "DROP TRIGGER IF EXISTS stat_tat_update ON exam_report",
    "DROP FUNCTION IF EXISTS stat_exam_trigger()",
    "DROP FUNCTION IF EXISTS stat_exam_rows()",
    "DROP FUNCTION IF EXISTS stat_request_trigger()",
    "DROP FUNCTION IF EXISTS stat_consult_trigger()",
    "DROP FUNCTION IF EXISTS stat_tat_trigger()",
    "DROP FUNCTION IF EXISTS stat_tat_add(integer, varchar, integer, timestamptz, integer, "
    "integer)",
    "DROP FUNCTION IF EXISTS stat_day_add(integer, varchar, varchar, integer, varchar, integer)",
    "DROP FUNCTION IF EXISTS stat_local_day(timestamptz, integer)",
]


def _backfill(sqlite: bool) -> list[str]:
    """The rollups of the rows already there (a database of an earlier version), by the
    same rules as the triggers, before they start counting."""

    def day(ts: str, h: str) -> str:
        return _sqlite_day(ts, h) if sqlite else f"stat_local_day({ts}, {h})"

    def minutes(at: str) -> str:
        if sqlite:
            return f"round((julianday({at}) - julianday(e.exam_time)) * 1440.0, 2)"
        return f"round(extract(epoch FROM ({at} - e.exam_time)) / 60.0, 2)"

    into = "INSERT INTO stat_day (hospital, kind, day, department, device_type, n) "
    sql = [
        into + f"SELECT e.hospital, 'exam', {day('e.exam_time', 'e.hospital')}, "
        "COALESCE(e.department, 0), e.device_type, COUNT(*) FROM examination e "
        "WHERE e.deleted_at IS NULL GROUP BY e.hospital, 3, 4, 5",
    ]
    for table, kind, column in (
        ("diagnosis_request", "remote", "target_hospital"),
        ("diagnosis_request", "sent", "hospital"),
        ("consultation", "consult", "hospital"),
    ):
        sql.append(
            into + f"SELECT r.{column}, '{kind}', {day('r.created_at', f'r.{column}')}, 0, '', "
            f"COUNT(*) FROM {table} r GROUP BY r.{column}, 3"
        )
    for stage, at, doctor in (
        ("initial", "initial_at", "initial_by"),
        ("reviewed", "reviewed_at", "reviewer"),
    ):
        sql.append(
            "INSERT INTO stat_turnaround (hospital, stage, day, doctor, bucket, n) "
            f"SELECT r.hospital, '{stage}', {day(f'r.{at}', 'r.hospital')}, "
            f"COALESCE(r.{doctor}, 0), {_bucket(minutes(f'r.{at}'))}, COUNT(*) "
            f"FROM exam_report r JOIN examination e ON e.id = r.examination "
            f"WHERE r.{at} IS NOT NULL GROUP BY r.hospital, 3, 4, 5"
        )
    return sql


async def statistics_triggers() -> None:
    db = engine()
    sqlite = isinstance(db, SQLiteEngine)
    functions, triggers = (
        ([], _sqlite_statistics()) if sqlite else (POSTGRES_STATISTICS[:3], POSTGRES_STATISTICS[3:])
    )
    for sql in [*functions, *_backfill(sqlite), *triggers]:
        await db.run_ddl(sql)


async def statistics_backwards() -> None:
    db = engine()
    sqlite = isinstance(db, SQLiteEngine)
    drops = (
        [f"DROP TRIGGER IF EXISTS {t}" for t in STAT_TRIGGERS_SQLITE]
        if sqlite
        else POSTGRES_STATISTICS_DROP
    )
    for sql in [
        *drops,
        'DROP TABLE IF EXISTS "stat_turnaround"',
        'DROP TABLE IF EXISTS "stat_day"',
    ]:
        await db.run_ddl(sql)


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


COUNT_PER_STATEMENT = [
    "DROP TRIGGER IF EXISTS examination_count_insert_delete ON examination",
    """CREATE OR REPLACE FUNCTION examination_count_rows() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO examination_count (hospital, status, n)
    SELECT hospital, status, count(*) FROM new_rows WHERE deleted_at IS NULL GROUP BY 1, 2
    ON CONFLICT (hospital, status) DO UPDATE SET n = examination_count.n + EXCLUDED.n;
  ELSE
    UPDATE examination_count c SET n = c.n - d.k
    FROM (SELECT hospital, status, count(*) AS k FROM old_rows WHERE deleted_at IS NULL
          GROUP BY 1, 2) d
    WHERE c.hospital = d.hospital AND c.status = d.status;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER examination_count_insert AFTER INSERT ON examination
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION examination_count_rows()""",
    """CREATE TRIGGER examination_count_delete AFTER DELETE ON examination
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION examination_count_rows()""",
]
COUNT_PER_ROW_AGAIN = [
    "DROP TRIGGER IF EXISTS examination_count_insert ON examination",
    "DROP TRIGGER IF EXISTS examination_count_delete ON examination",
    "DROP FUNCTION IF EXISTS examination_count_rows()",
    """CREATE TRIGGER examination_count_insert_delete AFTER INSERT OR DELETE ON examination
  FOR EACH ROW EXECUTE FUNCTION examination_count_trigger()""",
]


UNDECODABLE = """
ALTER TABLE "instance" ADD COLUMN "decode_state" VARCHAR(12) NOT NULL DEFAULT 'ok';
ALTER TABLE "instance" ADD COLUMN "decode_error" TEXT NOT NULL DEFAULT '';
ALTER TABLE "study" ADD COLUMN "undecodable" INTEGER NOT NULL DEFAULT 0;
"""
UNDECODABLE_BACKWARDS = """
ALTER TABLE "study" DROP COLUMN "undecodable";
ALTER TABLE "instance" DROP COLUMN "decode_error";
ALTER TABLE "instance" DROP COLUMN "decode_state";
"""
DICOM_NODE_QR = """
ALTER TABLE "dicom_node" ADD COLUMN "port" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "dicom_node" ADD COLUMN "may_store" BOOLEAN NOT NULL DEFAULT true;
ALTER TABLE "dicom_node" ADD COLUMN "may_query" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "dicom_node" ADD COLUMN "may_retrieve" BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE "dicom_node" ADD COLUMN "move_destination" BOOLEAN NOT NULL DEFAULT false;
"""
DICOM_NODE_QR_BACKWARDS = """
ALTER TABLE "dicom_node" DROP COLUMN "move_destination";
ALTER TABLE "dicom_node" DROP COLUMN "may_retrieve";
ALTER TABLE "dicom_node" DROP COLUMN "may_query";
ALTER TABLE "dicom_node" DROP COLUMN "may_store";
ALTER TABLE "dicom_node" DROP COLUMN "port";
"""


def _postgres_only(statements: list[str]):  # type: ignore[no-untyped-def]
    async def run() -> None:
        db = engine()
        if isinstance(db, SQLiteEngine):
            return
        for sql in statements:
            await db.run_ddl(sql)

    return run


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(WARD_ROUNDS))
    for table in WARD_ROUND_TABLES:
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    manager.add_raw(ddl_script(QUALITY))
    for table in QUALITY_TABLES:
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    manager.add_raw(ddl_script(STATISTICS))
    manager.add_raw(statistics_triggers)
    manager.add_raw_backwards(statistics_backwards)
    manager.add_raw(ddl_script(RECORDINGS))
    manager.add_raw_backwards(ddl('DROP TABLE IF EXISTS "recording"'))
    manager.add_raw(ddl_script(TEACHING))
    for table in ("learning_record", "course_range", "course"):
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    manager.add_raw(_postgres_only(COUNT_PER_STATEMENT))
    manager.add_raw_backwards(_postgres_only(COUNT_PER_ROW_AGAIN))
    manager.add_raw(ddl_script(UNDECODABLE))
    manager.add_raw_backwards(ddl_script(UNDECODABLE_BACKWARDS))
    manager.add_raw(ddl_script(DICOM_NODE_QR))
    manager.add_raw_backwards(ddl_script(DICOM_NODE_QR_BACKWARDS))
    return manager
