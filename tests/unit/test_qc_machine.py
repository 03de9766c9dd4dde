"""The QC task machine (states/quality.py): its path, its refusals, and the seeded draw."""

from __future__ import annotations

from api.quality.sampling import draw, sample_count, shortfall
from states.quality import QUALITY, QcFacts, QcState

S = QcState


def test_the_path_of_a_task_with_an_arbitration() -> None:
    facts = QcFacts(evaluators=2, drawn=3, pending=0, waiting=1)
    assert QUALITY.decide(S.draft, "sample", facts).dest == S.sampling
    assert QUALITY.decide(S.sampling, "sampled", facts).dest == S.evaluating
    assert QUALITY.decide(S.evaluating, "arbitrate", facts).dest == S.arbitration
    refused = QUALITY.decide(S.arbitration, "complete", facts)
    assert not refused.allowed and "wait for the arbitrator" in str(refused.reason)
    done = QcFacts(evaluators=2, drawn=3)
    assert QUALITY.decide(S.arbitration, "complete", done).dest == S.completed
    assert QUALITY.decide(S.evaluating, "complete", done).dest == S.completed


def test_refusals_say_why() -> None:
    assert "no evaluator" in str(QUALITY.decide(S.draft, "sample", QcFacts()).reason)
    assert "drew no" in str(QUALITY.decide(S.sampling, "sampled", QcFacts(evaluators=1)).reason)
    pending = QUALITY.decide(S.evaluating, "complete", QcFacts(drawn=2, pending=1))
    assert not pending.allowed and "not evaluated yet" in str(pending.reason)
    assert not QUALITY.decide(S.completed, "cancel", QcFacts()).allowed
    back = QUALITY.decide(S.sampling, "nothing_drawn", QcFacts(reason="none match"))
    assert back.dest == S.draft
    assert QUALITY.terminal == {S.completed, S.cancelled}


def test_the_same_seed_draws_the_same_sample() -> None:
    population = list(range(1000, 3000, 3))
    first = draw(42, population, 50)
    assert draw(42, list(reversed(population)), 50) == first  # ordered by id before drawing
    assert draw(43, population, 50) != first
    assert len(set(first)) == 50 and set(first) <= set(population)
    assert sample_count(667, None, 5) == 34 and sample_count(667, 10, None) == 10
    assert "No examination" in str(shortfall(0, 3))
    assert "above the 5" in str(shortfall(5, 6))
    assert shortfall(5, 5) == ""
