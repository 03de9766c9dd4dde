"""The examination statuses in words (English; the catalogue gives the Chinese): the list's
status column and chips (``ui/labels/exams.py``) and the statistics download."""

from __future__ import annotations

from kernel.i18n import N_

STATUS_LABELS: dict[str, str] = {
    "images_arrived": N_("Images arrived"),
    "report_draft": N_("Report draft"),
    "initial_report": N_("Initial report"),
    "reviewed": N_("Reviewed"),
    "printed": N_("Printed"),
}
