"""What every process shares (the audit log, live events, the outbox and its delivery log,
case history, timers, each hospital's notification channels and rules, SPEC 8.8) and
the consultations (SPEC 2.7-2.8, 3) with their invitations, participants, report versions,
uploaded attachments and attached cloud examinations.
"""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table

from store.tables.accounts import Department, Hospital, User
from store.tables.imaging import Examination


class AuditLog(Table):
    """Append-only. No service, API or UI updates or deletes these rows."""

    id = col.Serial(primary_key=True)
    at = col.Timestamptz(index=True)
    user_id = col.Integer(null=True, default=None, index=True)
    username = col.Varchar(length=64, default="")
    hospital_id = col.Integer(null=True, default=None, index=True)
    alliance_id = col.Integer(null=True, default=None)
    action = col.Varchar(length=64, index=True)
    target_type = col.Varchar(length=40, default="")
    target_id = col.Varchar(length=64, default="")
    outcome = col.Varchar(length=16, default="success")  # success | failure | denied
    ip = col.Varchar(length=64, default="")
    user_agent = col.Varchar(length=300, default="")
    detail = col.Text(default="")


class Event(Table):
    """Live-channel events; the row id is the event id clients resume from."""

    id = col.Serial(primary_key=True)
    topic = col.Varchar(length=120, index=True)
    type = col.Varchar(length=64)
    payload = col.JSON(default="{}")
    created_at = col.Timestamptz()


class Outbox(Table):
    """Side effects written in the transaction of the change, dispatched at least once."""

    id = col.Serial(primary_key=True)
    kind = col.Varchar(length=40)
    payload = col.JSON(default="{}")  # ids only
    idempotency_key = col.Varchar(length=120, unique=True)
    # pending | running | done | failed
    status = col.Varchar(length=12, default="pending", index=True)
    attempts = col.Integer(default=0)
    next_at = col.Timestamptz(index=True)
    created_at = col.Timestamptz()
    done_at = col.Timestamptz(null=True, default=None)
    error = col.Text(default="")
    flow_run_id = col.Varchar(length=40, default="")


class Notification(Table):
    """Delivery log: one row per recipient and channel."""

    id = col.Serial(primary_key=True)
    outbox_id = col.Integer(index=True)
    hospital_id = col.Integer(null=True, default=None, index=True)
    user_id = col.Integer(null=True, default=None)
    business_type = col.Varchar(length=40)
    channel = col.Varchar(length=20)
    status = col.Varchar(length=12, default="pending")  # pending | sent | failed
    attempts = col.Integer(default=0)
    error = col.Text(default="")
    created_at = col.Timestamptz()
    sent_at = col.Timestamptz(null=True, default=None)


class CaseHistory(Table):
    """One row per applied transition: the timeline of every process (append-only)."""

    id = col.Serial(primary_key=True)
    case_type = col.Varchar(length=32)
    case_id = col.Integer()
    actor_id = col.Integer(null=True, default=None)
    actor_name = col.Varchar(length=100, default="")
    event = col.Varchar(length=40)
    from_state = col.Varchar(length=20)
    to_state = col.Varchar(length=20)
    reason = col.Text(default="")
    summary = col.JSON(default="{}")  # ids and short labels only
    at = col.Timestamptz()
    ip = col.Varchar(length=64, default="")


class Timer(Table):
    """A due time in the database, swept by a scheduled Prefect deployment."""

    id = col.Serial(primary_key=True)
    case_type = col.Varchar(length=32)
    case_id = col.Integer()
    kind = col.Varchar(length=32)
    due_at = col.Timestamptz(index=True)
    fired_at = col.Timestamptz(null=True, default=None)
    cancelled = col.Boolean(default=False)


