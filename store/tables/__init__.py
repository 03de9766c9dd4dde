"""The app database: the truth for accounts, hospitals, cases, audit and live events.

Rows never leave this package as ORM objects: services turn them into msgspec structs.
Every case-like row carries a ``version`` column for optimistic concurrency (DESIGN.md).

The tables are declared by area in this package's modules (``accounts``, ``cases``,
``imaging``, ``patients``, ``ward_rounds``); everyone imports them from here
(``from store.tables import X``), which is also the module the tables name as their home.
"""

from __future__ import annotations

from piccolo.table import Table

from store.db import ENGINE
from store.tables.accounts import (
    Alliance,
    ApiToken,
    Department,
    Hospital,
    PasswordHistory,
    QrLogin,
    RateLimit,
    ResetCode,
    Role,
    Session,
    User,
)
from store.tables.cases import (
    Attachment,
    AuditLog,
    CaseHistory,
    Consultation,
    ConsultationExamination,
    ConsultationInvite,
    ConsultationParticipant,
    ConsultationReportVersion,
    Event,
    Notification,
    NotificationChannel,
    NotificationRule,
    Outbox,
    Timer,
)
from store.tables.imaging import (
    ArchiveRetrieval,
    BodyPart,
    CheckItem,
    Device,
    DeviceType,
    DiagnosisRequest,
    DicomNode,
    Examination,
    ExaminationCount,
    ExamReport,
    ExamReportVersion,
    ExamShare,
    Instance,
    KnowledgePhrase,
    ListPreference,
    MigrationItem,
    MigrationLog,
    MigrationRun,
    Patient,
    ReportTemplate,
    Series,
    StoragePolicy,
    Study,
)
from store.tables.patients import (
    CloudFilmRule,
    PatientAccount,
    PatientCode,
    PatientDownload,
    PatientMatch,
    PatientPerson,
    PatientSession,
    PatientShare,
    PatientShareSession,
)
from store.tables.quality import QcCase, QcSeriesGrade, QcTask
from store.tables.recordings import Recording
from store.tables.statistics import StatDay, StatTurnaround
from store.tables.teaching import Course, CourseRange, LearningRecord
from store.tables.ward_rounds import (
    WardRound,
    WardRoundExamination,
    WardRoundExpert,
    WardRoundRecordVersion,
)

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
    PatientAccount,
    PatientPerson,
    ConsultationExamination,
    PatientSession,
    PatientCode,
    CloudFilmRule,
    PatientMatch,
    PatientShare,
    PatientShareSession,
    PatientDownload,
    WardRound,
    WardRoundExpert,
    WardRoundExamination,
    WardRoundRecordVersion,
    QcTask,
    QcCase,
    QcSeriesGrade,
    StatDay,
    StatTurnaround,
    Recording,
    Course,
    CourseRange,
    LearningRecord,
]


# Bound here, not found through PICCOLO_CONF: every process that imports the tables uses the
# engine of its settings, whatever started it (the command line, a Prefect worker's flow run,
# a test).
def _bind(tables: list[type[Table]]) -> None:
    for table in tables:
        table._meta.db = ENGINE
        # their public home, as numpy's ``set_module`` does: reprs, and the lookup of
        # tests/integration/test_migrations.py, name ``store.tables``
        table.__module__ = __name__


_bind(ALL_TABLES)
