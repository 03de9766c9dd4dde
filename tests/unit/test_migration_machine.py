"""The migration machine: the pipeline order, its guards' sentences, fail and retry."""

from __future__ import annotations

import pytest

from states.migration import MIGRATION, PIPELINE, MigrationFacts, MigrationState, progress

pytestmark = pytest.mark.unit
S = MigrationState


def test_the_pipeline_walks_every_state_in_order() -> None:
    state = S.received
    facts = MigrationFacts(received=3, stored=2, failed=1)
    for trigger, reached in PIPELINE:
        decision = MIGRATION.decide(state, trigger, facts)
        assert decision.allowed, decision.reason
        assert decision.dest == reached
        state = reached
    assert state == S.notified and S.notified in MIGRATION.terminal
    assert progress(S.notified) == len(PIPELINE) and progress(S.received) == 0


def test_nothing_received_cannot_be_verified() -> None:
    decision = MIGRATION.decide(S.received, "verify", MigrationFacts())
    assert not decision.allowed and decision.reason == "The run received no file."


def test_files_still_waiting_hold_verification() -> None:
    decision = MIGRATION.decide(S.received, "verify", MigrationFacts(received=4, pending=2))
    assert decision.reason == "2 received file(s) have not been checked yet."


def test_no_accepted_file_cannot_be_stored() -> None:
    decision = MIGRATION.decide(S.verified, "store", MigrationFacts(received=2, failed=2))
    assert decision.reason == "None of the 2 received file(s) could be stored."
    assert MIGRATION.decide(S.verified, "store", MigrationFacts(received=1, duplicates=1)).allowed


def test_steps_cannot_be_skipped_or_repeated() -> None:
    assert not MIGRATION.decide(S.received, "bill", MigrationFacts(received=1)).allowed
    assert not MIGRATION.decide(S.billed, "bill", MigrationFacts(received=1)).allowed


def test_any_open_run_can_fail_and_a_failed_run_can_be_retried() -> None:
    for state in S:
        allowed = MIGRATION.decide(state, "fail").allowed
        assert allowed == (state not in (S.notified, S.failed))
    assert MIGRATION.decide(S.failed, "retry").dest == S.received
    assert not MIGRATION.decide(S.notified, "retry").allowed
