"""The audit log's target types (``AuditLog.target_type``) as the log shows and filters them.

Keys are prefixed ("target:study") because some codes are also words elsewhere ("study" is
the archive's per-study billing unit); the en catalogue names them in English, the zh one in
Chinese."""

from __future__ import annotations

from store.scoping import PATIENT_AUDIT_TARGETS

# About running the alliance and its hospitals (an alliance admin reads these too).
ADMINISTRATIVE_TARGETS: tuple[str, ...] = (
    "user",
    "hospital",
    "department",
    "role",
    "alliance",
    "audit_log",
    "api_token",
    "dicom_node",
    "check_item",
    "device",
    "device_type",
    "body_part",
    "report_template",
    "phrase",
    "notification_channel",
    "notification_rule",
    "cloud_film_rule",
)
# Then the targets about a patient's data, as the scoping rule names them.
AUDIT_TARGETS: tuple[str, ...] = ADMINISTRATIVE_TARGETS + tuple(sorted(PATIENT_AUDIT_TARGETS))
