"""The one place that decides which rows an actor may see (issue: scoping in one place).

Every read of a hospital-owned table goes through ``visible``/``get_visible`` (or the clauses
below); every table with a ``hospital`` column is classified here, once:

- **administrative rows** (``ADMINISTRATIVE_TABLES``): hospitals, accounts, departments,
  roles, dictionaries, templates, notification settings, storage policies, API tokens,
  DICOM nodes. A hospital admin or a doctor sees his own hospital's; an alliance admin
  those of every hospital of his alliance.
- **patient rows** (everything else, ``PATIENT_TABLES`` names them): patients, studies,
  series, instances, examinations, reports, diagnosis requests, shares, consultations and
  their files, migration runs (their files name patients' studies), the migration log,
  archive retrievals. Only the people of the owning hospital see them (its doctors and its
  hospital admin, ``patient_hospital_ids``); the alliance admin sees **none** (SPEC
  "Users": alliance-wide storage and statistics as aggregates, never a patient's data).
  A table nobody classified counts as patient rows: a new table is closed until someone
  opens it here (``tests/unit/test_scoping_tables.py`` makes them decide).
- **soft delete** (SPEC 8.11) is one rule here too: a study deleted by its hospital's admin
  takes its examination with it (``api.archive.deletion`` marks both in one transaction), and
  every row hanging off either (series, instances, reports, colleague shares, diagnosis
  requests, retrievals, consultation attachments) is deleted with it (``DELETED_BY``).
  ``visible``, ``get_visible``, ``visible_images`` and ``store.examinations`` leave deleted
  rows out; only the admins' restore view asks for them (``deleted=True``), and
  deleting/restoring itself for both (``deleted=None``). Restoring clears the mark and
  everything is back. A table pointing at a study or examination is in ``DELETED_BY`` or
  kept on purpose (``KEPT_WHEN_DELETED``: the billed migration log);
  ``tests/unit/test_scoping_tables.py`` makes a new one decide.
- later processes widen the patient view explicitly: ``visible_images`` adds the studies
  shared with the actor's hospital by an open remote diagnosis request (SPEC 2.2: the
  diagnosing hospital reads exactly those images), for the viewer paths only (DICOMweb,
  mobile); ``store.examinations`` does the same for examinations.
- ``consultation_exams_sql``: the examinations attached to a consultation (SPEC 3.1, 3.3)
  (``consultation_examination``) are read, images and report, by the doctors taking part in
  it (its participants, the applicant among them, and the expert named on each invitation
  whose department has not declined; a department invited without a named expert gives its
  doctors nothing) while it is not withdrawn, rejected or cancelled: exactly those
  examinations, nothing else of the patient, never a deleted one (an attachment is deleted
  with its examination, ``DELETED_BY``). ``images_clause`` and
  ``store.examinations.examination_clause`` add it. The examinations attached to a remote
  ward round (``ward_round_examination``, SPEC 4) are read the same way by its applicant and
  its invited experts while it is not cancelled.
A row outside the scope is reported as not found, so its existence does not leak.
"""

from __future__ import annotations

from typing import Any, TypeVar

from piccolo.columns.combination import Where, WhereRaw
from piccolo.query.functions.aggregate import Count
from piccolo.table import Table

from kernel.errors import NotFound
from kernel.i18n import N_
from store.tables import (
    ApiToken,
    ArchiveRetrieval,
    Attachment,
    AuditLog,
    BodyPart,
    CheckItem,
    CloudFilmRule,
    Consultation,
    ConsultationExamination,
    ConsultationInvite,
    Course,
    Department,
    Device,
    DeviceType,
    DiagnosisRequest,
    DicomNode,
    Examination,
    ExaminationCount,
    ExamReport,
    ExamShare,
    Hospital,
    Instance,
    KnowledgePhrase,
    LearningRecord,
    MigrationLog,
    MigrationRun,
    NotificationChannel,
    NotificationRule,
    Patient,
    PatientDownload,
    PatientMatch,
    PatientShare,
    QcCase,
    QcSeriesGrade,
    QcTask,
    Recording,
    ReportTemplate,
    Role,
    Series,
    StatDay,
    StatTurnaround,
    StoragePolicy,
    Study,
    User,
    WardRound,
    WardRoundExamination,
)
from store.uow import Actor

