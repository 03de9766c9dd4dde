# ruff: noqa: E501  (Piccolo's SQL, one column a line, verbatim)
"""Issue 14 and 15's schema, one step: priorities, consultation examinations as a table, and
the patient realm with its archive.

1. **Priority** (issue 14.9): examinations, studies and remote diagnosis requests are routine
   (0), urgent (1) or emergency (2) (``kernel.priority``); a list preference keeps the row
   height (normal | compact). Piccolo's ``ADD COLUMN`` for the columns, frozen; then what
   Piccolo cannot declare:
   - ``(hospital, priority, exam_time, id)`` and ``(shared_with, priority, exam_time, id)``:
     the examination list's priority filter pages by them as the other filters by theirs
     (docs/benchmarks.md "Examination list"); the same, partial, over the urgent
     examinations that wait for their report (``ix_exam_*_waiting_urgent``): the "urgent
     first" section reads only those (its query names the index's condition in the same
     literal words, which SQLite needs to use a partial index);
   - ``(target_hospital, priority, id)`` and ``(hospital, priority, id)``: the incoming and
     outgoing diagnosis request lists, most urgent first, keyset by (priority, id);
   - the boolean ``diagnosis_request.urgent`` it replaces is carried over (urgent → 1) and
     dropped (SQLite ≥ 3.35 drops a column no index or trigger names; PostgreSQL alike).
2. **Consultation examinations** (issue 14.2): ``consultation_examination`` (unique
   (consultation, examination)) and ``case_history (case_type, case_id)``, the index every
   timeline read leans on; backfilled from the ``exam_attach`` / ``exam_detach`` timeline
   steps that were all there was before (a pair is attached when its last step is an attach:
   ``ROW_NUMBER`` over the pair, newest first, SQLite ≥ 3.25 and PostgreSQL alike, inserted
   in the order of those steps; a step naming a consultation or examination that is gone is
   left out); and the examinations of soft-deleted studies marked deleted too, with the
   study's time (SPEC 8.11: rows deleted before ``api.archive.deletion`` did both in one unit
   of work may have only the study marked).
3. **The patient realm** (issue 15): ``patient_account``, ``patient_person`` (a verified
   national ID number belongs to one live person: a unique index over the rows not removed),
   ``patient_session``, ``patient_code``, ``cloud_film_rule``, ``patient_match`` (one live
   match per (person, examination): a unique index over the rows not un-matched),
   ``patient_share`` and ``patient_share_session``: Piccolo's DDL of
   ``store/tables/patients.py`` (``python -m store.ddl``), frozen.
4. **Downloads** (issue 15 point 7): ``patient_download`` (``PATIENT_DOWNLOADS``), after the
   patient tables forwards and the first table dropped backwards.
5. **Staff phone numbers** (issue 14.7): a staff account's number is stored in one form
   (``kernel.phones.compact``: no spaces, dashes, dots or brackets; a mainland mobile number
   without ``+86`` / ``0086`` / ``86``), so "bound to another account" sees the same number
   typed another way. The rows stored as typed are brought to it by ``STAFF_PHONES``, the
   same rule in SQL (``replace``, ``substr``, ``length``: SQLite and PostgreSQL alike); of
   rows that would become one number, the oldest account's is compacted and the others are
   left as they are (the unique index forbids two; an administrator sees both).

Written while none of it had run anywhere but in tests: six steps of one day became this one.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.sqlite import SQLiteEngine

from store.db import ddl, ddl_script, engine

ID = "2026-12-07T14:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "priorities; consultation examinations; the patient realm and its archive"

PRIORITY = """
ALTER TABLE "study" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "examination" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "diagnosis_request" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0;
ALTER TABLE "list_preference" ADD COLUMN "density" VARCHAR(12) NOT NULL DEFAULT 'normal';
UPDATE diagnosis_request SET priority = 1 WHERE urgent = true;
ALTER TABLE "diagnosis_request" DROP COLUMN "urgent";
CREATE INDEX ix_exam_h_priority_time ON examination (hospital, priority, exam_time, id);
CREATE INDEX ix_exam_shared_priority_time ON examination (shared_with, priority, exam_time, id);
CREATE INDEX ix_exam_h_waiting_urgent ON examination (hospital, priority, exam_time, id) WHERE priority > 0 AND status IN ('images_arrived', 'report_draft', 'initial_report');
CREATE INDEX ix_exam_shared_waiting_urgent ON examination (shared_with, priority, exam_time, id) WHERE priority > 0 AND status IN ('images_arrived', 'report_draft', 'initial_report');
CREATE INDEX ix_diagnosis_request_target_priority ON diagnosis_request (target_hospital, priority, id);
CREATE INDEX ix_diagnosis_request_hospital_priority ON diagnosis_request (hospital, priority, id);
"""
PRIORITY_BACKWARDS = """
DROP INDEX IF EXISTS ix_diagnosis_request_hospital_priority;
DROP INDEX IF EXISTS ix_diagnosis_request_target_priority;
DROP INDEX IF EXISTS ix_exam_shared_waiting_urgent;
DROP INDEX IF EXISTS ix_exam_h_waiting_urgent;
DROP INDEX IF EXISTS ix_exam_shared_priority_time;
DROP INDEX IF EXISTS ix_exam_h_priority_time;
ALTER TABLE "diagnosis_request" ADD COLUMN "urgent" BOOLEAN NOT NULL DEFAULT false;
UPDATE diagnosis_request SET urgent = true WHERE priority > 0;
ALTER TABLE "diagnosis_request" DROP COLUMN "priority";
ALTER TABLE "list_preference" DROP COLUMN "density";
ALTER TABLE "examination" DROP COLUMN "priority";
ALTER TABLE "study" DROP COLUMN "priority";
"""

CONSULTATION_EXAMINATIONS = """
CREATE TABLE "consultation_examination" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "consultation" INTEGER REFERENCES "consultation" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "added_by" INTEGER REFERENCES "app_user" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "added_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX consultation_examination_examination ON "consultation_examination" ("examination");
CREATE UNIQUE INDEX ux_consultation_examination ON "consultation_examination" ("consultation", "examination");
CREATE INDEX ix_case_history_case ON "case_history" ("case_type", "case_id");
"""
# {exam}: the step's examination id as an integer, spelled per database.
BACKFILL = """
INSERT INTO consultation_examination (consultation, examination, added_by, added_at)
SELECT last.case_id, last.exam, u.id, last.at
FROM (
    SELECT h.id, h.case_id, {exam} AS exam, h.actor_id, h.at, h.event,
           ROW_NUMBER() OVER (PARTITION BY h.case_id, {exam} ORDER BY h.id DESC) AS n
    FROM case_history h
    WHERE h.case_type = 'consultation' AND h.event IN ('exam_attach', 'exam_detach')
) last
JOIN consultation c ON c.id = last.case_id
JOIN examination e ON e.id = last.exam
LEFT JOIN app_user u ON u.id = last.actor_id
WHERE last.n = 1 AND last.event = 'exam_attach'
ORDER BY last.id
"""
EXAM = {
    "sqlite": "CAST(json_extract(h.summary, '$.examination_id') AS INTEGER)",
    "postgres": "CAST(h.summary->>'examination_id' AS INTEGER)",
}
DELETED_WITH_STUDY = (
    "UPDATE examination SET deleted_at = "
    "(SELECT s.deleted_at FROM study s WHERE s.id = examination.study) "
    "WHERE deleted_at IS NULL AND study IN (SELECT id FROM study WHERE deleted_at IS NOT NULL)"
)

PATIENTS = """
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
PATIENT_TABLES = (  # in the order they are dropped
    "patient_download",
    "patient_share_session",
    "patient_share",
    "patient_match",
    "cloud_film_rule",
    "patient_code",
    "patient_session",
    "patient_person",
    "patient_account",
)

