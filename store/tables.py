"""The app database: the truth for accounts, hospitals, cases, audit and live events.

Rows never leave this package as ORM objects: services turn them into msgspec structs.
Every case-like row carries a ``version`` column for optimistic concurrency (DESIGN.md).
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

from store.db import ENGINE


class Alliance(Table):
    id = Serial(primary_key=True)
    name = Varchar(length=200, unique=True)
    created_at = Timestamptz()


class Hospital(Table):
    id = Serial(primary_key=True)
    alliance = ForeignKey(Alliance, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=200)
    code = Varchar(length=40, unique=True)
    level = Varchar(length=20, default="lower")  # leading | lower
    time_zone = Varchar(length=64, default="Asia/Shanghai")
    modules = JSON(default="[]")  # enabled feature modules, see kernel.domain.MODULES
    phone = Varchar(length=40, default="")
    address = Varchar(length=300, default="")
    logo_file = Varchar(length=200, default="")  # name under <data>/logos, never user-chosen
    storage_quota_bytes = BigInt(default=0)
    storage_used_bytes = BigInt(default=0)
    active = Boolean(default=True)
    # may the author of a report also review it (SPEC 2.4)? Most hospitals say no.
    self_review_allowed = Boolean(default=False)
    created_at = Timestamptz()
    version = Integer(default=1)


class Department(Table):
    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=200)
    phone = Varchar(length=40, default="")
    description = Text(default="")
    active = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class Role(Table):
    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=100)
    permissions = JSON(default="[]")
    builtin = Boolean(default=False)
    created_at = Timestamptz()
    version = Integer(default=1)


class User(Table, tablename="app_user"):
    id = Serial(primary_key=True)
    username = Varchar(length=64, unique=True)
    phone = Varchar(length=32, null=True, default=None, unique=True)
    email = Varchar(length=200, default="")
    display_name = Varchar(length=100)
    kind = Varchar(length=20)  # alliance_admin | hospital_admin | doctor
    alliance = ForeignKey(Alliance, null=True, on_delete=OnDelete.restrict, index=True)
    hospital = ForeignKey(Hospital, null=True, on_delete=OnDelete.restrict, index=True)
    department = ForeignKey(Department, null=True, on_delete=OnDelete.set_null)
    role = ForeignKey(Role, null=True, on_delete=OnDelete.set_null)
    password_hash = Varchar(length=200)
    must_change_password = Boolean(default=False)
    active = Boolean(default=True)
    frozen = Boolean(default=False)
    frozen_reason = Varchar(length=20, default="")  # failed_logins | admin
    frozen_day = Varchar(length=10, default="")  # hospital-local date of an automatic freeze
    failed_day = Varchar(length=10, default="")  # hospital-local date the count is for
    failed_count = Integer(default=0)
    wechat_openid = Varchar(length=64, default="")
    wecom_userid = Varchar(length=64, default="")
    language = Varchar(length=8, default="zh")
    created_at = Timestamptz()
    version = Integer(default=1)


class PasswordHistory(Table):
    id = Serial(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    password_hash = Varchar(length=200)
    created_at = Timestamptz()


class Session(Table, tablename="app_session"):
    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    csrf_token = Varchar(length=64)  # unused, empty: the CSRF token is the csrftoken cookie
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    realm = Varchar(length=10)  # app | admin
    created_at = Timestamptz()
    last_seen_at = Timestamptz()
    expires_at = Timestamptz()
    ip = Varchar(length=64, default="")
    user_agent = Varchar(length=300, default="")
    revoked = Boolean(default=False)


class QrLogin(Table):
    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    status = Varchar(length=12, default="pending")  # pending | confirmed | used
    user = ForeignKey(User, null=True, on_delete=OnDelete.cascade)


class ResetCode(Table):
    id = Serial(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    code_hash = Varchar(length=200)
    created_at = Timestamptz()
    expires_at = Timestamptz()
    tries = Integer(default=0)
    used = Boolean(default=False)


class RateLimit(Table):
    """A fixed-window counter shared by all web replicas (``api.ratelimit``): one row per
    key (a rule and the hash of its subject), counted up with one atomic upsert."""

    id = Serial(primary_key=True)
    key = Varchar(length=80, unique=True)
    hits = Integer(default=0)
    window_end_ms = BigInt(index=True)  # Unix milliseconds: the same on SQLite and PostgreSQL


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


# ---------------------------------------------------------------------------------------------
# Imaging (SPEC 2.3, 8.9-8.11, 9): the DICOM index, migration runs, billing log, archive tier.
# A study belongs to one hospital; every query scopes by ``hospital``. Patient attributes are
# copied onto the study row so QIDO study searches need no join (100,000+ studies).
# Keys that must be unique per hospital are stored as one ``*_key`` column ("<hospital>:<uid>")
# with a unique index, because Piccolo declares no composite unique constraints.


class Patient(Table):
    """A patient as a hospital's PACS identifies them (Patient ID + issuer)."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    patient_key = Varchar(length=200, unique=True)  # "<hospital>:<issuer>:<patient id>"
    patient_id = Varchar(length=64, index=True)
    issuer = Varchar(length=64, default="")
    name = Varchar(length=200, default="")  # DICOM PN as sent, e.g. "ZHANG^SAN=张三"
    birth_date = Varchar(length=8, default="")  # YYYYMMDD
    sex = Varchar(length=4, default="")
    id_number = Varchar(length=32, default="", index=True)  # national ID when known
    phone = Varchar(length=32, default="")
    created_at = Timestamptz()