T = TypeVar("T", bound=Table)

NOTHING = WhereRaw("1 = 0")

# Rows about running the alliance and its hospitals: an alliance admin sees his alliance's.
ADMINISTRATIVE_TABLES: frozenset[type[Table]] = frozenset(
    {
        ApiToken,
        BodyPart,
        CheckItem,
        CloudFilmRule,
        Department,
        Device,
        DeviceType,
        DicomNode,
        Hospital,
        KnowledgePhrase,
        NotificationChannel,
        NotificationRule,
        ReportTemplate,
        Role,
        StoragePolicy,
        User,
    }
)
# Rows that hold or name a patient's data: the owning hospital's people only.
PATIENT_TABLES: frozenset[type[Table]] = frozenset(
    {
        Patient,
        Study,
        Series,
        Instance,
        Examination,
        ExamReport,
        DiagnosisRequest,
        ExamShare,
        Consultation,
        ConsultationInvite,
        Attachment,
        MigrationRun,
        MigrationLog,
        ArchiveRetrieval,
        PatientMatch,
        WardRound,
        QcTask,  # quality control (SPEC 7): its cases are examinations of the hospital
        QcCase,
        QcSeriesGrade,
        Recording,  # owner-side: who sees one is its owner's answer (api.recordings.access)
        Course,  # its people only; the teaching range narrows it (api.teaching.access)
        LearningRecord,  # the person's own, his hospital admin's export (api.teaching)
    }
)
# Counts kept per hospital (no row of a patient): read as aggregates (``hospital_figures``).
AGGREGATE_TABLES: frozenset[type[Table]] = frozenset({ExaminationCount, StatDay, StatTurnaround})
# Audit target types that are about a patient's data (reads and changes of it): an
# alliance admin reads the audit rows about administration only.
PATIENT_AUDIT_TARGETS = frozenset(
    {
        "patient_account",  # the patient realm (issue 15): never the alliance admin's
        "patient_person",
        "patient_code",
        "patient_share",
        "patient_download",
        "examination",
        "study",
        "series",
        "instance",
        "diagnosis_request",
        "exam_report",
        "exam_share",
        "consultation",
        "migration",
        "migration_log",
        "retrieval",
        "list_preference",
        "patient_match",
        "qc_task",
        "qc_case",
        "recording",
        "course",
        "learning_record",
    }
)
PATIENT_KINDS = frozenset({"doctor", "hospital_admin"})
# The refusal every route that shows patient data gives an alliance admin.
NO_PATIENT_DATA = N_(
    "An alliance administrator sees hospitals, their administrators and alliance-wide "
    "storage and statistics, never a patient's data; each hospital's own doctors and "
    "administrator work with its examinations."
)


def sees_patient_data(actor: Actor | None) -> bool:
    """Whether ``actor`` may read any patient's data at all: the doctors and the hospital
    admin of a hospital (their own hospital's). Alliance admins and accounts without a
    hospital never."""
    return actor is not None and actor.kind in PATIENT_KINDS and actor.hospital_id is not None


def patient_hospital_ids(actor: Actor) -> list[int]:
    """The hospitals whose patient rows ``actor`` reads as their owner: his own, or none."""
    return [int(actor.hospital_id)] if sees_patient_data(actor) and actor.hospital_id else []


def is_patient_table(table: type[Table]) -> bool:
    return table not in ADMINISTRATIVE_TABLES


