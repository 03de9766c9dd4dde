"""English labels of the report's identifiers (states, notes, fields); the catalogue gives
the Chinese."""

from __future__ import annotations

STATE_LABELS = {
    "": "Not started",
    "draft": "Draft",
    "initial": "Initial diagnosis",
    "reviewed": "Reviewed",
    "returned": "Returned",
}

NOTE_LABELS = {
    "": "Saved",
    "autosave": "Autosaved",
    "initial diagnosis": "Initial diagnosis",
    "approved": "Approved",
}

FIELD_LABELS = {"title": "Title", "findings": "Findings", "impression": "Impression"}


def labels() -> dict[str, object]:
    return {"state_labels": STATE_LABELS, "note_labels": NOTE_LABELS, "field_labels": FIELD_LABELS}
