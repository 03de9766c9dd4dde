"""English labels of the consultation's identifiers (states, triggers, roles): templates call
``_(state_labels[state])``, and the catalogue (``locale/``) gives the Chinese."""

from __future__ import annotations

from typing import Any

STATE_LABELS = {
    "reviewing": "Under review",
    "scheduled": "Scheduled",
    "in_progress": "In progress",
    "finished": "Finished",
    "rejected": "Rejected",
    "withdrawn": "Withdrawn",
    "cancelled": "Cancelled",
}

EVENT_LABELS = {
    "create": "Applied for the consultation",
    "agree": "Agreed",
    "deny": "Denied",
    "adjust_expert": "Changed the expert",
    "start": "Started the consultation",
    "withdraw": "Withdrew the application",
    "cancel": "Cancelled the consultation",
    "submit_report": "Submitted the report",
    "attach": "Added a file",
    "save_report": "Saved the report",
}

DECISION_LABELS = {
    "": "Undecided",
    "agree": "Agreed",
    "agree_join": "Agreed and joined",
    "deny": "Denied",
}

ROLE_LABELS = {
    "applicant": "Applicant",
    "participant": "Participant",
    "expert": "Expert",
    "reviewer": "Reviewer",
}

SEX_LABELS = {"": "", "male": "Male", "female": "Female", "other": "Other"}

ACTION_LABELS = {
    "start": "Start the consultation",
    "withdraw": "Withdraw",
    "cancel": "Cancel the consultation",
    "submit_report": "Submit the report",
}


def labels() -> dict[str, Any]:
    """The label tables for a template context."""
    return {
        "state_labels": STATE_LABELS,
        "event_labels": EVENT_LABELS,
        "decision_labels": DECISION_LABELS,
        "role_labels": ROLE_LABELS,
        "sex_labels": SEX_LABELS,
        "action_labels": ACTION_LABELS,
    }
