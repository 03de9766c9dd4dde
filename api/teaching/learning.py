"""Learning records (SPEC 5.4): what a learner actually watched, from the player's heartbeats.

A heartbeat says where the player is now (``position``, seconds of the recording) and how
many seconds were played since the last one (``watched``): the interval
``[position - watched, position]`` was watched. The record keeps its intervals merged;
progress is the share of the duration they cover, so skipping to the end covers nothing
and does not finish a course. Finished at ``AIMIS_TEACHING_FINISHED_SHARE`` (default 90 %).

A heartbeat that cannot be true is refused (``forged``: a sentence, the caller answers 4xx
and changes nothing): a position beyond the duration or negative, a negative interval, or
more seconds watched than wall time passed since the last heartbeat (``SLACK`` allows for
the timer's jitter).
"""

from __future__ import annotations

from kernel.i18n import N_

Interval = tuple[float, float]
SLACK = 2.0  # seconds of jitter between the player's timer and the server's clock


def merge(intervals: list[Interval]) -> list[Interval]:
    """The intervals sorted, overlapping and touching ones joined."""
    merged: list[Interval] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def covered(intervals: list[Interval]) -> float:
    return sum(end - start for start, end in merge(intervals))


def progress(intervals: list[Interval], duration: float) -> float:
    """The share (0..1) of ``duration`` the intervals cover."""
    if duration <= 0:
        return 0.0
    return min(1.0, covered(intervals) / duration)


def forged(
    position: float, watched: float, duration: float, wall_seconds: float | None
) -> str | None:
    """Why this heartbeat cannot be true, or None. ``wall_seconds``: the time passed since
    the learner's last heartbeat (None for his first)."""
    if position < 0 or position > duration:
        return N_("The position is outside the recording.")
    if watched < 0 or watched > position:
        return N_("The watched interval is outside the recording.")
    if wall_seconds is not None and watched > wall_seconds + SLACK:
        return N_("More was watched than time passed since the last heartbeat.")
    if wall_seconds is None and watched > SLACK * 30:
        return N_("More was watched than time passed since the last heartbeat.")
    return None


def beat(intervals: list[Interval], position: float, watched: float) -> list[Interval]:
    """The record's intervals with this (checked) heartbeat's interval added, merged."""
    if watched <= 0:
        return merge(intervals)
    return merge([*intervals, (position - watched, position)])


def status(share: float, started: bool, threshold: float) -> str:
    """not_started | in_progress | finished."""
    if share >= threshold:
        return "finished"
    return "in_progress" if started else "not_started"
