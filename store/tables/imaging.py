"""Remote diagnosis (SPEC 2, 8.4-8.6): dictionaries, report templates, knowledge base, the
examination record of each study, reports with their versions, requests between hospitals.

Imaging (SPEC 2.3, 8.9-8.11, 9): the DICOM index, migration runs, billing log, archive tier.
A study belongs to one hospital; every query scopes by ``hospital``. Patient attributes are
copied onto the study row so QIDO study searches need no join (100,000+ studies).
Keys that must be unique per hospital are stored as one ``*_key`` column ("<hospital>:<uid>")
with a unique index, because Piccolo declares no composite unique constraints.
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

from store.tables.accounts import Department, Hospital, SwitchableRecord, User


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
    """One stored SOP instance. Sending the same dataset again (whatever its file meta
    header) is a no-op; another dataset under the same SOP Instance UID becomes a new row with
    ``revision`` + 1 and the older row ``superseded`` (kept, reported in the migration run)."""

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


class DeviceType(SwitchableRecord, Table):
    """A kind of imaging device in a hospital's dictionary (SPEC 8.4), e.g. CT, DR."""

    id = Serial(primary_key=True)
    code = Varchar(length=16)  # usually the DICOM modality
    name = Varchar(length=100)


class Device(SwitchableRecord, Table):
    id = Serial(primary_key=True)
    device_type = ForeignKey(DeviceType, on_delete=OnDelete.restrict, index=True)
    name = Varchar(length=100)
    station_name = Varchar(length=64, default="")  # DICOM StationName / AE title it sends as
    model = Varchar(length=100, default="")


class BodyPart(SwitchableRecord, Table):
    id = Serial(primary_key=True)
    code = Varchar(length=32)  # DICOM BodyPartExamined, e.g. CHEST
    name = Varchar(length=100)


class CheckItem(SwitchableRecord, Table):
    """A check type (SPEC 8.4, 8.5, 8.7): what templates and cloud-film rules attach to."""

    id = Serial(primary_key=True)
    code = Varchar(length=32)
    name = Varchar(length=100)
    device_type = ForeignKey(DeviceType, null=True, on_delete=OnDelete.set_null)
    body_part = ForeignKey(BodyPart, null=True, on_delete=OnDelete.set_null)
    exam_category = Varchar(length=40, default="")  # outpatient | inpatient | physical | emergency
    scanning_method = Varchar(length=60, default="")  # plain | enhanced | …
    cloud_film = Boolean(default=True)
    cloud_film_visible = Varchar(length=16, default="after_review")  # after_review | after_hours
    cloud_film_hours = Integer(default=0)


class ReportTemplate(SwitchableRecord, Table):
    """A report template per check type (SPEC 8.5). ``scope``: hospital | department |
    personal; formats are text with {placeholders} of the shown fields."""

    id = Serial(primary_key=True)
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


class KnowledgePhrase(SwitchableRecord, Table):
    """A diagnostic phrase of a hospital's knowledge base (SPEC 8.6)."""

    id = Serial(primary_key=True)
    category = Varchar(length=60, default="")  # e.g. body part or system
    title = Varchar(length=100)
    findings = Text(default="")
    impression = Text(default="")
    keywords = Varchar(length=200, default="")
    search_text = Text(default="")  # title + keywords + texts, lower-case, for search
    owner = ForeignKey(User, null=True, on_delete=OnDelete.cascade)  # null: the hospital's


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
