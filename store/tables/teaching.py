"""Remote teaching (SPEC §5, issue 16): live courses, who may see them (the teaching range),
and what each person actually watched (learning records).

A course belongs to its lecturer's hospital. Its range is the departments and people of that
hospital who may see it (``course_range``: a row names a department or a user); the lecturer
and the hospital admin always may. A learning record keeps the watched intervals merged
(``intervals``: JSON ``[[start, end], ...]`` in seconds of the recording), so progress is the
share of the duration actually covered, never the furthest position.
"""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table

from store.tables.accounts import Department, Hospital, User


class Course(Table):
    """``state``: draft → published → live → ended → recording_available, or cancelled
    (``states/teaching.py``). ``recording_mode``: ``host`` (the lecturer uploads) or ``auto``."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    lecturer = col.ForeignKey(User, on_delete=col.OnDelete.restrict, index=True)
    topic = col.Varchar(length=200)
    starts_at = col.Timestamptz()
    ends_at = col.Timestamptz()
    place = col.Varchar(length=200, default="")
    introduction = col.Text(default="")
    recording_mode = col.Varchar(length=8, default="host")
    meeting_url = col.Varchar(length=500, default="")
    state = col.Varchar(length=20, default="draft", index=True)
    recording_id = col.Integer(null=True, default=None)  # a ``recording`` row (api.recordings)
    duration_seconds = col.Integer(null=True, default=None)  # the recording's, for progress
    premium = col.Boolean(default=False, index=True)  # a premium class (SPEC 5.3)
    premium_at = col.Timestamptz(null=True, default=None)
    premium_by = col.Integer(null=True, default=None)
    version = col.Integer(default=1)
    created_at = col.Timestamptz()


class CourseRange(Table):
    """One entry of a course's teaching range: a department or a user (exactly one set)."""

    id = col.Serial(primary_key=True)
    course = col.ForeignKey(Course, on_delete=col.OnDelete.cascade, index=True)
    department = col.ForeignKey(Department, null=True, on_delete=col.OnDelete.cascade)
    user = col.ForeignKey(User, null=True, on_delete=col.OnDelete.cascade)


class LearningRecord(Table):
    """What one person watched of one course's recording (SPEC 5.4); one row per pair."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    course = col.ForeignKey(Course, on_delete=col.OnDelete.cascade, index=True)
    user = col.ForeignKey(User, on_delete=col.OnDelete.cascade, index=True)
    intervals = col.Text(default="[]")
    watched_seconds = col.Integer(default=0)  # covered by the intervals, rounded
    progress_permille = col.Integer(default=0)  # 0..1000: the share of the duration covered
    last_position = col.Integer(default=0)  # seconds, of the last heartbeat
    last_beat_at = col.Timestamptz(null=True, default=None)
    started_at = col.Timestamptz()
    finished_at = col.Timestamptz(null=True, default=None)
    version = col.Integer(default=1)
