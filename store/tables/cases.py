"""What every process shares (the audit log, live events, the outbox and its delivery log,
case history, timers, each hospital's notification channels and rules, SPEC 8.8) and
the consultations (SPEC 2.7-2.8) with their invitations, participants, report versions
and uploaded attachments.
"""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    ForeignKey,
    Integer,
    OnDelete,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.table import Table

from store.tables.accounts import Department, Hospital, User


class AuditLog(Table):
    """Append-only. No service, API or UI updates or deletes these rows."""

    id = Serial(primary_key=True)
    at = Timestamptz(index=True)
    user_id = Integer(null=True, default=None, index=True)
    username = Varchar(length=64, default="")
    hospital_id = Integer(null=True, default=None, index=True)
    alliance_id = Integer(null=True, default=None)
    action = Varchar(length=64, index=True)
    target_type = Varchar(length=40, default="")
    target_id = Varchar(length=64, default="")
    outcome = Varchar(length=16, default="success")  # success | failure | denied
    ip = Varchar(length=64, default="")
    user_agent = Varchar(length=300, default="")
    detail = Text(default="")


class Event(Table):
    """Live-channel events; the row id is the event id clients resume from."""

    id = Serial(primary_key=True)
    topic = Varchar(length=120, index=True)
    type = Varchar(length=64)
    payload = JSON(default="{}")
    created_at = Timestamptz()


class Outbox(Table):
    """Side effects written in the transaction of the change, dispatched at least once."""

    id = Serial(primary_key=True)
    kind = Varchar(length=40)
    payload = JSON(default="{}")  # ids only
    idempotency_key = Varchar(length=120, unique=True)
    status = Varchar(length=12, default="pending", index=True)  # pending | running | done | failed
    attempts = Integer(default=0)
    next_at = Timestamptz(index=True)
    created_at = Timestamptz()
    done_at = Timestamptz(null=True, default=None)
    error = Text(default="")
    flow_run_id = Varchar(length=40, default="")


class Notification(Table):
    """Delivery log: one row per recipient and channel."""

    id = Serial(primary_key=True)
    outbox_id = Integer(index=True)
    hospital_id = Integer(null=True, default=None, index=True)
    user_id = Integer(null=True, default=None)
    business_type = Varchar(length=40)
    channel = Varchar(length=20)
    status = Varchar(length=12, default="pending")  # pending | sent | failed
    attempts = Integer(default=0)
    error = Text(default="")
    created_at = Timestamptz()
    sent_at = Timestamptz(null=True, default=None)


class CaseHistory(Table):
    """One row per applied transition: the timeline of every process (append-only)."""

    id = Serial(primary_key=True)
    case_type = Varchar(length=32)
    case_id = Integer()
    actor_id = Integer(null=True, default=None)
    actor_name = Varchar(length=100, default="")
    event = Varchar(length=40)
    from_state = Varchar(length=20)
    to_state = Varchar(length=20)
    reason = Text(default="")
    summary = JSON(default="{}")  # ids and short labels only
    at = Timestamptz()
    ip = Varchar(length=64, default="")


class Timer(Table):
    """A due time in the database, swept by a scheduled Prefect deployment."""

    id = Serial(primary_key=True)
    case_type = Varchar(length=32)
    case_id = Integer()
    kind = Varchar(length=32)
    due_at = Timestamptz(index=True)
    fired_at = Timestamptz(null=True, default=None)
    cancelled = Boolean(default=False)


class Consultation(Table):
    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)  # the applicant's
    applicant = ForeignKey(User, on_delete=OnDelete.restrict)
    topic = Varchar(length=200)
    scheduled_at = Timestamptz()
    clinical_summary = Text(default="")
    patient_name = Varchar(length=100, default="")
    patient_sex = Varchar(length=8, default="")
    patient_birth_date = Varchar(length=10, default="")
    patient_id_number = Varchar(length=32, default="")
    patient_his_number = Varchar(length=64, default="")
    state = Varchar(length=20, default="reviewing", index=True)
    version = Integer(default=1)
    meeting_url = Varchar(length=500, default="")
    report_text = Text(default="")
    report_version = Integer(default=0)
    report_lock_user = Integer(null=True, default=None)
    report_lock_until = Timestamptz(null=True, default=None)
    report_submitted_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class ConsultationInvite(Table):
    id = Serial(primary_key=True)
    consultation = ForeignKey(Consultation, on_delete=OnDelete.cascade, index=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict)
    department = ForeignKey(Department, on_delete=OnDelete.restrict, index=True)
    mandatory = Boolean(default=False)
    expert = ForeignKey(User, null=True, on_delete=OnDelete.set_null)
    decision = Varchar(length=12, default="")  # "" | agree | agree_join | deny
    decided_by = Integer(null=True, default=None)
    decided_at = Timestamptz(null=True, default=None)
    reason = Text(default="")


class ConsultationParticipant(Table):
    id = Serial(primary_key=True)
    consultation = ForeignKey(Consultation, on_delete=OnDelete.cascade, index=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    role = Varchar(length=12)  # applicant | expert | participant
    joined_at = Timestamptz()


class ConsultationReportVersion(Table):
    id = Serial(primary_key=True)
    consultation = ForeignKey(Consultation, on_delete=OnDelete.cascade, index=True)
    version = Integer()
    text = Text()
    author = Integer()
    submitted = Boolean(default=False)
    created_at = Timestamptz()


class Attachment(Table):
    """An uploaded file kept under the data folder by a generated name, never the user's."""

    id = Serial(primary_key=True)
    owner_type = Varchar(length=32)
    owner_id = Integer(index=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict)
    original_name = Varchar(length=255)
    storage_name = Varchar(length=80, unique=True)
    content_type = Varchar(length=100)
    size = BigInt()
    sha256 = Varchar(length=64)
    uploaded_by = Integer()
    created_at = Timestamptz()


class NotificationChannel(Table):
    """A hospital's configured channel (SPEC 8.8): WeCom app, WeCom robot, WeChat official
    account, e-mail. ``config`` holds ids and secrets; the API never returns secrets."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.cascade, index=True)
    kind = Varchar(length=16)  # wecom_app | wecom_bot | wechat_oa | email
    config = JSON(default="{}")
    enabled = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class NotificationRule(Table):
    """Which business types go by which channels to whom, per hospital (SPEC 8.8)."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.cascade, index=True)
    business_type = Varchar(length=24)  # consultation | ward_round | diagnosis | share | account
    channels = JSON(default="[]")
    audience = Varchar(length=16, default="involved")  # involved | department | hospital
    enabled = Boolean(default=True)
    version = Integer(default=1)
