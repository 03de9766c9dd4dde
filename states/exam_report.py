"""The examination report (SPEC 2.4) as an explicit machine.

draft ─submit (impression written)─▶ initial ─approve─▶ reviewed
  ▲  ╲                                   │
  │   save (draft → draft)               └─return (reason)─▶ returned ─save─▶ draft
Saving a draft keeps the state; saving a returned report puts it back to draft, so the
author fixes it and submits it again. Who may act (report.write / report.review in the
reporting hospital, the author not reviewing his own report) is checked by the service
(403); the guards here check the business rules (409 with their sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.i18n import N_
from states.machine import Process, Said, Step, declare


class ExamReportState(StrEnum):
    draft = "draft"
    initial = "initial"
    reviewed = "reviewed"
    returned = "returned"


@dataclass(frozen=True)
class ExamReportFacts:
    impression: str = ""
    reason: str = ""


def impression_written(f: ExamReportFacts) -> str | None:
    return None if f.impression.strip() else "The impression is empty; write the diagnosis first."


def reason_given(f: ExamReportFacts) -> str | None:
    return None if f.reason.strip() else N_("Returning a report needs a reason for its author.")


S = ExamReportState
EDITABLE = (S.draft, S.returned)

EXAM_REPORT = Process(
    "exam_report",
    ExamReportState,
    S.draft,
    [
        Step("save", EDITABLE, S.draft),
        Step("submit", S.draft, S.initial, (impression_written,)),
        Step("approve", S.initial, S.reviewed),
        Step("return", S.initial, S.returned, (reason_given,)),
    ],
)

# What each step leaves besides its history row (bound in api/reports/steps.py): who is
# told (the notice named after what happened to the report) and which after-effects run.
# The lock's timeline steps (taken, freed, saved) are notes, not transitions
# (api/reports/lock.py).
EXAM_REPORT_STEPS = declare(
    EXAM_REPORT,
    {
        "save": Said(after=("draft written",)),
        "submit": Said(tell=("reviewers",), after=("initial diagnosis",), notice="submit_report"),
        "approve": Said(tell=("author",), after=("approval",), notice="review"),
        "return": Said(tell=("author",), after=("returned",)),
    },
)
