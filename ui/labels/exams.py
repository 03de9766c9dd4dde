"""English labels of the examination list's columns and statuses; the catalogue gives Chinese."""

from __future__ import annotations

from api.exams.labels import STATUS_LABELS
from kernel.i18n import N_

COLUMN_LABELS: dict[str, str] = {
    "patient_name": N_("Patient name"),
    "patient_sex": N_("Sex"),
    "patient_age": N_("Age"),
    "patient_id": N_("Patient ID"),
    "accession_number": N_("Accession number"),
    "his_number": N_("HIS number"),
    "id_number": N_("ID number"),
    "check_item": N_("Check item"),
    "device_type": N_("Device type"),
    "body_part": N_("Body part"),
    "exam_category": N_("Exam category"),
    "scanning_method": N_("Scanning method"),
    "department": N_("Department"),
    "hospital": N_("Hospital"),
    "exam_time": N_("Exam time"),
    "print_time": N_("Print time"),
    "status": N_("Status"),
}

__all__ = ["COLUMN_LABELS", "STATUS_LABELS"]
