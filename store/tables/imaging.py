"""Remote diagnosis (SPEC 2, 8.4-8.6): dictionaries, report templates, knowledge base, the
examination record of each study, reports with their versions, requests between hospitals.

Imaging (SPEC 2.3, 8.9-8.11, 9): the DICOM index, migration runs, billing log, archive tier.
A study belongs to one hospital; every query scopes by ``hospital``. Patient attributes are
copied onto the study row so QIDO study searches need no join (100,000+ studies).
Keys that must be unique per hospital are stored as one ``*_key`` column ("<hospital>:<uid>")
with a unique index, because Piccolo declares no composite unique constraints.
"""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table

from store.tables.accounts import Department, Hospital, SwitchableRecord, User


class Patient(Table):
    """A patient as a hospital's PACS identifies them (Patient ID + issuer)."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    patient_key = col.Varchar(length=200, unique=True)  # "<hospital>:<issuer>:<patient id>"
    patient_id = col.Varchar(length=64, index=True)
    issuer = col.Varchar(length=64, default="")
    name = col.Varchar(length=200, default="")  # DICOM PN as sent, e.g. "ZHANG^SAN=张三"
    birth_date = col.Varchar(length=8, default="")  # YYYYMMDD
    sex = col.Varchar(length=4, default="")
    id_number = col.Varchar(length=32, default="", index=True)  # national ID when known
    phone = col.Varchar(length=32, default="")
    created_at = col.Timestamptz()


class Study(Table):
    """One examination's images. ``tier``: online | archive (the files are in the archive
    container) | restoring | available (restored for a while, see ArchiveRetrieval)."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    patient = col.ForeignKey(Patient, on_delete=col.OnDelete.restrict, index=True)
    study_key = col.Varchar(length=80, unique=True)  # "<hospital>:<StudyInstanceUID>"
    study_uid = col.Varchar(length=64, index=True)
    study_date = col.Varchar(length=8, default="", index=True)  # YYYYMMDD
    study_time = col.Varchar(length=16, default="")
    accession_number = col.Varchar(length=64, default="", index=True)
    study_id = col.Varchar(length=16, default="")
    description = col.Varchar(length=200, default="")
    referring_physician = col.Varchar(length=200, default="")
    institution = col.Varchar(length=200, default="")
    modalities = col.Varchar(length=100, default="", index=True)  # "CT\\SR", sorted
    body_parts = col.Varchar(length=200, default="")
    # patient attributes copied for QIDO (match keys) and lists
    patient_id = col.Varchar(length=64, default="", index=True)
    patient_name = col.Varchar(length=200, default="")
    # upper-case, for prefixes
    patient_name_search = col.Varchar(length=200, default="", index=True)
    patient_birth_date = col.Varchar(length=8, default="")
    patient_sex = col.Varchar(length=4, default="")
    num_series = col.Integer(default=0)
    num_instances = col.Integer(default=0)
    size_bytes = col.BigInt(default=0)
    tier = col.Varchar(length=12, default="online", index=True)
    archived_at = col.Timestamptz(null=True, default=None)
    validity_until = col.Timestamptz(null=True, default=None)  # storage validity period (billing)
    thumbnail = col.Varchar(length=200, default="")  # file under <data>/thumbnails
    # its current instances whose pixel data the thumbnail step could not decode (each
    # instance's ``decode_error`` says why; the run's item and log name them too)
    undecodable = col.Integer(default=0)
    # what its DICOM states (kernel.priority: 0 routine, 1 urgent, 2 emergency), the highest
    # of its files; copied onto its examination when that is made
    priority = col.Integer(default=0)
    deleted_at = col.Timestamptz(null=True, default=None, index=True)  # soft delete (SPEC 8.11)
    deleted_by = col.Integer(null=True, default=None)
    created_at = col.Timestamptz(index=True)
    updated_at = col.Timestamptz()
    version = col.Integer(default=1)


class Series(Table):
    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    study = col.ForeignKey(Study, on_delete=col.OnDelete.cascade, index=True)
    series_key = col.Varchar(length=80, unique=True)  # "<hospital>:<SeriesInstanceUID>"
    series_uid = col.Varchar(length=64, index=True)
    modality = col.Varchar(length=16, default="", index=True)
    series_number = col.Integer(null=True, default=None)
    description = col.Varchar(length=200, default="")
    body_part = col.Varchar(length=64, default="")
    performed_start_date = col.Varchar(length=8, default="")
    num_instances = col.Integer(default=0)
    size_bytes = col.BigInt(default=0)
    created_at = col.Timestamptz()