class Study(Table):
    """One examination's images. ``tier``: online | archive (the files are in the archive
    container) | restoring | available (restored for a while, see ArchiveRetrieval)."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    patient = ForeignKey(Patient, on_delete=OnDelete.restrict, index=True)
    study_key = Varchar(length=80, unique=True)  # "<hospital>:<StudyInstanceUID>"
    study_uid = Varchar(length=64, index=True)
    study_date = Varchar(length=8, default="", index=True)  # YYYYMMDD
    study_time = Varchar(length=16, default="")
    accession_number = Varchar(length=64, default="", index=True)
    study_id = Varchar(length=16, default="")
    description = Varchar(length=200, default="")
    referring_physician = Varchar(length=200, default="")
    institution = Varchar(length=200, default="")
    modalities = Varchar(length=100, default="", index=True)  # "CT\\SR", sorted
    body_parts = Varchar(length=200, default="")
    # patient attributes copied for QIDO (match keys) and lists
    patient_id = Varchar(length=64, default="", index=True)
    patient_name = Varchar(length=200, default="")
    patient_name_search = Varchar(length=200, default="", index=True)  # upper-case, for prefixes
    patient_birth_date = Varchar(length=8, default="")
    patient_sex = Varchar(length=4, default="")
    num_series = Integer(default=0)
    num_instances = Integer(default=0)
    size_bytes = BigInt(default=0)
    tier = Varchar(length=12, default="online", index=True)
    archived_at = Timestamptz(null=True, default=None)
    validity_until = Timestamptz(null=True, default=None)  # storage validity period (billing)
    thumbnail = Varchar(length=200, default="")  # file under <data>/thumbnails
    deleted_at = Timestamptz(null=True, default=None, index=True)  # soft delete (SPEC 8.11)
    deleted_by = Integer(null=True, default=None)
    created_at = Timestamptz(index=True)
    updated_at = Timestamptz()
    version = Integer(default=1)


class Series(Table):
    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    study = ForeignKey(Study, on_delete=OnDelete.cascade, index=True)
    series_key = Varchar(length=80, unique=True)  # "<hospital>:<SeriesInstanceUID>"
    series_uid = Varchar(length=64, index=True)
    modality = Varchar(length=16, default="", index=True)
    series_number = Integer(null=True, default=None)
    description = Varchar(length=200, default="")
    body_part = Varchar(length=64, default="")
    performed_start_date = Varchar(length=8, default="")
    num_instances = Integer(default=0)
    size_bytes = BigInt(default=0)
    created_at = Timestamptz()


class Instance(Table):
    """One stored SOP instance. Sending the same bytes again is a no-op; different bytes
    under the same SOP Instance UID become a new row with ``revision`` + 1 and the older
    row ``superseded`` (kept, reported in the migration run)."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    study = ForeignKey(Study, on_delete=OnDelete.cascade, index=True)
    series = ForeignKey(Series, on_delete=OnDelete.cascade, index=True)
    sop_uid = Varchar(length=64, index=True)
    # "<hospital>:<sop uid>:<revision>": two writers can never store the same revision (a
    # unique index made by raw SQL in its migration: SQLite cannot add a UNIQUE column)
    instance_key = Varchar(length=140, null=True, default=None)
    sop_class_uid = Varchar(length=64, default="")
    instance_number = Integer(null=True, default=None)
    transfer_syntax = Varchar(length=64, default="")
    rows = Integer(null=True, default=None)
    columns = Integer(null=True, default=None)
    frames = Integer(default=1)
    bits_allocated = Integer(null=True, default=None)
    photometric = Varchar(length=20, default="")
    size_bytes = BigInt(default=0)
    sha256 = Varchar(length=64)
    storage_path = Varchar(length=300)  # relative to the online root; never user-chosen
    revision = Integer(default=1)
    superseded = Boolean(default=False)
    migration = Integer(null=True, default=None, index=True)
    created_at = Timestamptz()


