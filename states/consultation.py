"""Remote consultation (SPEC 3.1–3.5) as an explicit machine.

reviewing ─agree (last mandatory)─▶ scheduled ─start─▶ in_progress ─submit_report─▶ finished
    │ ╲─deny (mandatory)─▶ rejected         │
    └─withdraw─▶ withdrawn                  └─cancel─▶ cancelled
Decisions of non-mandatory departments and expert adjustments keep the state.
Who may act (the applicant, a reviewer of the department) is checked by the service (403);
the guards here check the business rules (409 with their sentence).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from kernel.i18n import N_, Msg
from states.machine import CREATE, Process, Said, Step, Tell, declare


class ConsultationState(StrEnum):
    reviewing = "reviewing"
    scheduled = "scheduled"
    in_progress = "in_progress"
    finished = "finished"
    rejected = "rejected"
    withdrawn = "withdrawn"
    cancelled = "cancelled"


@dataclass(frozen=True)
class InviteFact:
    department_id: int
    department_name: str
    mandatory: bool
    decision: str  # "" | agree | agree_join | deny


@dataclass(frozen=True)
class ConsultationFacts:
    invites: tuple[InviteFact, ...]
    department_id: int | None = None  # the department a decision or adjustment is for
    reason: str = ""  # a denial's reason
    report_length: int = 0


def _invite(f: ConsultationFacts) -> InviteFact | None:
    return next((i for i in f.invites if i.department_id == f.department_id), None)


def department_undecided(f: ConsultationFacts) -> str | None:
    invite = _invite(f)
    if invite is None:
        return N_("This department is not invited to the consultation.")
    if invite.decision:
        return Msg(
            "{department} has already decided ({decision}).",
            department=invite.department_name,
            decision=Msg(invite.decision.replace("_", " "), context="consultation decision"),
        )
    return None


def completes_mandatory(f: ConsultationFacts) -> str | None:
    """This agreement is the last mandatory one missing."""
    missing = [
        i
        for i in f.invites
        if i.mandatory
        and i.decision not in ("agree", "agree_join")
        and i.department_id != f.department_id
    ]
    invite = _invite(f)
    if missing or invite is None or not invite.mandatory:
        return N_("other mandatory departments have not agreed yet")
    return None


def is_mandatory(f: ConsultationFacts) -> str | None:
    invite = _invite(f)
    return None if invite and invite.mandatory else N_("the department is not mandatory")


def not_mandatory(f: ConsultationFacts) -> str | None:
    invite = _invite(f)
    return N_("the department is mandatory") if invite and invite.mandatory else None


def reason_given(f: ConsultationFacts) -> str | None:
    return None if f.reason.strip() else N_("A denial needs a reason.")


def all_mandatory_agreed(f: ConsultationFacts) -> str | None:
    for invite in f.invites:
        if invite.mandatory and invite.decision not in ("agree", "agree_join"):
            return Msg(
                "Mandatory department {department} has not agreed.",
                department=invite.department_name,
            )
    return None


def report_written(f: ConsultationFacts) -> str | None:
    return None if f.report_length > 0 else N_("The consultation report is empty.")


S = ConsultationState
OPEN = (S.reviewing, S.scheduled)

CONSULTATION = Process(
    "consultation",
    ConsultationState,
    S.reviewing,
    [
        Step("agree", S.reviewing, S.scheduled, (department_undecided, completes_mandatory)),
        Step("agree", S.reviewing, S.reviewing, (department_undecided,)),
        Step("agree", S.scheduled, S.scheduled, (department_undecided,)),
        Step("deny", S.reviewing, S.rejected, (department_undecided, reason_given, is_mandatory)),
        Step("deny", S.reviewing, S.reviewing, (department_undecided, reason_given, not_mandatory)),
        Step("deny", S.scheduled, S.scheduled, (department_undecided, reason_given, not_mandatory)),
        Step("adjust_expert", S.reviewing, S.reviewing, (department_undecided,)),
        Step("adjust_expert", S.scheduled, S.scheduled),
        Step("start", OPEN, S.in_progress, (all_mandatory_agreed,)),
        Step("withdraw", S.reviewing, S.withdrawn),
        Step("cancel", S.scheduled, S.cancelled),
        Step("submit_report", S.in_progress, S.finished, (report_written,)),
    ],
)

# What a step leaves besides its history row (bound in api/consultations/steps.py): who is
# told and which after-effects run, in the step's transaction. Each person gets one notice
# per step, the first that names him (SPEC 3.6): the applicant hears that his request went
# out (not "please review"), the invited departments' reviewers that it waits for them, the
# chosen experts that they are invited; a changed expert's old one that he is replaced; the
# expert of a department that declines that it did (he takes no part any more).
_DECIDED = Said(tell=("people",), after=("decision",))
_DENIED = Said(tell=("people", "declined expert"), after=("decision",))
_ENDS = Said(tell=("people", "undecided reviewers"), after=("reminder off",))
CONSULTATION_STEPS = declare(
    CONSULTATION,
    {
        CREATE: Said(
            also=(Tell("submitted", ("applicant",)), Tell("create", ("invited reviewers",))),
            tell=("invited experts",),
            notice="invited",
            after=("invites and applicant", "reminder"),
        ),
        "agree": _DECIDED,
        "deny": _DENIED,
        "adjust_expert": Said(
            also=(
                Tell("expert_assigned", ("new expert",)),
                Tell("expert_replaced", ("replaced expert",)),
            ),
            tell=("people",),
            after=("expert",),
        ),
        "start": Said(tell=("people",), after=("reminder off", "meeting")),
        "withdraw": _ENDS,
        "cancel": _ENDS,
        "submit_report": Said(tell=("people",), after=("report submitted",)),
    },
)