def hospital_ids_clause(table: type[Table], actor: Actor) -> Where | WhereRaw | Any:
    """A where-clause limiting ``table`` (Hospital, or any table with a ``hospital`` column)."""
    if table is Hospital:
        if actor.kind == "alliance_admin" and actor.alliance_id is not None:
            return Hospital.alliance == actor.alliance_id
        if actor.hospital_id is not None:
            return Hospital.id == actor.hospital_id
        return NOTHING
    hospital_col = table._meta.get_column_by_name("hospital")
    if is_patient_table(table):
        own = patient_hospital_ids(actor)
        return hospital_col == own[0] if own else NOTHING
    if actor.kind == "alliance_admin" and actor.alliance_id is not None:
        return hospital_col.alliance == actor.alliance_id  # type: ignore[attr-defined]
    if actor.hospital_id is not None:
        return hospital_col == actor.hospital_id
    return NOTHING


# The tables deleted with their study or examination (SPEC 8.11), each with the foreign keys
# from it to the row that carries ``deleted_at``.
_DELETED_THROUGH: dict[type[Table], tuple[str, ...]] = {
    Study: (),
    Series: ("study",),
    Instance: ("study",),
    ArchiveRetrieval: ("study",),
    Examination: (),
    ExamReport: ("examination",),
    ExamShare: ("examination",),
    DiagnosisRequest: ("examination",),
    ConsultationExamination: ("examination",),
    PatientMatch: ("examination",),
    PatientShare: ("examination",),  # a link to a deleted examination opens nothing
    PatientDownload: ("examination",),  # nor does a download link
    WardRoundExamination: ("examination",),
}
DELETED_BY = frozenset(_DELETED_THROUGH)
# Rows that point at a study or examination and stay when it is deleted: the billed migration
# log records what arrived and was billed, which a deletion does not undo.
# So is a QC evaluation: the task's figures keep the case the evaluator scored.
KEPT_WHEN_DELETED: frozenset[type[Table]] = frozenset({MigrationLog, QcCase})


def _deleted_at(table: type[Table]) -> Any:
    """The column that says a row of ``table`` is soft-deleted, or None for a table that is
    never deleted."""
    if table not in _DELETED_THROUGH:
        return None
    column: Any = table
    for foreign_key in _DELETED_THROUGH[table]:
        column = getattr(column, foreign_key)
    return column.deleted_at


def deletion_clauses(table: type[Table], deleted: bool | None = False) -> list[Any]:
    """The soft-delete rule as where-clauses: ``False`` the rows not deleted (every list, page,
    search, count and DICOMweb answer), ``True`` the deleted ones (the admins' restore view),
    ``None`` both (deleting and restoring). Nothing for a table that is never deleted."""
    column = _deleted_at(table)
    if column is None or deleted is None:
        return []
    return [column.is_not_null() if deleted else column.is_null()]


def not_deleted(table: type[Table]) -> Any:
    """The one clause "this row is not soft-deleted" of a table in ``DELETED_BY``."""
    return deletion_clauses(table)[0]


def visible(table: type[T], actor: Actor, *columns: Any, deleted: bool | None = False) -> Any:
    """``SELECT`` from ``table`` limited to what ``actor`` may see; soft-deleted rows only
    when asked for (``deletion_clauses``)."""
    return table.select(*columns).where(
        hospital_ids_clause(table, actor), *deletion_clauses(table, deleted)
    )


# Studies of other hospitals shared with hospital {} by a remote diagnosis request that is
# not rejected or cancelled: ``examination.shared_with``, kept by database triggers on
# diagnosis_request (the rule of store.examinations.examination_branches). One small
# subquery on the (shared_with, exam_time, id) index, read once per statement; a study's
# own-hospital rows still pass on the plain hospital test.
_SHARED_STUDIES = (
    "SELECT examination.study FROM examination WHERE examination.shared_with = {} "
    "AND examination.study IS NOT NULL AND examination.deleted_at IS NULL"
)
_STUDY_COLUMN = {Study: "study.id", Series: "series.study", Instance: "instance.study"}


