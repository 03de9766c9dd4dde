"""English labels of the report's identifiers (states, notes, fields); the catalogue gives
the Chinese."""

from __future__ import annotations

from kernel.i18n import N_

STATE_LABELS = {
    "": N_("Not started"),
    "draft": N_("Draft"),
    "initial": N_("Initial diagnosis"),
    "reviewed": N_("Reviewed"),
    "returned": N_("Returned"),
}

NOTE_LABELS = {
    "": N_("Saved"),
    "autosave": N_("Autosaved"),
    "initial diagnosis": N_("Initial diagnosis"),
    "approved": N_("Approved"),
}

FIELD_LABELS = {"title": N_("Title"), "findings": N_("Findings"), "impression": N_("Impression")}


def labels() -> dict[str, object]:
    return {"state_labels": STATE_LABELS, "note_labels": NOTE_LABELS, "field_labels": FIELD_LABELS}