class MigrationRun(Table):
    """A cloud-film migration run (SPEC 9.1), a case on the engine (states/migration.py).
    Parameters of its Prefect flow are this row's id only."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    source = Varchar(length=12)  # cstore | stow | upload | import
    source_detail = Varchar(length=200, default="")  # calling AE, client, file name
    state = Varchar(length=16, default="received", index=True)
    version = Integer(default=1)
    spool_dir = Varchar(length=200, default="")  # received files awaiting the flow
    received_count = Integer(default=0)
    stored_count = Integer(default=0)
    duplicate_count = Integer(default=0)
    new_version_count = Integer(default=0)
    failed_count = Integer(default=0)
    received_bytes = BigInt(default=0)
    study_uids = JSON(default="[]")
    error = Text(default="")
    created_by = Integer(null=True, default=None)
    created_at = Timestamptz(index=True)
    finished_at = Timestamptz(null=True, default=None)


class MigrationItem(Table):
    """One received file of a run and what became of it (stored, duplicate, new_version,
    refused with the reason, failed)."""

    id = Serial(primary_key=True)
    migration = ForeignKey(MigrationRun, on_delete=OnDelete.cascade, index=True)
    file_name = Varchar(length=255, default="")
    sop_uid = Varchar(length=64, default="")
    study_uid = Varchar(length=64, default="")
    status = Varchar(length=16, default="received", index=True)
    code = Varchar(length=40, default="")
    reason = Text(default="")
    size_bytes = BigInt(default=0)


class MigrationLog(Table):
    """The billed cloud-migration log (SPEC 8.10): one row per study and run."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    migration = ForeignKey(MigrationRun, on_delete=OnDelete.restrict, index=True)
    study = ForeignKey(Study, on_delete=OnDelete.restrict, index=True)
    examination = Varchar(length=300, default="")  # accession, modality, description
    size_bytes = BigInt(default=0)
    billing_unit = Varchar(length=20, default="study")  # study | GB
    billing_quantity = Varchar(length=20, default="1")
    billing_entity = Varchar(length=200, default="")  # who pays: the hospital's name
    resource_package = Varchar(length=100, default="")
    validity_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz(index=True)


