"""English labels of the examination list's columns and statuses; the catalogue gives Chinese."""

from __future__ import annotations

COLUMN_LABELS: dict[str, str] = {
    "patient_name": "Patient name",
    "patient_sex": "Sex",
    "patient_age": "Age",
    "patient_id": "Patient ID",
    "accession_number": "Accession number",
    "his_number": "HIS number",
    "id_number": "ID number",
    "check_item": "Check item",
    "device_type": "Device type",
    "body_part": "Body part",
    "exam_category": "Exam category",
    "scanning_method": "Scanning method",
    "department": "Department",
    "hospital": "Hospital",
    "exam_time": "Exam time",
    "print_time": "Print time",
    "status": "Status",
}

STATUS_LABELS: dict[str, str] = {
    "images_arrived": "Images arrived",
    "report_draft": "Report draft",
    "initial_report": "Initial report",
    "reviewed": "Reviewed",
    "printed": "Printed",
}
