"""The consultation machine, decided from facts alone (no database)."""

from __future__ import annotations

import pytest

from states.consultation import CONSULTATION, ConsultationFacts, ConsultationState, InviteFact

pytestmark = pytest.mark.unit
S = ConsultationState


def facts(
    *decisions: str, dept: int | None = None, reason: str = "", report: int = 0
) -> ConsultationFacts:
    # departments 1 and 2 mandatory, 3 optional
    invites = tuple(
        InviteFact(i + 1, name, i < 2, d)
        for i, (name, d) in enumerate(
            zip(["Cardiology", "Neurology", "Radiology"], decisions, strict=True)
        )
    )
    return ConsultationFacts(invites, dept, reason, report)


def test_starts_only_when_every_mandatory_department_agreed() -> None:
    d = CONSULTATION.decide(S.reviewing, "start", facts("agree", "", ""))
    assert not d.allowed and d.reason == "Mandatory department Neurology has not agreed."
    d = CONSULTATION.decide(S.reviewing, "agree", facts("agree", "", "", dept=2))
    assert d.allowed and d.dest == S.scheduled
    d = CONSULTATION.decide(S.scheduled, "start", facts("agree", "agree_join", ""))
    assert d.allowed and d.dest == S.in_progress


def test_first_mandatory_agreement_keeps_reviewing() -> None:
    d = CONSULTATION.decide(S.reviewing, "agree", facts("", "", "", dept=1))
    assert d.allowed and d.dest == S.reviewing


def test_optional_agreement_after_scheduling_keeps_scheduled() -> None:
    d = CONSULTATION.decide(S.scheduled, "agree", facts("agree", "agree", "", dept=3))
    assert d.allowed and d.dest == S.scheduled


def test_same_decision_twice_is_refused_with_the_reason() -> None:
    d = CONSULTATION.decide(S.reviewing, "agree", facts("agree", "", "", dept=1))
    assert not d.allowed and d.reason == "Cardiology has already decided (agree)."


def test_deny_needs_a_reason_and_mandatory_denial_rejects() -> None:
    assert CONSULTATION.decide(S.reviewing, "deny", facts("", "", "", dept=3)).reason == (
        "A denial needs a reason."
    )
    d = CONSULTATION.decide(S.reviewing, "deny", facts("", "", "", dept=3, reason="busy"))
    assert d.allowed and d.dest == S.reviewing
    d = CONSULTATION.decide(S.reviewing, "deny", facts("", "", "", dept=1, reason="no"))
    assert d.allowed and d.dest == S.rejected


def test_nothing_after_cancel_or_start() -> None:
    for state in (S.cancelled, S.withdrawn, S.in_progress, S.finished):
        d = CONSULTATION.decide(state, "agree", facts("", "", "", dept=3))
        assert not d.allowed
    assert CONSULTATION.decide(S.in_progress, "cancel").reason == (
        "You cannot cancel a consultation that is in_progress."
    )
    assert "knows no action" in CONSULTATION.decide(S.reviewing, "to_finished").reason


def test_report_must_not_be_empty() -> None:
    f = facts("agree", "agree", "")
    assert (
        CONSULTATION.decide(S.in_progress, "submit_report", f).reason
        == "The consultation report is empty."
    )
    f = facts("agree", "agree", "", report=10)
    assert CONSULTATION.decide(S.in_progress, "submit_report", f).dest == S.finished


def test_no_auto_transitions_and_available_actions() -> None:
    assert not any(t.startswith("to_") for t in CONSULTATION.triggers)
    assert CONSULTATION.available(S.scheduled, facts("agree", "agree", "")) == [
        "adjust_expert",
        "cancel",
        "start",
    ]


def test_mermaid_is_rendered_from_the_table() -> None:
    text = CONSULTATION.mermaid()
    assert text.startswith("stateDiagram-v2\n    [*] --> reviewing")
    assert "scheduled --> in_progress: start [all_mandatory_agreed]" in text
    assert "finished --> [*]" in text
    # several steps between the same two states share one arrow and show every label
    [loop] = [line for line in text.splitlines() if line.startswith("    reviewing --> reviewing")]
    for trigger in ("agree [department_undecided]", "deny [", "adjust_expert ["):
        assert trigger in loop