# "Examination {exam} is attached to a consultation doctor {} takes part in"
# (``consultation_examination``, written by api/consultations/exams.py): as a participant (the
# applicant and those who joined) or as the expert named on a department's invitation that has
# not declined, while the consultation is not withdrawn, rejected or cancelled. A department
# invited without a named expert gives its doctors nothing: its reviewers see the case to
# decide, and read the examinations once they join or are named (SPEC 3.2).
# Correlated with the examination it asks about, never the set of everything granted: a few
# index lookups per examination (consultation_examination.examination, the consultation's
# key, participant / invitation by consultation), however many consultations the doctor
# takes part in (docs/benchmarks.md "Attached examinations").
_ATTACHED = (
    "EXISTS (SELECT 1 FROM consultation_examination ce "
    "JOIN consultation c ON c.id = ce.consultation "
    "WHERE ce.examination = {exam} AND c.state NOT IN ('withdrawn', 'rejected', 'cancelled') "
    "AND (EXISTS (SELECT 1 FROM consultation_participant p "
    'WHERE p.consultation = ce.consultation AND p."user" = {{}}) '
    "OR EXISTS (SELECT 1 FROM consultation_invite i WHERE i.consultation = ce.consultation "
    "AND i.expert = {{}} AND i.decision <> 'deny')))"
)


# The same for a remote ward round (SPEC 4): its applicant and its invited experts read the
# examinations attached to it while it is not cancelled.
_WARD_ATTACHED = (
    "EXISTS (SELECT 1 FROM ward_round_examination we "
    "JOIN ward_round w ON w.id = we.ward_round "
    "WHERE we.examination = {exam} AND w.state <> 'cancelled' "
    "AND (w.applicant = {{}} OR EXISTS (SELECT 1 FROM ward_round_expert x "
    "WHERE x.ward_round = we.ward_round AND x.expert = {{}})))"
)


def consultation_exams_sql(actor: Actor, exam: str) -> tuple[str, tuple[Any, ...]] | None:
    """The condition "the examination whose id is the SQL expression ``exam`` is attached to
    a consultation or a ward round ``actor`` takes part in", with its arguments; None for
    anybody but a doctor of a hospital. (Whether it is deleted is the caller's:
    ``not_deleted``.)"""
    if not sees_patient_data(actor) or actor.kind != "doctor":
        return None
    sql = f"({_ATTACHED.format(exam=exam)} OR {_WARD_ATTACHED.format(exam=exam)})"
    return sql, (actor.user_id,) * 4


def images_clause(table: type[Table], actor: Actor) -> Where | WhereRaw | Any:
    """``hospital_ids_clause`` for studies, series and instances, widened by the studies
    shared with the actor's hospital for remote diagnosis and those of the examinations
    attached to the consultations he takes part in."""
    own = hospital_ids_clause(table, actor)
    if sees_patient_data(actor) and table in _STUDY_COLUMN:
        own = own | WhereRaw(f"{_STUDY_COLUMN[table]} IN ({_SHARED_STUDIES})", actor.hospital_id)
        granted = consultation_exams_sql(actor, "ge.id")
        if granted is not None:
            sql, args = granted
            own = own | WhereRaw(
                f"EXISTS (SELECT 1 FROM examination ge WHERE ge.study = {_STUDY_COLUMN[table]} "
                f"AND ge.deleted_at IS NULL AND {sql})",
                *args,
            )
    return own & not_deleted(table) if table in DELETED_BY else own


def study_images(table: type[T], study_id: int, *columns: Any) -> Any:
    """``SELECT`` of the images (Study, Series, Instance) of one study, never a soft-deleted
    one: what a patient's share link shows its recipient, who has no hospital
    (``api.patient_shares.dicomweb``, through ``api.dicomweb.access.StudyScope``)."""
    own = WhereRaw(f"{_STUDY_COLUMN[table]} = {{}}", study_id)
    return table.select(*columns).where(own & not_deleted(table) if table in DELETED_BY else own)


