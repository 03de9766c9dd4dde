# ruff: noqa: E501  (the SQL is Piccolo's, one column a line, verbatim)
"""Baseline: the whole schema of store/tables.py in one step (issue 13).

It replaces the 17 Piccolo migrations of 2026-11-27 to 2026-12-06 (``OLD_CHAIN`` in
store/baseline.py), of which the two trigger steps stay, without their one-off backfills.
A database that ran them has exactly this schema (the catalogues compared equal on SQLite
and PostgreSQL) and is marked by ``aimis migrate`` instead of migrated again.

The SQL is Piccolo's own DDL for the tables (``python -m store.ddl``), generated once and
frozen here: this file never changes when store/tables.py does; a later change is a new
hand-written step (store/README.md), checked by tests/integration/test_migrations.py. It is
written as PostgreSQL spells it; on SQLite two type names are spelled as Piccolo spells them
there: ``SERIAL`` is ``INTEGER`` (the rowid alias that numbers the rows) and ``BIGINT`` is
``INTEGER`` (SQLite integers are 64-bit). One raw step, in the migration's transaction.
"""

import re

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-27T00:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "baseline: the schema of store/tables.py"

TABLES = """
CREATE TABLE "alliance" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "name" VARCHAR(200) UNIQUE NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);

CREATE TABLE "hospital" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "alliance" INTEGER REFERENCES "alliance" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "name" VARCHAR(200) NOT NULL DEFAULT '',
    "code" VARCHAR(40) UNIQUE NOT NULL DEFAULT '',
    "level" VARCHAR(20) NOT NULL DEFAULT 'lower',
    "time_zone" VARCHAR(64) NOT NULL DEFAULT 'Asia/Shanghai',
    "modules" JSON NOT NULL DEFAULT '[]',
    "phone" VARCHAR(40) NOT NULL DEFAULT '',
    "address" VARCHAR(300) NOT NULL DEFAULT '',
    "logo_file" VARCHAR(200) NOT NULL DEFAULT '',
    "storage_quota_bytes" BIGINT NOT NULL DEFAULT 0,
    "storage_used_bytes" BIGINT NOT NULL DEFAULT 0,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "self_review_allowed" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX hospital_alliance ON "hospital" ("alliance");

CREATE TABLE "department" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "name" VARCHAR(200) NOT NULL DEFAULT '',
    "phone" VARCHAR(40) NOT NULL DEFAULT '',
    "description" TEXT NOT NULL DEFAULT '',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX department_hospital ON "department" ("hospital");

CREATE TABLE "role" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "name" VARCHAR(100) NOT NULL DEFAULT '',
    "permissions" JSON NOT NULL DEFAULT '[]',
    "builtin" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX role_hospital ON "role" ("hospital");

CREATE TABLE "app_user" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "username" VARCHAR(64) UNIQUE NOT NULL DEFAULT '',
    "phone" VARCHAR(32) UNIQUE DEFAULT null,
    "email" VARCHAR(200) NOT NULL DEFAULT '',
    "display_name" VARCHAR(100) NOT NULL DEFAULT '',
    "kind" VARCHAR(20) NOT NULL DEFAULT '',
    "alliance" INTEGER REFERENCES "alliance" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "department" INTEGER REFERENCES "department" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "role" INTEGER REFERENCES "role" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "password_hash" VARCHAR(200) NOT NULL DEFAULT '',
    "must_change_password" BOOLEAN NOT NULL DEFAULT false,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "frozen" BOOLEAN NOT NULL DEFAULT false,
    "frozen_reason" VARCHAR(20) NOT NULL DEFAULT '',
    "frozen_day" VARCHAR(10) NOT NULL DEFAULT '',
    "failed_day" VARCHAR(10) NOT NULL DEFAULT '',
    "failed_count" INTEGER NOT NULL DEFAULT 0,
    "wechat_openid" VARCHAR(64) NOT NULL DEFAULT '',
    "wecom_userid" VARCHAR(64) NOT NULL DEFAULT '',
    "language" VARCHAR(8) NOT NULL DEFAULT 'zh',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX app_user_alliance ON "app_user" ("alliance");
CREATE INDEX app_user_hospital ON "app_user" ("hospital");

CREATE TABLE "password_history" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "password_hash" VARCHAR(200) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX password_history_user ON "password_history" ("user");

CREATE TABLE "app_session" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "token_hash" VARCHAR(64) UNIQUE NOT NULL DEFAULT '',
    "csrf_token" VARCHAR(64) NOT NULL DEFAULT '',
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "realm" VARCHAR(10) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "last_seen_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "ip" VARCHAR(64) NOT NULL DEFAULT '',
    "user_agent" VARCHAR(300) NOT NULL DEFAULT '',
    "revoked" BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX app_session_user ON "app_session" ("user");

CREATE TABLE "qr_login" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "token_hash" VARCHAR(64) UNIQUE NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "status" VARCHAR(12) NOT NULL DEFAULT 'pending',
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null
);

CREATE TABLE "reset_code" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "code_hash" VARCHAR(200) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "expires_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "tries" INTEGER NOT NULL DEFAULT 0,
    "used" BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX reset_code_user ON "reset_code" ("user");

CREATE TABLE "rate_limit" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "key" VARCHAR(80) UNIQUE NOT NULL DEFAULT '',
    "hits" INTEGER NOT NULL DEFAULT 0,
    "window_end_ms" BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX rate_limit_window_end_ms ON "rate_limit" ("window_end_ms");

CREATE TABLE "audit_log" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "user_id" INTEGER DEFAULT null,
    "username" VARCHAR(64) NOT NULL DEFAULT '',
    "hospital_id" INTEGER DEFAULT null,
    "alliance_id" INTEGER DEFAULT null,
    "action" VARCHAR(64) NOT NULL DEFAULT '',
    "target_type" VARCHAR(40) NOT NULL DEFAULT '',
    "target_id" VARCHAR(64) NOT NULL DEFAULT '',
    "outcome" VARCHAR(16) NOT NULL DEFAULT 'success',
    "ip" VARCHAR(64) NOT NULL DEFAULT '',
    "user_agent" VARCHAR(300) NOT NULL DEFAULT '',
    "detail" TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON "audit_log" ("at");
CREATE INDEX audit_log_user_id ON "audit_log" ("user_id");
CREATE INDEX audit_log_hospital_id ON "audit_log" ("hospital_id");
CREATE INDEX audit_log_action ON "audit_log" ("action");

CREATE TABLE "event" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "topic" VARCHAR(120) NOT NULL DEFAULT '',
    "type" VARCHAR(64) NOT NULL DEFAULT '',
    "payload" JSON NOT NULL DEFAULT '{}',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX event_topic ON "event" ("topic");

CREATE TABLE "outbox" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "kind" VARCHAR(40) NOT NULL DEFAULT '',
    "payload" JSON NOT NULL DEFAULT '{}',
    "idempotency_key" VARCHAR(120) UNIQUE NOT NULL DEFAULT '',
    "status" VARCHAR(12) NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "done_at" TIMESTAMPTZ DEFAULT null,
    "error" TEXT NOT NULL DEFAULT '',
    "flow_run_id" VARCHAR(40) NOT NULL DEFAULT ''
);
CREATE INDEX outbox_status ON "outbox" ("status");
CREATE INDEX outbox_next_at ON "outbox" ("next_at");

CREATE TABLE "notification" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "outbox_id" INTEGER NOT NULL DEFAULT 0,
    "hospital_id" INTEGER DEFAULT null,
    "user_id" INTEGER DEFAULT null,
    "business_type" VARCHAR(40) NOT NULL DEFAULT '',
    "channel" VARCHAR(20) NOT NULL DEFAULT '',
    "status" VARCHAR(12) NOT NULL DEFAULT 'pending',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "error" TEXT NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "sent_at" TIMESTAMPTZ DEFAULT null
);
CREATE INDEX notification_outbox_id ON "notification" ("outbox_id");
CREATE INDEX notification_hospital_id ON "notification" ("hospital_id");

CREATE TABLE "case_history" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "case_type" VARCHAR(32) NOT NULL DEFAULT '',
    "case_id" INTEGER NOT NULL DEFAULT 0,
    "actor_id" INTEGER DEFAULT null,
    "actor_name" VARCHAR(100) NOT NULL DEFAULT '',
    "event" VARCHAR(40) NOT NULL DEFAULT '',
    "from_state" VARCHAR(20) NOT NULL DEFAULT '',
    "to_state" VARCHAR(20) NOT NULL DEFAULT '',
    "reason" TEXT NOT NULL DEFAULT '',
    "summary" JSON NOT NULL DEFAULT '{}',
    "at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "ip" VARCHAR(64) NOT NULL DEFAULT ''
);

CREATE TABLE "timer" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "case_type" VARCHAR(32) NOT NULL DEFAULT '',
    "case_id" INTEGER NOT NULL DEFAULT 0,
    "kind" VARCHAR(32) NOT NULL DEFAULT '',
    "due_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "fired_at" TIMESTAMPTZ DEFAULT null,
    "cancelled" BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX timer_due_at ON "timer" ("due_at");

CREATE TABLE "consultation" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "applicant" INTEGER REFERENCES "app_user" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "topic" VARCHAR(200) NOT NULL DEFAULT '',
    "scheduled_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "clinical_summary" TEXT NOT NULL DEFAULT '',
    "patient_name" VARCHAR(100) NOT NULL DEFAULT '',
    "patient_sex" VARCHAR(8) NOT NULL DEFAULT '',
    "patient_birth_date" VARCHAR(10) NOT NULL DEFAULT '',
    "patient_id_number" VARCHAR(32) NOT NULL DEFAULT '',
    "patient_his_number" VARCHAR(64) NOT NULL DEFAULT '',
    "state" VARCHAR(20) NOT NULL DEFAULT 'reviewing',
    "version" INTEGER NOT NULL DEFAULT 1,
    "meeting_url" VARCHAR(500) NOT NULL DEFAULT '',
    "report_text" TEXT NOT NULL DEFAULT '',
    "report_version" INTEGER NOT NULL DEFAULT 0,
    "report_lock_user" INTEGER DEFAULT null,
    "report_lock_until" TIMESTAMPTZ DEFAULT null,
    "report_submitted_at" TIMESTAMPTZ DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX consultation_hospital ON "consultation" ("hospital");
CREATE INDEX consultation_state ON "consultation" ("state");

CREATE TABLE "consultation_invite" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "consultation" INTEGER REFERENCES "consultation" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "department" INTEGER REFERENCES "department" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "mandatory" BOOLEAN NOT NULL DEFAULT false,
    "expert" INTEGER REFERENCES "app_user" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "decision" VARCHAR(12) NOT NULL DEFAULT '',
    "decided_by" INTEGER DEFAULT null,
    "decided_at" TIMESTAMPTZ DEFAULT null,
    "reason" TEXT NOT NULL DEFAULT ''
);
CREATE INDEX consultation_invite_consultation ON "consultation_invite" ("consultation");
CREATE INDEX consultation_invite_department ON "consultation_invite" ("department");

CREATE TABLE "consultation_participant" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "consultation" INTEGER REFERENCES "consultation" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "role" VARCHAR(12) NOT NULL DEFAULT '',
    "joined_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX consultation_participant_consultation ON "consultation_participant" ("consultation");
CREATE INDEX consultation_participant_user ON "consultation_participant" ("user");

CREATE TABLE "consultation_report_version" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "consultation" INTEGER REFERENCES "consultation" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "version" INTEGER NOT NULL DEFAULT 0,
    "text" TEXT NOT NULL DEFAULT '',
    "author" INTEGER NOT NULL DEFAULT 0,
    "submitted" BOOLEAN NOT NULL DEFAULT false,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX consultation_report_version_consultation ON "consultation_report_version" ("consultation");

CREATE TABLE "attachment" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "owner_type" VARCHAR(32) NOT NULL DEFAULT '',
    "owner_id" INTEGER NOT NULL DEFAULT 0,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "original_name" VARCHAR(255) NOT NULL DEFAULT '',
    "storage_name" VARCHAR(80) UNIQUE NOT NULL DEFAULT '',
    "content_type" VARCHAR(100) NOT NULL DEFAULT '',
    "size" BIGINT NOT NULL DEFAULT 0,
    "sha256" VARCHAR(64) NOT NULL DEFAULT '',
    "uploaded_by" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX attachment_owner_id ON "attachment" ("owner_id");

CREATE TABLE "notification_channel" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "kind" VARCHAR(16) NOT NULL DEFAULT '',
    "config" JSON NOT NULL DEFAULT '{}',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX notification_channel_hospital ON "notification_channel" ("hospital");

CREATE TABLE "notification_rule" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "business_type" VARCHAR(24) NOT NULL DEFAULT '',
    "channels" JSON NOT NULL DEFAULT '[]',
    "audience" VARCHAR(16) NOT NULL DEFAULT 'involved',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX notification_rule_hospital ON "notification_rule" ("hospital");

CREATE TABLE "patient" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "patient_key" VARCHAR(200) UNIQUE NOT NULL DEFAULT '',
    "patient_id" VARCHAR(64) NOT NULL DEFAULT '',
    "issuer" VARCHAR(64) NOT NULL DEFAULT '',
    "name" VARCHAR(200) NOT NULL DEFAULT '',
    "birth_date" VARCHAR(8) NOT NULL DEFAULT '',
    "sex" VARCHAR(4) NOT NULL DEFAULT '',
    "id_number" VARCHAR(32) NOT NULL DEFAULT '',
    "phone" VARCHAR(32) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX patient_hospital ON "patient" ("hospital");
CREATE INDEX patient_patient_id ON "patient" ("patient_id");
CREATE INDEX patient_id_number ON "patient" ("id_number");

CREATE TABLE "study" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "patient" INTEGER REFERENCES "patient" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "study_key" VARCHAR(80) UNIQUE NOT NULL DEFAULT '',
    "study_uid" VARCHAR(64) NOT NULL DEFAULT '',
    "study_date" VARCHAR(8) NOT NULL DEFAULT '',
    "study_time" VARCHAR(16) NOT NULL DEFAULT '',
    "accession_number" VARCHAR(64) NOT NULL DEFAULT '',
    "study_id" VARCHAR(16) NOT NULL DEFAULT '',
    "description" VARCHAR(200) NOT NULL DEFAULT '',
    "referring_physician" VARCHAR(200) NOT NULL DEFAULT '',
    "institution" VARCHAR(200) NOT NULL DEFAULT '',
    "modalities" VARCHAR(100) NOT NULL DEFAULT '',
    "body_parts" VARCHAR(200) NOT NULL DEFAULT '',
    "patient_id" VARCHAR(64) NOT NULL DEFAULT '',
    "patient_name" VARCHAR(200) NOT NULL DEFAULT '',
    "patient_name_search" VARCHAR(200) NOT NULL DEFAULT '',
    "patient_birth_date" VARCHAR(8) NOT NULL DEFAULT '',
    "patient_sex" VARCHAR(4) NOT NULL DEFAULT '',
    "num_series" INTEGER NOT NULL DEFAULT 0,
    "num_instances" INTEGER NOT NULL DEFAULT 0,
    "size_bytes" BIGINT NOT NULL DEFAULT 0,
    "tier" VARCHAR(12) NOT NULL DEFAULT 'online',
    "archived_at" TIMESTAMPTZ DEFAULT null,
    "validity_until" TIMESTAMPTZ DEFAULT null,
    "thumbnail" VARCHAR(200) NOT NULL DEFAULT '',
    "deleted_at" TIMESTAMPTZ DEFAULT null,
    "deleted_by" INTEGER DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX study_hospital ON "study" ("hospital");
CREATE INDEX study_patient ON "study" ("patient");
CREATE INDEX study_study_uid ON "study" ("study_uid");
CREATE INDEX study_study_date ON "study" ("study_date");
CREATE INDEX study_accession_number ON "study" ("accession_number");
CREATE INDEX study_modalities ON "study" ("modalities");
CREATE INDEX study_patient_id ON "study" ("patient_id");
CREATE INDEX study_patient_name_search ON "study" ("patient_name_search");
CREATE INDEX study_tier ON "study" ("tier");
CREATE INDEX study_deleted_at ON "study" ("deleted_at");
CREATE INDEX study_created_at ON "study" ("created_at");

CREATE TABLE "series" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "study" INTEGER REFERENCES "study" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "series_key" VARCHAR(80) UNIQUE NOT NULL DEFAULT '',
    "series_uid" VARCHAR(64) NOT NULL DEFAULT '',
    "modality" VARCHAR(16) NOT NULL DEFAULT '',
    "series_number" INTEGER DEFAULT null,
    "description" VARCHAR(200) NOT NULL DEFAULT '',
    "body_part" VARCHAR(64) NOT NULL DEFAULT '',
    "performed_start_date" VARCHAR(8) NOT NULL DEFAULT '',
    "num_instances" INTEGER NOT NULL DEFAULT 0,
    "size_bytes" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX series_hospital ON "series" ("hospital");
CREATE INDEX series_study ON "series" ("study");
CREATE INDEX series_series_uid ON "series" ("series_uid");
CREATE INDEX series_modality ON "series" ("modality");

CREATE TABLE "instance" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "study" INTEGER REFERENCES "study" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "series" INTEGER REFERENCES "series" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "sop_uid" VARCHAR(64) NOT NULL DEFAULT '',
    "instance_key" VARCHAR(140) DEFAULT null,
    "sop_class_uid" VARCHAR(64) NOT NULL DEFAULT '',
    "instance_number" INTEGER DEFAULT null,
    "transfer_syntax" VARCHAR(64) NOT NULL DEFAULT '',
    "rows" INTEGER DEFAULT null,
    "columns" INTEGER DEFAULT null,
    "frames" INTEGER NOT NULL DEFAULT 1,
    "bits_allocated" INTEGER DEFAULT null,
    "photometric" VARCHAR(20) NOT NULL DEFAULT '',
    "size_bytes" BIGINT NOT NULL DEFAULT 0,
    "sha256" VARCHAR(64) NOT NULL DEFAULT '',
    "storage_path" VARCHAR(300) NOT NULL DEFAULT '',
    "revision" INTEGER NOT NULL DEFAULT 1,
    "superseded" BOOLEAN NOT NULL DEFAULT false,
    "migration" INTEGER DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX instance_hospital ON "instance" ("hospital");
CREATE INDEX instance_study ON "instance" ("study");
CREATE INDEX instance_series ON "instance" ("series");
CREATE INDEX instance_sop_uid ON "instance" ("sop_uid");
CREATE INDEX instance_migration ON "instance" ("migration");

CREATE TABLE "migration_run" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "source" VARCHAR(12) NOT NULL DEFAULT '',
    "source_detail" VARCHAR(200) NOT NULL DEFAULT '',
    "state" VARCHAR(16) NOT NULL DEFAULT 'received',
    "version" INTEGER NOT NULL DEFAULT 1,
    "spool_dir" VARCHAR(200) NOT NULL DEFAULT '',
    "received_count" INTEGER NOT NULL DEFAULT 0,
    "stored_count" INTEGER NOT NULL DEFAULT 0,
    "duplicate_count" INTEGER NOT NULL DEFAULT 0,
    "new_version_count" INTEGER NOT NULL DEFAULT 0,
    "failed_count" INTEGER NOT NULL DEFAULT 0,
    "received_bytes" BIGINT NOT NULL DEFAULT 0,
    "study_uids" JSON NOT NULL DEFAULT '[]',
    "error" TEXT NOT NULL DEFAULT '',
    "created_by" INTEGER DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "finished_at" TIMESTAMPTZ DEFAULT null
);
CREATE INDEX migration_run_hospital ON "migration_run" ("hospital");
CREATE INDEX migration_run_state ON "migration_run" ("state");
CREATE INDEX migration_run_created_at ON "migration_run" ("created_at");

CREATE TABLE "migration_item" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "migration" INTEGER REFERENCES "migration_run" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "file_name" VARCHAR(255) NOT NULL DEFAULT '',
    "sop_uid" VARCHAR(64) NOT NULL DEFAULT '',
    "study_uid" VARCHAR(64) NOT NULL DEFAULT '',
    "status" VARCHAR(16) NOT NULL DEFAULT 'received',
    "code" VARCHAR(40) NOT NULL DEFAULT '',
    "reason" TEXT NOT NULL DEFAULT '',
    "size_bytes" BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX migration_item_migration ON "migration_item" ("migration");
CREATE INDEX migration_item_status ON "migration_item" ("status");

CREATE TABLE "migration_log" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "migration" INTEGER REFERENCES "migration_run" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "study" INTEGER REFERENCES "study" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "examination" VARCHAR(300) NOT NULL DEFAULT '',
    "size_bytes" BIGINT NOT NULL DEFAULT 0,
    "billing_unit" VARCHAR(20) NOT NULL DEFAULT 'study',
    "billing_quantity" VARCHAR(20) NOT NULL DEFAULT '1',
    "billing_entity" VARCHAR(200) NOT NULL DEFAULT '',
    "resource_package" VARCHAR(100) NOT NULL DEFAULT '',
    "validity_until" TIMESTAMPTZ DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX migration_log_hospital ON "migration_log" ("hospital");
CREATE INDEX migration_log_migration ON "migration_log" ("migration");
CREATE INDEX migration_log_study ON "migration_log" ("study");
CREATE INDEX migration_log_created_at ON "migration_log" ("created_at");

CREATE TABLE "storage_policy" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER UNIQUE REFERENCES "hospital" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "archive_after_days" INTEGER NOT NULL DEFAULT 365,
    "validity_days" INTEGER NOT NULL DEFAULT 3650,
    "available_hours" INTEGER NOT NULL DEFAULT 72,
    "resource_package" VARCHAR(100) NOT NULL DEFAULT 'standard',
    "billing_unit" VARCHAR(20) NOT NULL DEFAULT 'study',
    "version" INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE "archive_retrieval" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "study" INTEGER REFERENCES "study" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "state" VARCHAR(16) NOT NULL DEFAULT 'requested',
    "version" INTEGER NOT NULL DEFAULT 1,
    "requested_by" INTEGER NOT NULL DEFAULT 0,
    "reason" VARCHAR(300) NOT NULL DEFAULT '',
    "available_until" TIMESTAMPTZ DEFAULT null,
    "error" TEXT NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX archive_retrieval_hospital ON "archive_retrieval" ("hospital");
CREATE INDEX archive_retrieval_study ON "archive_retrieval" ("study");
CREATE INDEX archive_retrieval_state ON "archive_retrieval" ("state");
CREATE INDEX archive_retrieval_created_at ON "archive_retrieval" ("created_at");

CREATE TABLE "api_token" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "name" VARCHAR(100) NOT NULL DEFAULT '',
    "token_hash" VARCHAR(64) UNIQUE NOT NULL DEFAULT '',
    "prefix" VARCHAR(12) NOT NULL DEFAULT '',
    "created_by" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "expires_at" TIMESTAMPTZ DEFAULT null,
    "last_used_at" TIMESTAMPTZ DEFAULT null,
    "revoked_at" TIMESTAMPTZ DEFAULT null
);
CREATE INDEX api_token_user ON "api_token" ("user");
CREATE INDEX api_token_hospital ON "api_token" ("hospital");

CREATE TABLE "dicom_node" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "ae_title" VARCHAR(16) UNIQUE NOT NULL DEFAULT '',
    "host" VARCHAR(200) NOT NULL DEFAULT '',
    "any_address" BOOLEAN NOT NULL DEFAULT false,
    "description" VARCHAR(200) NOT NULL DEFAULT '',
    "enabled" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX dicom_node_hospital ON "dicom_node" ("hospital");

CREATE TABLE "device_type" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "code" VARCHAR(16) NOT NULL DEFAULT '',
    "name" VARCHAR(100) NOT NULL DEFAULT '',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX device_type_hospital ON "device_type" ("hospital");

CREATE TABLE "device" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "device_type" INTEGER REFERENCES "device_type" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "name" VARCHAR(100) NOT NULL DEFAULT '',
    "station_name" VARCHAR(64) NOT NULL DEFAULT '',
    "model" VARCHAR(100) NOT NULL DEFAULT '',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX device_hospital ON "device" ("hospital");
CREATE INDEX device_device_type ON "device" ("device_type");

CREATE TABLE "body_part" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "code" VARCHAR(32) NOT NULL DEFAULT '',
    "name" VARCHAR(100) NOT NULL DEFAULT '',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX body_part_hospital ON "body_part" ("hospital");

CREATE TABLE "check_item" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "code" VARCHAR(32) NOT NULL DEFAULT '',
    "name" VARCHAR(100) NOT NULL DEFAULT '',
    "device_type" INTEGER REFERENCES "device_type" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "body_part" INTEGER REFERENCES "body_part" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "exam_category" VARCHAR(40) NOT NULL DEFAULT '',
    "scanning_method" VARCHAR(60) NOT NULL DEFAULT '',
    "cloud_film" BOOLEAN NOT NULL DEFAULT true,
    "cloud_film_visible" VARCHAR(16) NOT NULL DEFAULT 'after_review',
    "cloud_film_hours" INTEGER NOT NULL DEFAULT 0,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX check_item_hospital ON "check_item" ("hospital");

CREATE TABLE "report_template" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "name" VARCHAR(100) NOT NULL DEFAULT '',
    "check_item" INTEGER REFERENCES "check_item" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "scope" VARCHAR(12) NOT NULL DEFAULT 'hospital',
    "department" INTEGER REFERENCES "department" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "owner" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "shown_fields" JSON NOT NULL DEFAULT '[]',
    "title_format" VARCHAR(200) NOT NULL DEFAULT '',
    "header_format" TEXT NOT NULL DEFAULT '',
    "findings_format" TEXT NOT NULL DEFAULT '',
    "impression_format" TEXT NOT NULL DEFAULT '',
    "footer_format" TEXT NOT NULL DEFAULT '',
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX report_template_hospital ON "report_template" ("hospital");
CREATE INDEX report_template_check_item ON "report_template" ("check_item");

CREATE TABLE "knowledge_phrase" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "category" VARCHAR(60) NOT NULL DEFAULT '',
    "title" VARCHAR(100) NOT NULL DEFAULT '',
    "findings" TEXT NOT NULL DEFAULT '',
    "impression" TEXT NOT NULL DEFAULT '',
    "keywords" VARCHAR(200) NOT NULL DEFAULT '',
    "search_text" TEXT NOT NULL DEFAULT '',
    "owner" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX knowledge_phrase_hospital ON "knowledge_phrase" ("hospital");

CREATE TABLE "examination" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "study" INTEGER UNIQUE REFERENCES "study" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "patient_name" VARCHAR(200) NOT NULL DEFAULT '',
    "patient_name_search" VARCHAR(200) NOT NULL DEFAULT '',
    "patient_sex" VARCHAR(4) NOT NULL DEFAULT '',
    "patient_birth_date" VARCHAR(8) NOT NULL DEFAULT '',
    "patient_id" VARCHAR(64) NOT NULL DEFAULT '',
    "patient_id_number" VARCHAR(32) NOT NULL DEFAULT '',
    "patient_his_number" VARCHAR(64) NOT NULL DEFAULT '',
    "patient_phone" VARCHAR(32) NOT NULL DEFAULT '',
    "accession_number" VARCHAR(64) NOT NULL DEFAULT '',
    "check_item" INTEGER REFERENCES "check_item" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "check_item_name" VARCHAR(100) NOT NULL DEFAULT '',
    "device_type" VARCHAR(16) NOT NULL DEFAULT '',
    "device_name" VARCHAR(100) NOT NULL DEFAULT '',
    "body_part" VARCHAR(64) NOT NULL DEFAULT '',
    "exam_category" VARCHAR(40) NOT NULL DEFAULT '',
    "scanning_method" VARCHAR(60) NOT NULL DEFAULT '',
    "department" INTEGER REFERENCES "department" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "exam_time" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "status" VARCHAR(16) NOT NULL DEFAULT 'images_arrived',
    "print_time" TIMESTAMPTZ DEFAULT null,
    "deleted_at" TIMESTAMPTZ DEFAULT null,
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1,
    "shared_with" INTEGER REFERENCES "hospital" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null
);
CREATE INDEX examination_hospital ON "examination" ("hospital");
CREATE INDEX examination_patient_name_search ON "examination" ("patient_name_search");
CREATE INDEX examination_patient_id ON "examination" ("patient_id");
CREATE INDEX examination_patient_id_number ON "examination" ("patient_id_number");
CREATE INDEX examination_patient_his_number ON "examination" ("patient_his_number");
CREATE INDEX examination_accession_number ON "examination" ("accession_number");
CREATE INDEX examination_device_type ON "examination" ("device_type");
CREATE INDEX examination_exam_category ON "examination" ("exam_category");
CREATE INDEX examination_department ON "examination" ("department");
CREATE INDEX examination_exam_time ON "examination" ("exam_time");
CREATE INDEX examination_status ON "examination" ("status");
CREATE INDEX examination_print_time ON "examination" ("print_time");

CREATE TABLE "examination_count" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER NOT NULL DEFAULT 0,
    "status" VARCHAR(16) NOT NULL DEFAULT '',
    "n" BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE "exam_report" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "examination" INTEGER UNIQUE REFERENCES "examination" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "template" INTEGER REFERENCES "report_template" ("id") ON DELETE SET NULL ON UPDATE CASCADE DEFAULT null,
    "state" VARCHAR(16) NOT NULL DEFAULT 'draft',
    "title" VARCHAR(200) NOT NULL DEFAULT '',
    "findings" TEXT NOT NULL DEFAULT '',
    "impression" TEXT NOT NULL DEFAULT '',
    "revision" INTEGER NOT NULL DEFAULT 0,
    "author" INTEGER DEFAULT null,
    "initial_by" INTEGER DEFAULT null,
    "initial_at" TIMESTAMPTZ DEFAULT null,
    "reviewer" INTEGER DEFAULT null,
    "reviewed_at" TIMESTAMPTZ DEFAULT null,
    "returned_reason" TEXT NOT NULL DEFAULT '',
    "lock_user" INTEGER DEFAULT null,
    "lock_until" TIMESTAMPTZ DEFAULT null,
    "printed_at" TIMESTAMPTZ DEFAULT null,
    "print_count" INTEGER NOT NULL DEFAULT 0,
    "dicom_sop_uid" VARCHAR(64) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX exam_report_hospital ON "exam_report" ("hospital");
CREATE INDEX exam_report_state ON "exam_report" ("state");

CREATE TABLE "exam_report_version" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "report" INTEGER REFERENCES "exam_report" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "revision" INTEGER NOT NULL DEFAULT 0,
    "state" VARCHAR(16) NOT NULL DEFAULT '',
    "title" VARCHAR(200) NOT NULL DEFAULT '',
    "findings" TEXT NOT NULL DEFAULT '',
    "impression" TEXT NOT NULL DEFAULT '',
    "author" INTEGER NOT NULL DEFAULT 0,
    "note" VARCHAR(300) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX exam_report_version_report ON "exam_report_version" ("report");

CREATE TABLE "diagnosis_request" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "target_hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "state" VARCHAR(16) NOT NULL DEFAULT 'requested',
    "version" INTEGER NOT NULL DEFAULT 1,
    "requested_by" INTEGER NOT NULL DEFAULT 0,
    "urgent" BOOLEAN NOT NULL DEFAULT false,
    "clinical_info" TEXT NOT NULL DEFAULT '',
    "decided_by" INTEGER DEFAULT null,
    "reason" TEXT NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "updated_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
);
CREATE INDEX diagnosis_request_examination ON "diagnosis_request" ("examination");
CREATE INDEX diagnosis_request_hospital ON "diagnosis_request" ("hospital");
CREATE INDEX diagnosis_request_target_hospital ON "diagnosis_request" ("target_hospital");
CREATE INDEX diagnosis_request_state ON "diagnosis_request" ("state");
CREATE INDEX diagnosis_request_created_at ON "diagnosis_request" ("created_at");

CREATE TABLE "exam_share" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "examination" INTEGER REFERENCES "examination" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "hospital" INTEGER REFERENCES "hospital" ("id") ON DELETE RESTRICT ON UPDATE CASCADE DEFAULT null,
    "from_user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "to_user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "message" VARCHAR(300) NOT NULL DEFAULT '',
    "created_at" TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
    "read_at" TIMESTAMPTZ DEFAULT null
);
CREATE INDEX exam_share_examination ON "exam_share" ("examination");
CREATE INDEX exam_share_hospital ON "exam_share" ("hospital");
CREATE INDEX exam_share_to_user ON "exam_share" ("to_user");

CREATE TABLE "list_preference" (
    "id" SERIAL PRIMARY KEY NOT NULL,
    "pref_key" VARCHAR(80) UNIQUE NOT NULL DEFAULT '',
    "user" INTEGER REFERENCES "app_user" ("id") ON DELETE CASCADE ON UPDATE CASCADE DEFAULT null,
    "columns" JSON NOT NULL DEFAULT '[]',
    "version" INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX list_preference_user ON "list_preference" ("user");
"""

