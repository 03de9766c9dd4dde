"""English labels of the remote diagnosis's states and events; the catalogue gives the Chinese."""

from __future__ import annotations

STATE_LABELS: dict[str, str] = {
    "requested": "Waiting for acceptance",
    "accepted": "Accepted",
    "rejected": "Rejected",
    "cancelled": "Cancelled",
    "reporting": "Reporting",
    "initial_report": "Initial report",
    "reviewed": "Reviewed",
    "returned": "Returned for rework",
    "printed": "Printed",
}

EVENT_LABELS: dict[str, str] = {
    "create": "Requested",
    "accept": "Accepted",
    "reject": "Rejected",
    "cancel": "Cancelled",
    "draft": "Report draft saved",
    "initial": "Initial report",
    "approve": "Report reviewed",
    "return": "Report returned",
    "print": "Report printed",
}