class StoragePolicy(Table):
    """A hospital's storage policy: when studies move to the archive tier, how long the
    storage is valid (billing), how long a retrieval stays available."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.cascade, unique=True)
    archive_after_days = Integer(default=365)
    validity_days = Integer(default=3650)
    available_hours = Integer(default=72)
    resource_package = Varchar(length=100, default="standard")
    billing_unit = Varchar(length=20, default="study")
    version = Integer(default=1)


class ArchiveRetrieval(Table):
    """A request to bring an archived study back (SPEC 9.2): requested → queued →
    restoring → available → rearchived (or failed), a case on the engine."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    study = ForeignKey(Study, on_delete=OnDelete.restrict, index=True)
    state = Varchar(length=16, default="requested", index=True)
    version = Integer(default=1)
    requested_by = Integer()
    reason = Varchar(length=300, default="")
    available_until = Timestamptz(null=True, default=None)
    error = Text(default="")
    created_at = Timestamptz(index=True)
    updated_at = Timestamptz()


class ApiToken(Table):
    """A per-user bearer token for DICOMweb clients; only its hash is kept."""

    id = Serial(primary_key=True)
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.cascade, index=True)
    name = Varchar(length=100)
    token_hash = Varchar(length=64, unique=True)
    prefix = Varchar(length=12)  # shown to admins to tell tokens apart
    created_by = Integer()
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class DicomNode(Table):
    """A known DICOM application entity (a hospital's PACS or modality) allowed to send
    to the C-STORE receiver; associations from unknown AE titles are refused."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.cascade, index=True)
    ae_title = Varchar(length=16, unique=True)
    host = Varchar(length=200, default="")  # the IP address it must call from
    # no host: refused unless the admin marked it "any address" explicitly (issue 12)
    any_address = Boolean(default=False)
    description = Varchar(length=200, default="")
    enabled = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


# ---------------------------------------------------------------------------------------------
# Remote diagnosis (SPEC 2, 8.4-8.6): dictionaries, report templates, knowledge base, the
# examination record of each study, reports with their versions, requests between hospitals.


class DeviceType(Table):
    """A kind of imaging device in a hospital's dictionary (SPEC 8.4), e.g. CT, DR."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    code = Varchar(length=16)  # usually the DICOM modality
    name = Varchar(length=100)
    active = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class Device(Table):
    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    device_type = ForeignKey(DeviceType, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=100)
    station_name = Varchar(length=64, default="")  # DICOM StationName / AE title it sends as
    model = Varchar(length=100, default="")
    active = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class BodyPart(Table):
    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    code = Varchar(length=32)  # DICOM BodyPartExamined, e.g. CHEST
    name = Varchar(length=100)
    active = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class CheckItem(Table):
    """A check type (SPEC 8.4, 8.5, 8.7): what templates and cloud-film rules attach to."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    code = Varchar(length=32)
    name = Varchar(length=100)
    device_type = ForeignKey(DeviceType, null=True, on_delete=OnDelete.set_null)
    body_part = ForeignKey(BodyPart, null=True, on_delete=OnDelete.set_null)
    exam_category = Varchar(length=40, default="")  # outpatient | inpatient | physical | emergency
    scanning_method = Varchar(length=60, default="")  # plain | enhanced | …
    cloud_film = Boolean(default=True)
    cloud_film_visible = Varchar(length=16, default="after_review")  # after_review | after_hours
    cloud_film_hours = Integer(default=0)
    active = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class ReportTemplate(Table):
    """A report template per check type (SPEC 8.5). ``scope``: hospital | department |
    personal; formats are text with {placeholders} of the shown fields."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=100)
    check_item = ForeignKey(CheckItem, null=True, on_delete=OnDelete.set_null, index=True)
    scope = Varchar(length=12, default="hospital")
    department = ForeignKey(Department, null=True, on_delete=OnDelete.set_null)
    owner = ForeignKey(User, null=True, on_delete=OnDelete.cascade)
    shown_fields = JSON(default="[]")
    title_format = Varchar(length=200, default="")
    header_format = Text(default="")
    findings_format = Text(default="")
    impression_format = Text(default="")
    footer_format = Text(default="")
    active = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class KnowledgePhrase(Table):
    """A diagnostic phrase of a hospital's knowledge base (SPEC 8.6)."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    category = Varchar(length=60, default="")  # e.g. body part or system
    title = Varchar(length=100)
    findings = Text(default="")
    impression = Text(default="")
    keywords = Varchar(length=200, default="")
    search_text = Text(default="")  # title + keywords + texts, lower-case, for search
    owner = ForeignKey(User, null=True, on_delete=OnDelete.cascade)  # null: the hospital's
    active = Boolean(default=True)
    created_at = Timestamptz()
    version = Integer(default=1)


class Examination(Table):
    """One examination of a patient in a hospital (issue 5 item 1), one per study, filled
    from DICOM at migration and editable by admins. ``status``: images_arrived |
    report_draft | initial_report | reviewed | printed. The patient and dictionary values
    are copied here so the list filters and sorts on one table (a million rows)."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    study = ForeignKey(Study, null=True, on_delete=OnDelete.set_null, unique=True)
    patient_name = Varchar(length=200, default="")
    patient_name_search = Varchar(length=200, default="", index=True)  # upper-case, for prefixes
    patient_sex = Varchar(length=4, default="")
    patient_birth_date = Varchar(length=8, default="")
    patient_id = Varchar(length=64, default="", index=True)  # the hospital's Patient ID
    patient_id_number = Varchar(length=32, default="", index=True)  # national ID
    patient_his_number = Varchar(length=64, default="", index=True)
    patient_phone = Varchar(length=32, default="")
    accession_number = Varchar(length=64, default="", index=True)
    check_item = ForeignKey(CheckItem, null=True, on_delete=OnDelete.set_null)
    check_item_name = Varchar(length=100, default="")
    device_type = Varchar(length=16, default="", index=True)  # modality code
    device_name = Varchar(length=100, default="")
    body_part = Varchar(length=64, default="")
    exam_category = Varchar(length=40, default="", index=True)
    scanning_method = Varchar(length=60, default="")
    department = ForeignKey(Department, null=True, on_delete=OnDelete.set_null, index=True)
    exam_time = Timestamptz(index=True)
    status = Varchar(length=16, default="images_arrived", index=True)
    print_time = Timestamptz(null=True, default=None, index=True)
    deleted_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    version = Integer(default=1)
    # The target hospital of the examination's open DiagnosisRequest (NULL when none): kept
    # by triggers on diagnosis_request (migration 2026-11-28T02:12:36), indexed with exam_time
    # and print_time for the diagnosing hospital's list.
    shared_with = ForeignKey(Hospital, null=True, default=None, on_delete=OnDelete.set_null)


