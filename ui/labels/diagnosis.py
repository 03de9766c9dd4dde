"""English labels of the remote diagnosis's states and events; the catalogue gives the Chinese."""

from __future__ import annotations

from kernel.i18n import N_

STATE_LABELS: dict[str, str] = {
    "requested": N_("Waiting for acceptance"),
    "accepted": N_("Accepted"),
    "rejected": N_("Rejected"),
    "cancelled": N_("Cancelled"),
    "reporting": N_("Reporting"),
    "initial_report": N_("Initial report"),
    "reviewed": N_("Reviewed"),
    "returned": N_("Returned for rework"),
    "printed": N_("Printed"),
}

EVENT_LABELS: dict[str, str] = {
    "create": N_("Requested"),
    "accept": N_("Accepted"),
    "reject": N_("Rejected"),
    "cancel": N_("Cancelled"),
    "draft": N_("Report draft saved"),
    "initial": N_("Initial report"),
    "approve": N_("Report reviewed"),
    "return": N_("Report returned"),
    "print": N_("Report printed"),
}