def visible_images(table: type[T], actor: Actor, *columns: Any) -> Any:
    """``SELECT`` of images (Study, Series, Instance) the actor may view: his hospital's and
    those shared with it by an open remote diagnosis request. Only for reading images;
    managing them (archive, deletion, migration) stays with the owning hospital. Never a
    soft-deleted one."""
    return table.select(*columns).where(images_clause(table, actor))


async def get_visible(
    table: type[T], row_id: int, actor: Actor, what: str, deleted: bool | None = False
) -> dict[str, Any]:
    query = visible(table, actor, deleted=deleted)
    row = await query.where(table._meta.primary_key == row_id).first()
    if row is None:
        raise NotFound(f"No {what} with id {row_id} exists, or it belongs to another hospital.")
    return row


async def can_see_hospital(actor: Actor, hospital_id: int) -> bool:
    """May ``actor`` see this hospital's administrative rows (its record, settings)?"""
    return bool(
        await Hospital.exists().where(
            hospital_ids_clause(Hospital, actor), Hospital.id == hospital_id
        )
    )


def sees_patients_of(actor: Actor, hospital_id: int) -> bool:
    """May ``actor`` see the patient rows of this hospital as its owner (its live topic
    ``hospital:<id>`` carries the examinations', requests' and runs' events)?"""
    return hospital_id in patient_hospital_ids(actor)


async def audit_clause(actor: Actor) -> Where | WhereRaw | Any:
    """Audit rows an admin may read (SPEC 8.10): a hospital admin those of his hospital; an
    alliance admin those written by his alliance's accounts or about its hospitals, except
    the rows about patients' data (``PATIENT_AUDIT_TARGETS``: who read or changed which
    examination is the hospital's business) and refusals of other people's requests (their
    text may quote a search)."""
    if actor.kind == "alliance_admin" and actor.alliance_id is not None:
        rows = await Hospital.select(Hospital.id).where(Hospital.alliance == actor.alliance_id)
        clause = AuditLog.alliance_id == actor.alliance_id
        ids = [r["id"] for r in rows]
        scope = clause | AuditLog.hospital_id.is_in(ids) if ids else clause
        administrative = AuditLog.target_type.not_in(sorted(PATIENT_AUDIT_TARGETS))
        own_or_administrative = (AuditLog.target_type != "") | (AuditLog.user_id == actor.user_id)
        return scope & administrative & own_or_administrative
    if actor.kind == "hospital_admin" and actor.hospital_id is not None:
        return AuditLog.hospital_id == actor.hospital_id
    return NOTHING


async def hospital_figures(actor: Actor) -> dict[int, dict[str, int]]:
    """Aggregates per hospital whose administrative rows ``actor`` sees (an alliance admin:
    every hospital of his alliance): how many studies and examinations it keeps. Counts
    only, never a row of a patient: what the alliance admin sees of patient data (SPEC
    "Users": alliance-wide storage and statistics)."""
    ids = [int(r["id"]) for r in await visible(Hospital, actor, Hospital.id)]
    figures = {h: {"studies": 0, "examinations": 0} for h in ids}
    if not ids:
        return figures
    studies = (
        await Study.select(Study.hospital, Count(Study.id, alias="n"))
        .where(Study.hospital.is_in(ids), not_deleted(Study))
        .group_by(Study.hospital)
    )
    for row in studies:
        figures[int(row["hospital"])]["studies"] = int(row["n"])
    kept = await ExaminationCount.select(ExaminationCount.hospital, ExaminationCount.n).where(
        ExaminationCount.hospital.is_in(ids)
    )
    for row in kept:
        figures[int(row["hospital"])]["examinations"] += max(int(row["n"]), 0)
    return figures
