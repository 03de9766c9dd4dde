"""Remote ward round (SPEC 4) as an explicit machine.

scheduled ─start─▶ in_progress ─finish─▶ finished
    └─cancel─▶ cancelled

The applicant (a ward doctor of a county hospital) cancels before the start; the applicant
or an invited expert starts it from ``START_WINDOW_MINUTES`` before its time (the start
timer starts it at its time otherwise); the applicant finishes it once every expert wrote
an opinion and the conclusion is written. Who may act is the service's (403/404); the
guards here check the business rules (409 with their sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.i18n import N_, Msg
from states.machine import CREATE, Process, Said, Step, declare


class WardRoundState(StrEnum):
    scheduled = "scheduled"
    in_progress = "in_progress"
    finished = "finished"
    cancelled = "cancelled"


@dataclass(frozen=True)
class WardRoundFacts:
    minutes_to_start: float = 0.0  # negative once the start time has passed
    start_window: int = 15  # minutes before the start from which it may be started
    conclusion_length: int = 0
    experts_without_opinion: tuple[str, ...] = ()


def start_time_near(f: WardRoundFacts) -> str | None:
    if f.minutes_to_start > f.start_window:
        return Msg(
            "The ward round can be started from {minutes} minutes before its time.",
            minutes=f.start_window,
        )
    return None


def every_expert_gave_opinion(f: WardRoundFacts) -> str | None:
    if f.experts_without_opinion:
        return Msg(
            "Expert {names} has not written an opinion yet.",
            names="、".join(f.experts_without_opinion),
        )
    return None


def conclusion_written(f: WardRoundFacts) -> str | None:
    return None if f.conclusion_length > 0 else N_("The ward-round conclusion is empty.")


S = WardRoundState

WARD_ROUND = Process(
    "ward_round",
    WardRoundState,
    S.scheduled,
    [
        Step("start", S.scheduled, S.in_progress, (start_time_near,)),
        Step("cancel", S.scheduled, S.cancelled),
        Step("finish", S.in_progress, S.finished, (every_expert_gave_opinion, conclusion_written)),
    ],
)

# What a step leaves besides its history row (bound in api/ward_rounds/steps.py): the
# experts are invited at the creation (the applicant hears it went out); every later step
# tells everybody taking part. The start creates the meeting and the overrun timer; the
# end of a round takes its timers away.
WARD_ROUND_STEPS = declare(
    WARD_ROUND,
    {
        CREATE: Said(
            tell=("experts",),
            notice="invited",
            after=("experts", "timers"),
        ),
        "start": Said(tell=("people",), after=("meeting", "overrun timer")),
        "cancel": Said(tell=("people",), after=("timers off",)),
        "finish": Said(tell=("people",), after=("record finished", "timers off")),
    },
)
