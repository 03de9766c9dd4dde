"""Remote diagnosis request (SPEC 2.2) as an explicit machine.

requested ─accept─▶ accepted ─draft─▶ reporting ─initial─▶ initial_report ─approve─▶ reviewed
    │ ╲─reject [reason]─▶ rejected          ▲                      │                  │
    └─cancel─▶ cancelled                    └──draft── returned ◀─return─┘          print
                                                                                    ▼ printed
A lower-level hospital sends one of its examinations to a diagnosing hospital of its
alliance; the diagnosing hospital accepts or rejects it (with a reason); the requester may
cancel it until it is accepted. From acceptance on the request follows the report the
diagnosing hospital writes (``store.diagnosis.follow_report``). Rejected and cancelled are
closed: the examination is no longer shared. Who may act (the requester's users, the target
hospital's reporters) is checked by the service (403/404); the guards here check the
business rules (409 with their sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.i18n import N_
from states.machine import Process, Step


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