# What Piccolo cannot declare (indexes over several columns, a unique index on a column
# SQLite could not add as UNIQUE), written by hand in the migrations this one replaces.
INDEXES = """
-- The examination list (bench/exam_list.py): WHERE hospital = ? [AND <filter> = ?]
-- ORDER BY <time>, id with a keyset bound on (<time>, id) reads only the page through
-- (hospital, <filter>, <time>, id); (exam_time, id) and (print_time, id) serve a list over
-- several hospitals; the name indexes serve the prefix search.
CREATE INDEX ix_exam_h_time ON examination (hospital, exam_time, id);
CREATE INDEX ix_exam_h_status_time ON examination (hospital, status, exam_time, id);
CREATE INDEX ix_exam_h_device_time ON examination (hospital, device_type, exam_time, id);
CREATE INDEX ix_exam_h_category_time ON examination (hospital, exam_category, exam_time, id);
CREATE INDEX ix_exam_h_method_time ON examination (hospital, scanning_method, exam_time, id);
CREATE INDEX ix_exam_h_dept_time ON examination (hospital, department, exam_time, id);
CREATE INDEX ix_exam_h_print ON examination (hospital, print_time, id);
CREATE INDEX ix_exam_time_id ON examination (exam_time, id);
CREATE INDEX ix_exam_print_id ON examination (print_time, id);
CREATE INDEX ix_exam_h_name ON examination (hospital, patient_name);
CREATE INDEX ix_exam_h_name_search ON examination (hospital, patient_name_search);
-- The diagnosing hospital's list starts from its open requests.
CREATE INDEX ix_diagnosis_request_target ON diagnosis_request (target_hospital, state, examination);
-- Dictionary codes are unique per hospital: two simultaneous creates cannot both pass.
CREATE UNIQUE INDEX ux_device_type_code ON device_type (hospital, code);
CREATE UNIQUE INDEX ux_body_part_code ON body_part (hospital, code);
CREATE UNIQUE INDEX ux_check_item_code ON check_item (hospital, code);
-- Two writers can never store the same instance revision (NULLs never collide).
CREATE UNIQUE INDEX instance_key_unique ON instance (instance_key);
"""


def statements(sql: str, sqlite: bool) -> list[str]:
    if sqlite:
        sql = re.sub(r"\b(SERIAL|BIGINT)\b", "INTEGER", sql)
    lines = [line for line in sql.splitlines() if not line.startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";\n") if s.strip()]


async def create() -> None:
    engine = engine_finder()
    assert engine is not None, "no Piccolo engine configured"
    for sql in statements(TABLES + INDEXES, sqlite=engine.engine_type == "sqlite"):
        await engine.run_ddl(sql)


async def refuse() -> None:
    raise RuntimeError("The baseline cannot be undone: drop the database instead.")


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="store", description=DESCRIPTION)
    manager.add_raw(create)
    manager.add_raw_backwards(refuse)
    return manager
