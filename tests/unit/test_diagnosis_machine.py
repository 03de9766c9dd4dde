"""The remote diagnosis request machine, decided from facts alone (no database): every
allowed step and every refused one."""

from __future__ import annotations

import pytest

from states.diagnosis import (
    ACCEPTED,
    CLOSED,
    DIAGNOSIS,
    OPEN,
    REPORT_STEPS,
    DiagnosisFacts,
    DiagnosisState,
)

pytestmark = pytest.mark.unit
S = DiagnosisState
REASON = DiagnosisFacts(reason="no radiologist on duty")

ALLOWED = {
    (S.requested, "accept"): S.accepted,
    (S.requested, "reject"): S.rejected,
    (S.requested, "cancel"): S.cancelled,
    (S.accepted, "draft"): S.reporting,
    (S.returned, "draft"): S.reporting,
    (S.reporting, "initial"): S.initial_report,
    (S.initial_report, "approve"): S.reviewed,
    (S.initial_report, "return"): S.returned,
    (S.reviewed, "print"): S.printed,
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("trigger", DIAGNOSIS.triggers)
def test_every_step_from_every_state(state: DiagnosisState, trigger: str) -> None:
    decision = DIAGNOSIS.decide(state, trigger, REASON)
    dest = ALLOWED.get((state, trigger))
    assert decision.allowed is (dest is not None)
    if dest is not None:
        assert decision.dest == dest
    else:
        readable = trigger.replace("_", " ")
        assert decision.reason == f"You cannot {readable} a diagnosis_request that is {state}."


def test_a_rejection_needs_a_reason() -> None:
    for facts in (None, DiagnosisFacts(), DiagnosisFacts(reason="   ")):
        decision = DIAGNOSIS.decide(S.requested, "reject", facts)
        assert not decision.allowed and decision.reason == "A rejection needs a reason."


def test_cancel_only_before_acceptance() -> None:
    assert [s for s in S if DIAGNOSIS.decide(s, "cancel").allowed] == [S.requested]


def test_closed_and_printed_are_the_ends() -> None:
    assert DIAGNOSIS.terminal == frozenset({S.rejected, S.cancelled, S.printed})
    assert set(CLOSED) == {S.rejected, S.cancelled}
    assert set(OPEN) | set(CLOSED) == set(S) and not set(OPEN) & set(CLOSED)
    assert S.requested not in ACCEPTED and set(ACCEPTED) < set(OPEN)


def test_an_unknown_action_is_refused_with_a_sentence() -> None:
    decision = DIAGNOSIS.decide(S.requested, "teleport")
    assert (
        not decision.allowed and decision.reason == "diagnosis_request knows no action 'teleport'."
    )


def test_the_report_steps_are_triggers_of_the_machine() -> None:
    assert set(REPORT_STEPS) <= set(DIAGNOSIS.triggers)
    assert DIAGNOSIS.available(S.initial_report) == ["approve", "return"]