class ExaminationCount(Table):
    """Examinations not soft-deleted, per hospital and status, for the list's status chips.
    Kept by database triggers on ``examination`` (migration 2026-11-28T01:00) in the
    transaction of every insert, update and delete, whoever writes the row; never written
    by the app."""

    id = Serial(primary_key=True)
    hospital = Integer()  # no foreign key: only the trigger writes it
    status = Varchar(length=16)
    n = BigInt(default=0)


class ExamReport(Table):
    """The report of an examination (SPEC 2.4-2.5): one editor at a time (lock), initial
    diagnosis, review; every saved version is an ExamReportVersion row."""

    id = Serial(primary_key=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)  # reporting hospital
    examination = ForeignKey(Examination, on_delete=OnDelete.cascade, unique=True)
    template = ForeignKey(ReportTemplate, null=True, on_delete=OnDelete.set_null)
    state = Varchar(length=16, default="draft", index=True)  # draft|initial|reviewed|returned
    title = Varchar(length=200, default="")
    findings = Text(default="")
    impression = Text(default="")
    revision = Integer(default=0)  # number of the latest ExamReportVersion
    author = Integer(null=True, default=None)
    initial_by = Integer(null=True, default=None)
    initial_at = Timestamptz(null=True, default=None)
    reviewer = Integer(null=True, default=None)
    reviewed_at = Timestamptz(null=True, default=None)
    returned_reason = Text(default="")
    lock_user = Integer(null=True, default=None)
    lock_until = Timestamptz(null=True, default=None)
    printed_at = Timestamptz(null=True, default=None)
    print_count = Integer(default=0)
    # the reviewed report stored into its study as DICOM (Encapsulated PDF), "" until then
    dicom_sop_uid = Varchar(length=64, default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()
    version = Integer(default=1)


class ExamReportVersion(Table):
    id = Serial(primary_key=True)
    report = ForeignKey(ExamReport, on_delete=OnDelete.cascade, index=True)
    revision = Integer()
    state = Varchar(length=16)
    title = Varchar(length=200, default="")
    findings = Text(default="")
    impression = Text(default="")
    author = Integer()
    note = Varchar(length=300, default="")  # "autosave", "initial diagnosis", a return reason
    created_at = Timestamptz()


class DiagnosisRequest(Table):
    """A remote-diagnosis request (SPEC 2.2), a case on the engine: requested → accepted |
    rejected → reporting → initial_report → reviewed | returned → printed; cancelled."""

    id = Serial(primary_key=True)
    examination = ForeignKey(Examination, on_delete=OnDelete.restrict, index=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)  # requesting
    target_hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)  # diagnosing
    state = Varchar(length=16, default="requested", index=True)
    version = Integer(default=1)
    requested_by = Integer()
    urgent = Boolean(default=False)
    clinical_info = Text(default="")
    decided_by = Integer(null=True, default=None)
    reason = Text(default="")
    created_at = Timestamptz(index=True)
    updated_at = Timestamptz()


