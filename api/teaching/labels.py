"""English labels of the course's identifiers (states, steps, learning statuses): templates
call ``_(labels.state[state])``, and the catalogue (``locale/``) gives the Chinese."""

from __future__ import annotations

from kernel.i18n import N_

STATE = {
    "draft": N_("Draft"),
    "published": N_("Published"),
    "live": N_("Live"),
    "ended": N_("Ended"),
    "recording_available": N_("Recording available"),
    "cancelled": N_("Cancelled"),
}
STEP = {
    "publish": N_("Publish"),
    "start": N_("Start"),
    "end": N_("End"),
    "cancel": N_("Cancel"),
}
STATUS = {
    "not_started": N_("Not started"),
    "in_progress": N_("In progress"),
    "finished": N_("Finished"),
}
