"""The hospital of a patient-realm audit row (issue 15 point 10).

A patient belongs to no hospital, but what she does with an examination — opening it,
viewing or downloading its images, sharing it, scanning its report's code, the share
link's openings — is that examination's hospital's business: its admin's operation log
(``api.management.audit``, ``store.scoping.audit_clause``: ``AuditLog.hospital_id``) lists
it. ``hospital_of`` names the hospital of a row's target: an examination's own, a share
link's or a download request's examination's. The alliance admin never reads these rows:
their target types are ``store.scoping.PATIENT_AUDIT_TARGETS``.
"""

from __future__ import annotations

from piccolo.table import Table

from store.tables import Examination, PatientDownload, PatientShare

EXAMINATION = "examination"
# the target types that are rows of one examination (their ``examination`` column)
OF_EXAMINATION: dict[str, type[Table]] = {
    "patient_share": PatientShare,
    "patient_download": PatientDownload,
}


def _id(target_id: object) -> int | None:
    text = str(target_id)
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None


async def hospital_of(target_type: str, target_id: object) -> int | None:
    """The examination's hospital a patient-realm row concerns, or None (her account, her
    persons, an examination that does not exist)."""
    row_id = _id(target_id)
    if row_id is None:
        return None
    if target_type == EXAMINATION:
        row = await Examination.select(Examination.hospital).where(Examination.id == row_id).first()
    elif (table := OF_EXAMINATION.get(target_type)) is not None:
        examination = table._meta.get_column_by_name("examination")
        row = (
            await table.select(examination.hospital.as_alias("hospital"))  # type: ignore[attr-defined]
            .where(table._meta.primary_key == row_id)
            .first()
        )
    else:
        return None
    return int(row["hospital"]) if row and row["hospital"] is not None else None
