"""Archive retrieval (SPEC 8.9, 9.2) as an explicit machine.

requested ─queue─▶ queued ─restore─▶ restoring ─ready─▶ available ─rearchive─▶ rearchived
    └──────────────────┴───────────────┴─fail─▶ failed
An admin requests (with a reason) and the request is queued for the dispatcher in the same
click; the ``retrieval-<id>`` flow restores and verifies the files, makes them available for
the hospital's ``available_hours``; a timer re-archives them. Who may request is checked by
the service (403); the guards here check the business rules (409 with their sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kernel.i18n import N_, Msg
from states.machine import Process, Said, Step, declare


class RetrievalState(StrEnum):
    requested = "requested"
    queued = "queued"
    restoring = "restoring"
    available = "available"
    rearchived = "rearchived"
    failed = "failed"


OPEN_STATES = ("requested", "queued", "restoring", "available")


@dataclass(frozen=True)
class RetrievalFacts:
    instances: int = 0  # instance rows of the study
    verified: int = 0  # restored files whose SHA-256 matched their instance row
    reason: str = ""  # a failure's reason
    available_until: datetime | None = None
    now: datetime | None = None


def all_files_verified(f: RetrievalFacts) -> str | None:
    if f.instances == 0:
        return N_("The study has no instances to restore.")
    if f.verified != f.instances:
        return Msg(
            "Only {verified} of {instances} restored files were verified.",
            verified=f.verified,
            instances=f.instances,
        )
    return None


def reason_given(f: RetrievalFacts) -> str | None:
    return None if f.reason.strip() else N_("A failure needs a reason.")


def availability_over(f: RetrievalFacts) -> str | None:
    if f.available_until is None or f.now is None:
        return N_("The retrieval has no end of availability.")
    if f.now < f.available_until:
        return Msg("The study stays available until {until}.", until=f.available_until.isoformat())
    return None


S = RetrievalState

RETRIEVAL = Process(
    "retrieval",
    RetrievalState,
    S.requested,
    [
        Step("queue", S.requested, S.queued),
        Step("restore", S.queued, S.restoring),
        Step("ready", S.restoring, S.available, (all_files_verified,)),
        Step("rearchive", S.available, S.rearchived, (availability_over,)),
        Step("fail", (S.requested, S.queued, S.restoring), S.failed, (reason_given,)),
    ],
)

# What each step leaves besides its history row (bound in api/archive/steps.py): a request
# creates the case; queueing hands it to the dispatcher; every later step touches the row and
# moves the study's tier with it, in the step's transaction.
RETRIEVAL_STEPS = declare(
    RETRIEVAL,
    {
        "request": Said(),
        "queue": Said(after=("touch", "dispatch")),
        "restore": Said(after=("touch",)),
        "ready": Said(after=("touch", "study available", "rearchive timer")),
        "rearchive": Said(after=("touch", "study archived", "timer fired")),
        "fail": Said(after=("touch", "error kept", "study back to archive")),
    },
    created="request",
)
