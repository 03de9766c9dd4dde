"""Vocabulary shared by every layer: feature modules, permissions, account kinds."""

from __future__ import annotations

from enum import StrEnum


class Module(StrEnum):
    """Feature modules a hospital switches on or off (SPEC intro)."""

    remote_diagnosis = "remote_diagnosis"
    consultation = "consultation"
    ward_round = "ward_round"
    teaching = "teaching"
    statistics = "statistics"
    quality_control = "quality_control"
    cloud_film = "cloud_film"


class Permission(StrEnum):
    """What a role may do inside its hospital (SPEC 8.3)."""

    report_write = "report.write"
    report_review = "report.review"
    report_print = "report.print"
    consultation_apply = "consultation.apply"
    consultation_review = "consultation.review"
    ward_round_apply = "ward_round.apply"
    teaching_host = "teaching.host"
    qc_evaluate = "qc.evaluate"
    qc_manage = "qc.manage"  # create QC tasks, read the QC statistics (SPEC 7)
    statistics_view = "statistics.view"
    statistics_download = "statistics.download"
    share = "share"
    admin = "admin"


class Kind(StrEnum):
    """Account kinds; who adds whom follows SPEC 1.6."""

    alliance_admin = "alliance_admin"
    hospital_admin = "hospital_admin"
    doctor = "doctor"


ADMIN_KINDS = frozenset({Kind.alliance_admin, Kind.hospital_admin})

# Roles every new hospital starts with; hospital admins edit them afterwards.
DEFAULT_ROLES: dict[str, list[Permission]] = {
    "Radiologist": [
        Permission.report_write,
        Permission.report_print,
        Permission.consultation_apply,
        Permission.ward_round_apply,
        Permission.share,
    ],
    "Senior radiologist": [
        Permission.report_write,
        Permission.report_review,
        Permission.report_print,
        Permission.consultation_apply,
        Permission.consultation_review,
        Permission.ward_round_apply,
        Permission.qc_evaluate,
        Permission.qc_manage,
        Permission.statistics_view,
        Permission.statistics_download,
        Permission.share,
    ],
    "Clinician": [Permission.consultation_apply, Permission.ward_round_apply, Permission.share],
}
