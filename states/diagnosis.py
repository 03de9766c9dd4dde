"""Remote diagnosis request (SPEC 2.2) as an explicit machine.

requested ─accept─▶ accepted ─draft─▶ reporting ─initial─▶ initial_report ─approve─▶ reviewed
    │ ╲─reject [reason]─▶ rejected          ▲                      │                  │
    └─cancel─▶ cancelled                    └──draft── returned ◀─return─┘          print
                                                                                    ▼ printed
A lower-level hospital sends one of its examinations to a diagnosing hospital of its
alliance; the diagnosing hospital accepts or rejects it (with a reason); the requester may
cancel it until it is accepted. From acceptance on the request follows the report the
diagnosing hospital writes (``api.diagnosis.steps.follow_report``). Rejected and cancelled are
closed: the examination is no longer shared. Who may act (the requester's users, the target
hospital's reporters) is checked by the service (403/404); the guards here check the
business rules (409 with their sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.i18n import N_
from states.machine import CREATE, Process, Said, Step, declare


class DiagnosisState(StrEnum):
    requested = "requested"
    accepted = "accepted"
    rejected = "rejected"
    cancelled = "cancelled"
    reporting = "reporting"
    initial_report = "initial_report"
    reviewed = "reviewed"
    returned = "returned"
    printed = "printed"


@dataclass(frozen=True)
class DiagnosisFacts:
    reason: str = ""  # a rejection's reason


def reason_given(f: DiagnosisFacts | None) -> str | None:
    if f is None or not f.reason.strip():
        return N_("A rejection needs a reason.")
    return None


S = DiagnosisState
CLOSED = (S.rejected, S.cancelled)
OPEN = tuple(s for s in S if s not in CLOSED)
# Once accepted, the diagnosing hospital writes the report.
ACCEPTED = (S.accepted, S.reporting, S.initial_report, S.reviewed, S.returned, S.printed)
# The report steps ``follow_report`` takes, and the states where each one changes nothing.
REPORT_STEPS = ("draft", "initial", "approve", "return", "print")
NO_OP = {"draft": (S.reporting,), "print": (S.printed,)}

DIAGNOSIS = Process(
    "diagnosis_request",
    DiagnosisState,
    S.requested,
    [
        Step("accept", S.requested, S.accepted),
        Step("reject", S.requested, S.rejected, (reason_given,)),
        Step("cancel", S.requested, S.cancelled),
        Step("draft", (S.accepted, S.returned), S.reporting),
        Step("initial", S.reporting, S.initial_report),
        Step("approve", S.initial_report, S.reviewed),
        Step("return", S.initial_report, S.returned),
        Step("print", S.reviewed, S.printed),
    ],
)

# What each step leaves besides its history row (bound in api/diagnosis/steps.py): the
# request row's own columns and the examination lists of both hospitals change; the target
# hospital's reporters hear of a new or cancelled request, the requesting doctor of a
# decision, the review and the print.
_CHANGES = ("request row", "examination lists")
DIAGNOSIS_STEPS = declare(
    DIAGNOSIS,
    {
        CREATE: Said(tell=("target reporters",), after=("examination lists",)),
        "accept": Said(tell=("requester",), after=_CHANGES),
        "reject": Said(tell=("requester",), after=_CHANGES),
        "cancel": Said(tell=("target reporters",), after=_CHANGES),
        "draft": Said(after=_CHANGES),
        "initial": Said(after=_CHANGES),
        "approve": Said(tell=("requester",), after=_CHANGES, notice="review"),
        "return": Said(after=_CHANGES),
        "print": Said(tell=("requester",), after=_CHANGES),
    },
)
