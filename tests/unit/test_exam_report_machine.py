"""The examination report machine, decided from facts alone (no database)."""

from __future__ import annotations

import pytest

from states.exam_report import EXAM_REPORT, ExamReportFacts, ExamReportState

pytestmark = pytest.mark.unit
S = ExamReportState


def test_a_draft_is_submitted_only_with_an_impression() -> None:
    d = EXAM_REPORT.decide(S.draft, "submit", ExamReportFacts(impression="  "))
    assert not d.allowed and d.reason == "The impression is empty; write the diagnosis first."
    d = EXAM_REPORT.decide(S.draft, "submit", ExamReportFacts(impression="无异常"))
    assert d.allowed and d.dest == S.initial


def test_review_approves_or_returns_with_a_reason() -> None:
    assert EXAM_REPORT.decide(S.initial, "approve", ExamReportFacts()).dest == S.reviewed
    d = EXAM_REPORT.decide(S.initial, "return", ExamReportFacts(reason=""))
    assert not d.allowed and d.reason == "Returning a report needs a reason for its author."
    d = EXAM_REPORT.decide(S.initial, "return", ExamReportFacts(reason="补充描述"))
    assert d.allowed and d.dest == S.returned


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
