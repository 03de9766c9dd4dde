"""The course machine and the learning-record math, decided from facts alone (no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.teaching.learning import beat, forged, merge, progress, status
from states.teaching import COURSE, CourseFacts, CourseState

pytestmark = pytest.mark.unit
S = CourseState
T0 = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def facts(
    range_size: int = 1, now: datetime = T0 - timedelta(hours=1), **kw: object
) -> CourseFacts:
    return CourseFacts(range_size, T0, T0 + timedelta(hours=1), now, **kw)  # type: ignore[arg-type]


def test_a_course_is_published_with_a_range_and_a_time_to_come() -> None:
    assert COURSE.decide(S.draft, "publish", facts()).dest == S.published
    d = COURSE.decide(S.draft, "publish", facts(range_size=0))
    assert not d.allowed and d.reason == "A course needs a teaching range before it is published."
    d = COURSE.decide(S.draft, "publish", facts(now=T0 + timedelta(hours=2)))
    assert not d.allowed and d.reason == "The course's time is over."
    backwards = CourseFacts(1, T0, T0 - timedelta(minutes=1), T0 - timedelta(hours=1))
    assert not COURSE.decide(S.draft, "publish", backwards).allowed


def test_the_life_of_a_course() -> None:
    assert COURSE.decide(S.published, "start", facts()).dest == S.live
    assert not COURSE.decide(S.draft, "start", facts()).allowed
    assert COURSE.decide(S.live, "end", facts()).dest == S.ended
    assert not COURSE.decide(S.live, "cancel", facts()).allowed
    assert COURSE.decide(S.published, "cancel", facts()).dest == S.cancelled
    d = COURSE.decide(S.ended, "recording_ready", facts())
    assert not d.allowed and d.reason == "The course has no ready recording yet."
    ready = facts(recording_ready=True)
    assert COURSE.decide(S.ended, "recording_ready", ready).dest == S.recording_available
    assert not COURSE.decide(S.live, "recording_ready", ready).allowed


def test_progress_counts_what_was_watched_not_where_the_player_is() -> None:
    assert merge([(10, 20), (0, 5), (4, 12)]) == [(0, 20)]
    intervals = beat([], 30, 30)
    intervals = beat(intervals, 20, 10)  # watched again: no new coverage
    assert progress(intervals, 100) == pytest.approx(0.3)
    skipped = beat(intervals, 100, 5)  # jumped to the end, 5 seconds watched there
    assert progress(skipped, 100) == pytest.approx(0.35)
    assert status(progress(skipped, 100), True, 0.9) == "in_progress"
    full = beat(skipped, 95, 65)
    assert progress(full, 100) == pytest.approx(1.0)
    assert status(progress(full, 100), True, 0.9) == "finished"
    assert status(0.0, False, 0.9) == "not_started"


def test_forged_heartbeats_are_refused() -> None:
    assert forged(50, 10, 100, 10) is None
    assert forged(101, 1, 100, 10) == "The position is outside the recording."
    assert forged(-1, 0, 100, 10) == "The position is outside the recording."
    assert forged(5, 10, 100, 10) == "The watched interval is outside the recording."
    assert forged(50, -3, 100, 10) == "The watched interval is outside the recording."
    too_fast = "More was watched than time passed since the last heartbeat."
    assert forged(90, 60, 100, 10) == too_fast  # 60 s of video in 10 s of wall time
    assert forged(90, 90, 100, None) == too_fast  # a first beat claiming a long stretch