class Instance(Table):
    """One stored SOP instance. Sending the same dataset again (whatever its file meta
    header) is a no-op; another dataset under the same SOP Instance UID becomes a new row with
    ``revision`` + 1 and the older row ``superseded`` (kept, reported in the migration run)."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    study = col.ForeignKey(Study, on_delete=col.OnDelete.cascade, index=True)
    series = col.ForeignKey(Series, on_delete=col.OnDelete.cascade, index=True)
    sop_uid = col.Varchar(length=64, index=True)
    # "<hospital>:<sop uid>:<revision>": two writers can never store the same revision (a
    # unique index made by raw SQL in its migration: SQLite cannot add a UNIQUE column)
    instance_key = col.Varchar(length=140, null=True, default=None)
    sop_class_uid = col.Varchar(length=64, default="")
    instance_number = col.Integer(null=True, default=None)
    transfer_syntax = col.Varchar(length=64, default="")
    rows = col.Integer(null=True, default=None)
    columns = col.Integer(null=True, default=None)
    frames = col.Integer(default=1)
    bits_allocated = col.Integer(null=True, default=None)
    photometric = col.Varchar(length=20, default="")
    size_bytes = col.BigInt(default=0)
    sha256 = col.Varchar(length=64)
    storage_path = col.Varchar(length=300)  # relative to the online root; never user-chosen
    revision = col.Integer(default=1)
    superseded = col.Boolean(default=False)
    migration = col.Integer(null=True, default=None, index=True)
    created_at = col.Timestamptz()
    # the decode of its first and last frame, done by the run's thumbnail step after the
    # file was acknowledged: pending | ok | undecodable (``decode_error`` says why)
    decode_state = col.Varchar(length=12, default="ok")
    decode_error = col.Text(default="")


class MigrationRun(Table):
    """A cloud-film migration run (SPEC 9.1), a case on the engine (states/migration.py).
    Parameters of its Prefect flow are this row's id only."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    source = col.Varchar(length=12)  # cstore | stow | upload | import
    source_detail = col.Varchar(length=200, default="")  # calling AE, client, file name
    state = col.Varchar(length=16, default="received", index=True)
    version = col.Integer(default=1)
    spool_dir = col.Varchar(length=200, default="")  # received files awaiting the flow
    received_count = col.Integer(default=0)
    stored_count = col.Integer(default=0)
    duplicate_count = col.Integer(default=0)
    new_version_count = col.Integer(default=0)
    failed_count = col.Integer(default=0)
    received_bytes = col.BigInt(default=0)
    study_uids = col.JSON(default="[]")
    error = col.Text(default="")
    created_by = col.Integer(null=True, default=None)
    created_at = col.Timestamptz(index=True)
    finished_at = col.Timestamptz(null=True, default=None)


class MigrationItem(Table):
    """One received file of a run and what became of it (stored, duplicate, new_version,
    refused with the reason, failed)."""

    id = col.Serial(primary_key=True)
    migration = col.ForeignKey(MigrationRun, on_delete=col.OnDelete.cascade, index=True)
    file_name = col.Varchar(length=255, default="")
    sop_uid = col.Varchar(length=64, default="")
    study_uid = col.Varchar(length=64, default="")
    status = col.Varchar(length=16, default="received", index=True)
    code = col.Varchar(length=40, default="")
    reason = col.Text(default="")
    size_bytes = col.BigInt(default=0)


