"""Remote teaching (SPEC §5): a live course as an explicit machine.

draft ─publish─▶ published ─start─▶ live ─end─▶ ended ─recording_ready─▶ recording_available
  └──────cancel──────┴─▶ cancelled
Who may act (the lecturer, his hospital admin) is checked by the service (403); the guards
here check the business rules (409 with their sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kernel.i18n import N_
from states.machine import CREATE, Process, Said, Step, declare


class CourseState(StrEnum):
    draft = "draft"
    published = "published"
    live = "live"
    ended = "ended"
    recording_available = "recording_available"
    cancelled = "cancelled"


@dataclass(frozen=True)
class CourseFacts:
    range_size: int = 0  # entries of the teaching range
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    now: datetime | None = None
    recording_ready: bool = False


def has_range(f: CourseFacts) -> str | None:
    return (
        None if f.range_size > 0 else N_("A course needs a teaching range before it is published.")
    )


def ends_after_start(f: CourseFacts) -> str | None:
    if f.starts_at is None or f.ends_at is None or f.ends_at <= f.starts_at:
        return N_("A course must end after it starts.")
    return None


def not_over(f: CourseFacts) -> str | None:
    if f.now is not None and f.ends_at is not None and f.now >= f.ends_at:
        return N_("The course's time is over.")
    return None


def recording_ready(f: CourseFacts) -> str | None:
    return None if f.recording_ready else N_("The course has no ready recording yet.")


S = CourseState

COURSE = Process(
    "course",
    CourseState,
    S.draft,
    [
        Step("publish", S.draft, S.published, (has_range, ends_after_start, not_over)),
        Step("start", S.published, S.live, (not_over,)),
        Step("end", S.live, S.ended),
        Step(
            "recording_ready",
            (S.ended, S.recording_available),
            S.recording_available,
            (recording_ready,),
        ),
        Step("cancel", (S.draft, S.published), S.cancelled),
    ],
)

# What a step leaves besides its history row (bound in api/teaching/steps.py): publishing
# tells the people in range and sets the "starts soon" reminder; the end of the course's
# time and a cancellation take the reminder off.
COURSE_STEPS = declare(
    COURSE,
    {
        CREATE: Said(after=("range rows",)),
        "publish": Said(tell=("range",), notice="published", after=("reminder",)),
        "start": Said(tell=("range",), after=("reminder off",)),
        "end": Said(after=("reminder off",)),
        "recording_ready": Said(tell=("range",)),
        "cancel": Said(tell=("range",), after=("reminder off",)),
    },
)
