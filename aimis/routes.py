"""Every route handler of the app, collected for the composition root."""

from __future__ import annotations

from typing import Any

from litestar.static_files import create_static_files_router

from api.accounts.controllers import AuthController
from api.archive.controllers import ArchiveController, StudyRetrievalController
from api.consultations.controllers import (
    ConsultationController,
    ConsultationLogController,
    ContactsController,
)
from api.diagnosis.controllers import DiagnosisRequestController
from api.dicomweb.router import dicomweb_handlers
from api.dictionaries.controllers import (
    DictionaryController,
    KnowledgeController,
    TemplateController,
)
from api.exams.controllers import ExamController
from api.health import health
from api.ingest.controllers import IngestController
from api.management.controllers import (
    AuditController,
    DepartmentController,
    DoctorController,
    HospitalAdminAccountController,
    HospitalController,
    RoleController,
)
from api.notifications.controllers import (
    DeliveryLogController,
    MyNotificationsController,
    NotificationChannelController,
)
from api.patient_archive.controllers import CloudFilmRuleController
from api.patient_archive.download_routes import PatientDownloadController
from api.patient_archive.patient_routes import PatientArchiveController
from api.patient_shares.controllers import PatientShareController, RecipientController
from api.patient_shares.dicomweb import share_dicomweb_handlers
from api.patient_shares.viewer import ShareViewerController
from api.patients.controllers import PatientAuthController, PatientController
from api.quality.controllers import QualityController
from api.recordings.controllers import RecordingController, RecordingUploadController
from api.reports.controllers import ReportController
from api.reports.outputs import ReportOutputController
from api.shares.controllers import ShareController
from api.statistics.controllers import StatisticsController
from api.teaching.controllers import TeachingController
from api.tokens.controllers import TokenController
from api.viewer.controllers import ViewerController
from api.ward_rounds.controllers import WardRoundController
from kernel.paths import UI_DIR
from ui.archive_pages import ArchivePages
from ui.cloud_film_pages import CloudFilmPages
from ui.consultation_pages import ConsultationPages
from ui.diagnosis_pages import DiagnosisPages
from ui.dictionary_pages import DictionaryPages, TemplatePages
from ui.exam_pages import ExamPages
from ui.ingest_pages import IngestPages
from ui.management_pages import ManagementPages
from ui.notification_pages import NotificationPages
from ui.pages import AccountPages
from ui.patient_archive_pages import PatientArchivePages, PatientQrPages
from ui.patient_pages import PatientPages
from ui.patient_share_pages import PatientSharePages, RecipientPages
from ui.quality_pages import QualityPages
from ui.report_pages import ReportPages
from ui.share_pages import SharePages
from ui.statistics_pages import StatisticsPages
from ui.study_pages import StudyPages
from ui.teaching_pages import TeachingPages
from ui.token_pages import TokenPages
from ui.ward_round_pages import WardRoundPages


def route_handlers() -> list[Any]:
    return [
        AuthController,
        AccountPages,
        ManagementPages,
        DictionaryPages,
        TemplatePages,
        HospitalController,
        DepartmentController,
        DoctorController,
        HospitalAdminAccountController,
        RoleController,
        AuditController,
        DictionaryController,
        TemplateController,
        KnowledgeController,
        ContactsController,
        ConsultationController,
        TeachingController,
        ConsultationLogController,
        ConsultationPages,
        WardRoundController,
        WardRoundPages,
        TeachingPages,
        ExamController,
        DiagnosisRequestController,
        DiagnosisPages,
        ExamPages,
        ReportController,
        ReportPages,
        ReportOutputController,
        ShareController,
        SharePages,
        ArchiveController,
        StudyRetrievalController,
        ArchivePages,
        IngestController,
        IngestPages,
        NotificationChannelController,
        MyNotificationsController,
        DeliveryLogController,
        NotificationPages,
        CloudFilmRuleController,
        CloudFilmPages,
        ViewerController,
        StudyPages,
        TokenController,
        TokenPages,
        PatientAuthController,
        PatientController,
        PatientArchiveController,
        PatientDownloadController,
        PatientPages,
        PatientArchivePages,
        PatientQrPages,
        PatientShareController,
        RecipientController,
        *share_dicomweb_handlers(),
        ShareViewerController,
        PatientSharePages,
        RecipientPages,
        StatisticsController,
        StatisticsPages,
        *dicomweb_handlers(),
        QualityController,
        QualityPages,
        RecordingUploadController,
        RecordingController,
        health,
        create_static_files_router(
            path="/vendor/htmx",
            directories=[UI_DIR / "node_modules" / "htmx.org" / "dist"],
            include_in_schema=False,
        ),
        create_static_files_router(
            path="/vendor/mermaid",
            directories=[UI_DIR / "node_modules" / "mermaid" / "dist"],
            include_in_schema=False,
        ),
        create_static_files_router(
            path="/vendor/echarts",
            directories=[UI_DIR / "node_modules" / "echarts" / "dist"],
            include_in_schema=False,
        ),
        create_static_files_router(
            path="/vendor/tus",
            directories=[UI_DIR / "node_modules" / "tus-js-client" / "dist"],
            include_in_schema=False,
        ),
    ]