class MigrationLog(Table):
    """The billed cloud-migration log (SPEC 8.10): one row per study and run."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    migration = col.ForeignKey(MigrationRun, on_delete=col.OnDelete.restrict, index=True)
    study = col.ForeignKey(Study, on_delete=col.OnDelete.restrict, index=True)
    examination = col.Varchar(length=300, default="")  # accession, modality, description
    size_bytes = col.BigInt(default=0)
    billing_unit = col.Varchar(length=20, default="study")  # study | GB
    billing_quantity = col.Varchar(length=20, default="1")
    billing_entity = col.Varchar(length=200, default="")  # who pays: the hospital's name
    resource_package = col.Varchar(length=100, default="")
    validity_until = col.Timestamptz(null=True, default=None)
    created_at = col.Timestamptz(index=True)


class StoragePolicy(Table):
    """A hospital's storage policy: when studies move to the archive tier, how long the
    storage is valid (billing), how long a retrieval stays available."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.cascade, unique=True)
    archive_after_days = col.Integer(default=365)
    validity_days = col.Integer(default=3650)
    available_hours = col.Integer(default=72)
    resource_package = col.Varchar(length=100, default="standard")
    billing_unit = col.Varchar(length=20, default="study")
    version = col.Integer(default=1)


class ArchiveRetrieval(Table):
    """A request to bring an archived study back (SPEC 9.2): requested → queued →
    restoring → available → rearchived (or failed), a case on the engine."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    study = col.ForeignKey(Study, on_delete=col.OnDelete.restrict, index=True)
    state = col.Varchar(length=16, default="requested", index=True)
    version = col.Integer(default=1)
    requested_by = col.Integer()
    reason = col.Varchar(length=300, default="")
    available_until = col.Timestamptz(null=True, default=None)
    error = col.Text(default="")
    created_at = col.Timestamptz(index=True)
    updated_at = col.Timestamptz()


class DicomNode(Table):
    """A known DICOM application entity (a hospital's PACS or modality) of one hospital;
    associations from unknown AE titles, or from a known one at another address, are
    refused at association time. What it may do: send (C-STORE), query (C-FIND), retrieve
    (C-MOVE / C-GET) its hospital's studies, and be the destination of a C-MOVE, which the
    node is sent to at ``host``:``port`` (issue 19)."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.cascade, index=True)
    ae_title = col.Varchar(length=16, unique=True)
    host = col.Varchar(length=200, default="")  # the IP address it must call from
    # no host: refused unless the admin marked it "any address" explicitly (issue 12)
    any_address = col.Boolean(default=False)
    description = col.Varchar(length=200, default="")
    enabled = col.Boolean(default=True)
    created_at = col.Timestamptz()
    version = col.Integer(default=1)
    port = col.Integer(default=0)  # where its own SCP listens (C-MOVE destination); 0: none
    may_store = col.Boolean(default=True)
    may_query = col.Boolean(default=False)
    may_retrieve = col.Boolean(default=False)
    move_destination = col.Boolean(default=False)


class DeviceType(SwitchableRecord, Table):
    """A kind of imaging device in a hospital's dictionary (SPEC 8.4), e.g. CT, DR."""

    id = col.Serial(primary_key=True)
    code = col.Varchar(length=16)  # usually the DICOM modality
    name = col.Varchar(length=100)


class Device(SwitchableRecord, Table):
    id = col.Serial(primary_key=True)
    device_type = col.ForeignKey(DeviceType, on_delete=col.OnDelete.restrict, index=True)
    name = col.Varchar(length=100)
    station_name = col.Varchar(length=64, default="")  # DICOM StationName / AE title it sends as
    model = col.Varchar(length=100, default="")


class BodyPart(SwitchableRecord, Table):
    id = col.Serial(primary_key=True)
    code = col.Varchar(length=32)  # DICOM BodyPartExamined, e.g. CHEST
    name = col.Varchar(length=100)


class CheckItem(SwitchableRecord, Table):
    """A check type (SPEC 8.4, 8.5, 8.7): what templates and cloud-film rules attach to."""

    id = col.Serial(primary_key=True)
    code = col.Varchar(length=32)
    name = col.Varchar(length=100)
    device_type = col.ForeignKey(DeviceType, null=True, on_delete=col.OnDelete.set_null)
    body_part = col.ForeignKey(BodyPart, null=True, on_delete=col.OnDelete.set_null)
    # outpatient | inpatient | physical | emergency
    exam_category = col.Varchar(length=40, default="")
    scanning_method = col.Varchar(length=60, default="")  # plain | enhanced | …
    cloud_film = col.Boolean(default=True)
    # after_review | after_hours
    cloud_film_visible = col.Varchar(length=16, default="after_review")
    cloud_film_hours = col.Integer(default=0)


class ReportTemplate(SwitchableRecord, Table):
    """A report template per check type (SPEC 8.5). ``scope``: hospital | department |
    personal; formats are text with {placeholders} of the shown fields."""

    id = col.Serial(primary_key=True)
    name = col.Varchar(length=100)
    check_item = col.ForeignKey(CheckItem, null=True, on_delete=col.OnDelete.set_null, index=True)
    scope = col.Varchar(length=12, default="hospital")
    department = col.ForeignKey(Department, null=True, on_delete=col.OnDelete.set_null)
    owner = col.ForeignKey(User, null=True, on_delete=col.OnDelete.cascade)
    shown_fields = col.JSON(default="[]")
    title_format = col.Varchar(length=200, default="")
    header_format = col.Text(default="")
    findings_format = col.Text(default="")
    impression_format = col.Text(default="")
    footer_format = col.Text(default="")


class KnowledgePhrase(SwitchableRecord, Table):
    """A diagnostic phrase of a hospital's knowledge base (SPEC 8.6)."""

    id = col.Serial(primary_key=True)
    category = col.Varchar(length=60, default="")  # e.g. body part or system
    title = col.Varchar(length=100)
    findings = col.Text(default="")
    impression = col.Text(default="")
    keywords = col.Varchar(length=200, default="")
    search_text = col.Text(default="")  # title + keywords + texts, lower-case, for search
    owner = col.ForeignKey(User, null=True, on_delete=col.OnDelete.cascade)  # null: the hospital's


class Examination(Table):
    """One examination of a patient in a hospital (issue 5 item 1), one per study, filled
    from DICOM at migration and editable by admins. ``status``: images_arrived |
    report_draft | initial_report | reviewed | printed. The patient and dictionary values
    are copied here so the list filters and sorts on one table (a million rows)."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    study = col.ForeignKey(Study, null=True, on_delete=col.OnDelete.set_null, unique=True)
    patient_name = col.Varchar(length=200, default="")
    # upper-case, for prefixes
    patient_name_search = col.Varchar(length=200, default="", index=True)
    patient_sex = col.Varchar(length=4, default="")
    patient_birth_date = col.Varchar(length=8, default="")
    patient_id = col.Varchar(length=64, default="", index=True)  # the hospital's Patient ID
    patient_id_number = col.Varchar(length=32, default="", index=True)  # national ID
    patient_his_number = col.Varchar(length=64, default="", index=True)
    patient_phone = col.Varchar(length=32, default="")
    accession_number = col.Varchar(length=64, default="", index=True)
    check_item = col.ForeignKey(CheckItem, null=True, on_delete=col.OnDelete.set_null)
    check_item_name = col.Varchar(length=100, default="")
    device_type = col.Varchar(length=16, default="", index=True)  # modality code
    device_name = col.Varchar(length=100, default="")
    body_part = col.Varchar(length=64, default="")
    exam_category = col.Varchar(length=40, default="", index=True)
    scanning_method = col.Varchar(length=60, default="")
    department = col.ForeignKey(Department, null=True, on_delete=col.OnDelete.set_null, index=True)
    exam_time = col.Timestamptz(index=True)
    status = col.Varchar(length=16, default="images_arrived", index=True)
    print_time = col.Timestamptz(null=True, default=None, index=True)
    deleted_at = col.Timestamptz(null=True, default=None)
    created_at = col.Timestamptz()
    updated_at = col.Timestamptz()
    version = col.Integer(default=1)
    # The target hospital of the examination's open DiagnosisRequest (NULL when none): kept
    # by triggers on diagnosis_request (migration 2026-11-28T02:12:36), indexed with exam_time
    # and print_time for the diagnosing hospital's list.
    shared_with = col.ForeignKey(Hospital, null=True, default=None, on_delete=col.OnDelete.set_null)
    # kernel.priority: 0 routine, 1 urgent, 2 emergency (issue 14 item 9); indexed with
    # (hospital | shared_with, priority, exam_time, id) by migration 2026-12-07T14:00
    priority = col.Integer(default=0)


class ExaminationCount(Table):
    """Examinations not soft-deleted, per hospital and status, for the list's status chips.
    Kept by database triggers on ``examination`` (migration 2026-11-28T01:00) in the
    transaction of every insert, update and delete, whoever writes the row; never written
    by the app."""

    id = col.Serial(primary_key=True)
    hospital = col.Integer()  # no foreign key: only the trigger writes it
    status = col.Varchar(length=16)
    n = col.BigInt(default=0)


class ExamReport(Table):
    """The report of an examination (SPEC 2.4-2.5): one editor at a time (lock), initial
    diagnosis, review; every saved version is an ExamReportVersion row."""

    id = col.Serial(primary_key=True)
    # reporting hospital
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.cascade, unique=True)
    template = col.ForeignKey(ReportTemplate, null=True, on_delete=col.OnDelete.set_null)
    state = col.Varchar(length=16, default="draft", index=True)  # draft|initial|reviewed|returned
    title = col.Varchar(length=200, default="")
    findings = col.Text(default="")
    impression = col.Text(default="")
    revision = col.Integer(default=0)  # number of the latest ExamReportVersion
    author = col.Integer(null=True, default=None)
    initial_by = col.Integer(null=True, default=None)
    initial_at = col.Timestamptz(null=True, default=None)
    reviewer = col.Integer(null=True, default=None)
    reviewed_at = col.Timestamptz(null=True, default=None)
    returned_reason = col.Text(default="")
    lock_user = col.Integer(null=True, default=None)
    lock_until = col.Timestamptz(null=True, default=None)
    printed_at = col.Timestamptz(null=True, default=None)
    print_count = col.Integer(default=0)
    # the reviewed report stored into its study as DICOM (Encapsulated PDF), "" until then
    dicom_sop_uid = col.Varchar(length=64, default="")
    created_at = col.Timestamptz()
    updated_at = col.Timestamptz()
    version = col.Integer(default=1)


class ExamReportVersion(Table):
    id = col.Serial(primary_key=True)
    report = col.ForeignKey(ExamReport, on_delete=col.OnDelete.cascade, index=True)
    revision = col.Integer()
    state = col.Varchar(length=16)
    title = col.Varchar(length=200, default="")
    findings = col.Text(default="")
    impression = col.Text(default="")
    author = col.Integer()
    note = col.Varchar(length=300, default="")  # "autosave", "initial diagnosis", a return reason
    created_at = col.Timestamptz()


class DiagnosisRequest(Table):
    """A remote-diagnosis request (SPEC 2.2), a case on the engine: requested → accepted |
    rejected → reporting → initial_report → reviewed | returned → printed; cancelled."""

    id = col.Serial(primary_key=True)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.restrict, index=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)  # requesting
    # diagnosing
    target_hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    state = col.Varchar(length=16, default="requested", index=True)
    version = col.Integer(default=1)
    requested_by = col.Integer()
    # kernel.priority: 0 routine, 1 urgent, 2 emergency (was the boolean ``urgent`` until
    # migration 2026-12-07T14:00); the lists page by (hospital, priority, id)
    priority = col.Integer(default=0)
    clinical_info = col.Text(default="")
    decided_by = col.Integer(null=True, default=None)
    reason = col.Text(default="")
    created_at = col.Timestamptz(index=True)
    updated_at = col.Timestamptz()


class ExamShare(Table):
    """An examination shared with a colleague of the same hospital (SPEC 2.6)."""

    id = col.Serial(primary_key=True)
    examination = col.ForeignKey(Examination, on_delete=col.OnDelete.cascade, index=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    from_user = col.ForeignKey(User, on_delete=col.OnDelete.cascade)
    to_user = col.ForeignKey(User, on_delete=col.OnDelete.cascade, index=True)
    message = col.Varchar(length=300, default="")
    created_at = col.Timestamptz()
    read_at = col.Timestamptz(null=True, default=None)


class ListPreference(Table):
    """A user's choice and order of columns in a list (SPEC 2.1), persisted per list."""

    id = col.Serial(primary_key=True)
    pref_key = col.Varchar(length=80, unique=True)  # "<user>:<list name>"
    user = col.ForeignKey(User, on_delete=col.OnDelete.cascade, index=True)
    columns = col.JSON(default="[]")
    density = col.Varchar(length=12, default="normal")  # row height: normal | compact
    version = col.Integer(default=1)