class ExamShare(Table):
    """An examination shared with a colleague of the same hospital (SPEC 2.6)."""

    id = Serial(primary_key=True)
    examination = ForeignKey(Examination, on_delete=OnDelete.cascade, index=True)
    hospital = ForeignKey(Hospital, on_delete=OnDelete.restrict, index=True)
    from_user = ForeignKey(User, on_delete=OnDelete.cascade)
    to_user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    message = Varchar(length=300, default="")
    created_at = Timestamptz()
    read_at = Timestamptz(null=True, default=None)


class ListPreference(Table):
    """A user's choice and order of columns in a list (SPEC 2.1), persisted per list."""

    id = Serial(primary_key=True)
    pref_key = Varchar(length=80, unique=True)  # "<user>:<list name>"
    user = ForeignKey(User, on_delete=OnDelete.cascade, index=True)
    columns = JSON(default="[]")
    version = Integer(default=1)


ALL_TABLES: list[type[Table]] = [
    Alliance,
    Hospital,
    Department,
    Role,
    User,
    PasswordHistory,
    Session,
    QrLogin,
    ResetCode,
    RateLimit,
    AuditLog,
    Event,
    Outbox,
    Notification,
    CaseHistory,
    Timer,
    Consultation,
    ConsultationInvite,
    ConsultationParticipant,
    ConsultationReportVersion,
    Attachment,
    NotificationChannel,
    NotificationRule,
    Patient,
    Study,
    Series,
    Instance,
    MigrationRun,
    MigrationItem,
    MigrationLog,
    StoragePolicy,
    ArchiveRetrieval,
    ApiToken,
    DicomNode,
    DeviceType,
    Device,
    BodyPart,
    CheckItem,
    ReportTemplate,
    KnowledgePhrase,
    Examination,
    ExaminationCount,
    ExamReport,
    ExamReportVersion,
    DiagnosisRequest,
    ExamShare,
    ListPreference,
]

# Bound here, not found through PICCOLO_CONF: every process that imports the tables uses the
# engine of its settings, whatever started it (the command line, a Prefect worker's flow run,
# a test).
def _bind(tables: list[type[Table]]) -> None:
    for table in tables:
        table._meta.db = ENGINE


_bind(ALL_TABLES)
