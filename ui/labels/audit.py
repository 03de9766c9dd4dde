"""The audit log's target types (``AuditLog.target_type``) as the log shows and filters them.

Keys are prefixed ("target:study") because some codes are also words elsewhere ("study" is
the archive's per-study billing unit); the en catalogue names them in English, the zh one in
Chinese."""

from __future__ import annotations

AUDIT_TARGETS: tuple[str, ...] = (
    "user",
    "hospital",
    "department",
    "role",
    "alliance",
    "audit_log",
    "api_token",
    "examination",
    "study",
    "diagnosis_request",
    "exam_report",
    "exam_share",
    "consultation",
    "migration",
    "migration_log",
    "retrieval",
    "dicom_node",
    "check_item",
    "device",
    "device_type",
    "body_part",
    "report_template",
    "phrase",
    "notification_channel",
    "notification_rule",
    "list_preference",
)
