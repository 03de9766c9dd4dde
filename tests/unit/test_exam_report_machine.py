"""The examination report machine, decided from facts alone (no database)."""

from __future__ import annotations

import pytest

from states.exam_report import EXAM_REPORT, ExamReportFacts, ExamReportState

pytestmark = pytest.mark.unit
S = ExamReportState
NO_IMPRESSION = "The impression is empty; write the diagnosis first."
NO_REASON = "Returning a report needs a reason for its author."


@pytest.mark.parametrize(
    ("state", "action", "facts", "dest", "reason"),
    [
        (S.draft, "submit", ExamReportFacts(impression="  "), None, NO_IMPRESSION),
        (S.draft, "submit", ExamReportFacts(impression="无异常"), S.initial, ""),
        (S.initial, "approve", ExamReportFacts(), S.reviewed, ""),
        (S.initial, "return", ExamReportFacts(reason=""), None, NO_REASON),
        (S.initial, "return", ExamReportFacts(reason="补充描述"), S.returned, ""),
    ],
    ids=["submit-empty", "submit", "approve", "return-no-reason", "return"],
)
def test_submit_needs_an_impression_and_return_a_reason(
    state: ExamReportState,
    action: str,
    facts: ExamReportFacts,
    dest: ExamReportState | None,
    reason: str,
) -> None:
    d = EXAM_REPORT.decide(state, action, facts)
    if dest is None:
        assert not d.allowed and d.reason == reason
    else:
        assert d.allowed and d.dest == dest


def test_a_returned_report_is_saved_back_to_draft_and_submitted_again() -> None:
    assert EXAM_REPORT.decide(S.returned, "save", ExamReportFacts()).dest == S.draft
    assert not EXAM_REPORT.decide(S.returned, "submit", ExamReportFacts(impression="x")).allowed
    assert EXAM_REPORT.decide(S.draft, "save", ExamReportFacts()).dest == S.draft


@pytest.mark.parametrize(
    ("state", "trigger"),
    [
        (S.initial, "save"),
        (S.reviewed, "save"),
        (S.reviewed, "return"),
        (S.draft, "approve"),
        (S.returned, "approve"),
        (S.reviewed, "submit"),
    ],
)
def test_no_step_outside_the_table(state: ExamReportState, trigger: str) -> None:
    d = EXAM_REPORT.decide(state, trigger, ExamReportFacts(impression="x", reason="y"))
    assert not d.allowed
    assert d.reason == f"You cannot {trigger} a exam_report that is {state.value}."


def test_reviewed_is_final_and_the_buttons_follow_the_state() -> None:
    assert EXAM_REPORT.terminal == frozenset({S.reviewed})
    facts = ExamReportFacts(impression="x", reason="y")
    assert EXAM_REPORT.available(S.draft, facts) == ["save", "submit"]
    assert EXAM_REPORT.available(S.initial, facts) == ["approve", "return"]
    assert EXAM_REPORT.available(S.returned, facts) == ["save"]