class Consultation(Table):
    id = col.Serial(primary_key=True)
    # the applicant's
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    applicant = col.ForeignKey(User, on_delete=col.OnDelete.restrict)
    topic = col.Varchar(length=200)
    scheduled_at = col.Timestamptz()
    clinical_summary = col.Text(default="")
    patient_name = col.Varchar(length=100, default="")
    patient_sex = col.Varchar(length=8, default="")
    patient_birth_date = col.Varchar(length=10, default="")
    patient_id_number = col.Varchar(length=32, default="")
    patient_his_number = col.Varchar(length=64, default="")
    state = col.Varchar(length=20, default="reviewing", index=True)
    version = col.Integer(default=1)
    meeting_url = col.Varchar(length=500, default="")
    report_text = col.Text(default="")
    report_version = col.Integer(default=0)
    report_lock_user = col.Integer(null=True, default=None)
    report_lock_until = col.Timestamptz(null=True, default=None)
    report_submitted_at = col.Timestamptz(null=True, default=None)
    created_at = col.Timestamptz()


class ConsultationInvite(Table):
    id = col.Serial(primary_key=True)
    consultation = col.ForeignKey(Consultation, on_delete=col.OnDelete.cascade, index=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict)
    department = col.ForeignKey(Department, on_delete=col.OnDelete.restrict, index=True)
    mandatory = col.Boolean(default=False)
    expert = col.ForeignKey(User, null=True, on_delete=col.OnDelete.set_null)
    decision = col.Varchar(length=12, default="")  # "" | agree | agree_join | deny
    decided_by = col.Integer(null=True, default=None)
    decided_at = col.Timestamptz(null=True, default=None)
    reason = col.Text(default="")


class ConsultationParticipant(Table):
    id = col.Serial(primary_key=True)
    consultation = col.ForeignKey(Consultation, on_delete=col.OnDelete.cascade, index=True)
    user = col.ForeignKey(User, on_delete=col.OnDelete.cascade, index=True)
    role = col.Varchar(length=12)  # applicant | expert | participant
    joined_at = col.Timestamptz()


class ConsultationExamination(Table):
    """A cloud examination attached to a consultation (SPEC 3.1, 3.3): one row per pair (the
    unique index ``ux_consultation_examination`` on (consultation, examination), migration
    2026-12-07T14:00), in the order attached (``id``). The room's timeline keeps the steps
    ``exam_attach`` / ``exam_detach`` too; this table is what is attached now."""

    id = col.Serial(primary_key=True)
    consultation = col.ForeignKey(Consultation, on_delete=col.OnDelete.cascade)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.restrict, index=True)
    added_by = col.ForeignKey(User, null=True, on_delete=col.OnDelete.set_null)
    added_at = col.Timestamptz()


class ConsultationReportVersion(Table):
    id = col.Serial(primary_key=True)
    consultation = col.ForeignKey(Consultation, on_delete=col.OnDelete.cascade, index=True)
    version = col.Integer()
    text = col.Text()
    author = col.Integer()
    submitted = col.Boolean(default=False)
    created_at = col.Timestamptz()


class Attachment(Table):
    """An uploaded file kept under the data folder by a generated name, never the user's."""

    id = col.Serial(primary_key=True)
    owner_type = col.Varchar(length=32)
    owner_id = col.Integer(index=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict)
    original_name = col.Varchar(length=255)
    storage_name = col.Varchar(length=80, unique=True)
    content_type = col.Varchar(length=100)
    size = col.BigInt()
    sha256 = col.Varchar(length=64)
    uploaded_by = col.Integer()
    created_at = col.Timestamptz()


class NotificationChannel(Table):
    """A hospital's configured channel (SPEC 8.8): WeCom app, WeCom robot, WeChat official
    account, e-mail. ``config`` holds ids and secrets; the API never returns secrets."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.cascade, index=True)
    kind = col.Varchar(length=16)  # wecom_app | wecom_bot | wechat_oa | email
    config = col.JSON(default="{}")
    enabled = col.Boolean(default=True)
    created_at = col.Timestamptz()
    version = col.Integer(default=1)


class NotificationRule(Table):
    """Which business types go by which channels to whom, per hospital (SPEC 8.8)."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.cascade, index=True)
    # consultation | ward_round | diagnosis | share | account
    business_type = col.Varchar(length=24)
    channels = col.JSON(default="[]")
    audience = col.Varchar(length=16, default="involved")  # involved | department | hospital
    enabled = col.Boolean(default=True)
    version = col.Integer(default=1)
