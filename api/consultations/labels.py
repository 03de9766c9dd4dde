"""English labels of the consultation's identifiers (states, triggers, roles): templates call
``_(state_labels[state])``, and the catalogue (``locale/``) gives the Chinese."""

from __future__ import annotations

from typing import Any

from kernel.i18n import N_

STATE_LABELS = {
    "reviewing": N_("Under review"),
    "scheduled": N_("Scheduled"),
    "in_progress": N_("In progress"),
    "finished": N_("Finished"),
    "rejected": N_("Rejected"),
    "withdrawn": N_("Withdrawn"),
    "cancelled": N_("Cancelled"),
}

EVENT_LABELS = {
    "create": N_("Applied for the consultation"),
    "agree": N_("Agreed"),
    "deny": N_("Denied"),
    "adjust_expert": N_("Changed the expert"),
    "start": N_("Started the consultation"),
    "withdraw": N_("Withdrew the application"),
    "cancel": N_("Cancelled the consultation"),
    "submit_report": N_("Submitted the report"),
    "attach": N_("Added a file"),
    "exam_attach": N_("Attached an examination"),
    "exam_detach": N_("Removed an examination"),
    "save_report": N_("Saved the report"),
}

DECISION_LABELS = {
    "": N_("Undecided"),
    "agree": N_("Agreed"),
    "agree_join": N_("Agreed and joined"),
    "deny": N_("Denied"),
}

ROLE_LABELS = {
    "applicant": N_("Applicant"),
    "participant": N_("Participant"),
    "expert": N_("Expert"),
    "reviewer": N_("Reviewer"),
}

SEX_LABELS = {"": "", "male": N_("Male"), "female": N_("Female"), "other": N_("Other")}

ACTION_LABELS = {
    "start": N_("Start the consultation"),
    "withdraw": N_("Withdraw"),
    "cancel": N_("Cancel the consultation"),
    "submit_report": N_("Submit the report"),
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