# 4. **Downloads** (issue 15 point 7, SPEC 10.6): ``patient_download``, a patient's request
#    for one examination's original DICOM (the security code's hash and wrong tries, then
#    the link's token hash, its end and its uses): Piccolo's DDL, frozen.
PATIENT_DOWNLOADS = """
CREATE TABLE "patient_download" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "account" INTEGER REFERENCES "patient_account" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "person" INTEGER REFERENCES "patient_person" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "code_hash" VARCHAR(200) NOT NULL DEFAULT '',
    "code_expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "invalidated_at" TIMESTAMPTZ DEFAULT null,
    "token_hash" VARCHAR(64) UNIQUE DEFAULT null,
    "issued_at" TIMESTAMPTZ DEFAULT null,
    "expires_at" TIMESTAMPTZ DEFAULT null,
    "downloads" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX patient_download_account ON "patient_download" ("account");
CREATE INDEX patient_download_examination ON "patient_download" ("examination");
"""


_SQUEEZED = (
    "replace(replace(replace(replace(replace({c}, ' ', ''), '-', ''), '(', ''), ')', ''), '.', '')"
)


def _compact(column: str) -> str:
    """``kernel.phones.compact`` in SQL over ``column``."""
    n = _SQUEEZED.format(c=column)
    mainland = "substr({n}, {at}, 1) = '1' AND substr({n}, {at} + 1, 1) BETWEEN '3' AND '9'"
    return (
        f"CASE WHEN {n} LIKE '+86%' AND length({n}) = 14 AND {mainland.format(n=n, at=4)} "
        f"THEN substr({n}, 4) "
        f"WHEN {n} LIKE '0086%' AND length({n}) = 15 AND {mainland.format(n=n, at=5)} "
        f"THEN substr({n}, 5) "
        f"WHEN {n} LIKE '86%' AND length({n}) = 13 AND {mainland.format(n=n, at=3)} "
        f"THEN substr({n}, 3) "
        f"ELSE {n} END"
    )


STAFF_PHONES = (
    f"UPDATE app_user SET phone = {_compact('phone')} "
    f"WHERE phone IS NOT NULL AND phone <> {_compact('phone')} "
    f"AND NOT EXISTS (SELECT 1 FROM app_user o WHERE o.phone = {_compact('app_user.phone')}) "
    f"AND id = (SELECT min(u.id) FROM app_user u WHERE {_compact('u.phone')} = "
    f"{_compact('app_user.phone')})"
)


async def backfill() -> None:
    db = engine()
    kind = "sqlite" if isinstance(db, SQLiteEngine) else "postgres"
    await db.run_ddl(BACKFILL.format(exam=EXAM[kind]))


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(ddl_script(PRIORITY))
    manager.add_raw(ddl_script(CONSULTATION_EXAMINATIONS))
    manager.add_raw(backfill)
    manager.add_raw(ddl(DELETED_WITH_STUDY))
    manager.add_raw(ddl_script(PATIENTS))
    manager.add_raw(ddl_script(PATIENT_DOWNLOADS))
    manager.add_raw(ddl(STAFF_PHONES))
    for table in PATIENT_TABLES:
        manager.add_raw_backwards(ddl(f'DROP TABLE IF EXISTS "{table}"'))
    manager.add_raw_backwards(ddl('DROP TABLE IF EXISTS "consultation_examination"'))
    manager.add_raw_backwards(ddl("DROP INDEX IF EXISTS ix_case_history_case"))
    manager.add_raw_backwards(ddl_script(PRIORITY_BACKWARDS))
    return manager
