"""Image quality control task (SPEC 7.1–7.2) as an explicit machine.

draft ─sample─▶ sampling ─sampled─▶ evaluating ─complete─▶ completed
  ▲               │                     │ ╲─arbitrate─▶ arbitration ─complete─▶ completed
  └─nothing_drawn─┘                     │
draft, sampling, evaluating, arbitration ─cancel─▶ cancelled
The sampling flow (``flows/quality.py``) draws the sample and takes ``sampled`` (or
``nothing_drawn`` with its reason: the task is a draft again). When the last case is
evaluated the task completes, or goes to arbitration while a RADPEER 2b, 3a or 3b waits
for the arbitrator. Who may act is checked by the service (403); the guards here check the
business rules (409 with their sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.i18n import N_, Msg
from states.machine import CREATE, Process, Said, Step, declare


class QcState(StrEnum):
    draft = "draft"
    sampling = "sampling"
    evaluating = "evaluating"
    arbitration = "arbitration"
    completed = "completed"
    cancelled = "cancelled"


GRADES = ("excellent", "good", "acceptable", "reject")  # 甲 / 乙 / 丙 / 废片
RADPEER = ("1", "2a", "2b", "3a", "3b")
ARBITRATED = frozenset({"2b", "3a", "3b"})  # a clinically significant discrepancy
OBJECTS = ("images", "initial_report", "review_report")
SCORE_RANGE = (0, 100)


@dataclass(frozen=True)
class QcFacts:
    evaluators: int = 0
    drawn: int = 0  # cases the sampling drew
    pending: int = 0  # cases not evaluated yet
    waiting: int = 0  # cases waiting for the arbitrator
    reason: str = ""


def evaluators_named(f: QcFacts) -> str | None:
    return None if f.evaluators > 0 else N_("The task names no evaluator.")


def cases_drawn(f: QcFacts) -> str | None:
    return None if f.drawn > 0 else N_("The sampling drew no examination.")


def reason_given(f: QcFacts) -> str | None:
    return None if f.reason.strip() else N_("Say why the sampling drew nothing.")


def all_evaluated(f: QcFacts) -> str | None:
    if f.pending:
        return Msg("{n} case(s) are not evaluated yet.", n=f.pending)
    return None


def arbitration_waits(f: QcFacts) -> str | None:
    return None if f.waiting else N_("No case waits for arbitration.")


def nothing_waits(f: QcFacts) -> str | None:
    if f.waiting:
        return Msg("{n} case(s) wait for the arbitrator.", n=f.waiting)
    return None


S = QcState
OPEN = (S.draft, S.sampling, S.evaluating, S.arbitration)

QUALITY = Process(
    "qc_task",
    QcState,
    S.draft,
    [
        Step("sample", S.draft, S.sampling, (evaluators_named,)),
        Step("sampled", S.sampling, S.evaluating, (cases_drawn,)),
        Step("nothing_drawn", S.sampling, S.draft, (reason_given,)),
        Step("arbitrate", S.evaluating, S.arbitration, (all_evaluated, arbitration_waits)),
        Step(
            "complete", (S.evaluating, S.arbitration), S.completed, (all_evaluated, nothing_waits)
        ),
        Step("cancel", OPEN, S.cancelled),
    ],
)

# What each step leaves besides its history row (bound in api/quality/steps.py): starting
# the sampling hands it to the dispatcher (the ``qc.sample`` outbox row); the drawn sample
# tells the evaluators their cases wait; arbitration tells the arbitrator; the end of the
# task tells everyone named on it.
QUALITY_STEPS = declare(
    QUALITY,
    {
        CREATE: Said(after=("touch",)),
        "sample": Said(after=("touch", "dispatch")),
        "sampled": Said(tell=("evaluators",), after=("touch",)),
        "nothing_drawn": Said(tell=("manager",), after=("touch", "note kept")),
        "arbitrate": Said(tell=("arbitrator",), after=("touch",)),
        "complete": Said(tell=("manager", "evaluators", "arbitrator"), after=("touch",)),
        "cancel": Said(tell=("evaluators", "arbitrator"), after=("touch",)),
    },
)
