"""The course process's home: the machine's facts of a course, creation and steps on the
engine (``open_course``, ``step``), and the functions the names of
``states.teaching.COURSE_STEPS`` stand for: the people in range (who are told), the
"starts soon" reminder (a timer, as consultations', ``store.timers``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from kernel.settings import get_settings
from states.teaching import COURSE, CourseFacts
from store import engine
from store.engine import Applied, Done
from store.tables import Course, CourseRange, User
from store.timers import keep_timer
from store.uow import Ctx, now

CASE = COURSE.name
REMINDER = "reminder"  # the "starts soon" timer (api/teaching/reminders.py sends it)


def topic(course_id: int) -> str:
    return f"case:{CASE}:{course_id}"


async def facts(course_id: int) -> CourseFacts:
    row = (
        await Course.select(Course.starts_at, Course.ends_at, Course.recording_id)
        .where(Course.id == course_id)
        .first()
    )
    assert row is not None
    size = await CourseRange.count().where(CourseRange.course == course_id)
    return CourseFacts(
        range_size=size,
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        now=now(),
        recording_ready=row["recording_id"] is not None,
    )


async def open_course(
    ctx: Ctx, values: dict[str, Any], entries: list[dict[str, int | None]]
) -> Applied:
    """The course in draft, with its range rows, in one unit of work."""
    applied = await engine.create(
        ctx, COURSE, Course, values, summary={"topic": values["topic"]}, facts=entries
    )
    return applied


async def step(ctx: Ctx, course_id: int, trigger: str, version: int | None = None) -> Applied:
    return await engine.apply(
        ctx,
        COURSE,
        Course,
        course_id,
        trigger,
        await facts(course_id),
        version=version,
        topics=[topic(course_id)],
    )


async def range_users(course_id: int) -> list[int]:
    """The people the range names (the members of its departments and its users), active."""
    row = await Course.select(Course.hospital, Course.lecturer).where(Course.id == course_id)
    hospital, lecturer = row[0]["hospital"], row[0]["lecturer"]
    entries = await CourseRange.select(CourseRange.department, CourseRange.user).where(
        CourseRange.course == course_id
    )
    departments = [e["department"] for e in entries if e["department"] is not None]
    users = {e["user"] for e in entries if e["user"] is not None}
    if departments:
        members = await User.select(User.id).where(
            User.hospital == hospital, User.department.is_in(departments)
        )
        users |= {m["id"] for m in members}
    users.discard(lecturer)
    return sorted(users)


async def schedule_reminder(course_id: int) -> None:
    """Remind ``AIMIS_TEACHING_REMINDER_MINUTES`` before the start (none when it is past)."""
    row = await Course.select(Course.starts_at).where(Course.id == course_id)
    starts_at = row[0]["starts_at"]
    lead = timedelta(minutes=get_settings().teaching.reminder_minutes)
    await keep_timer(CASE, course_id, REMINDER, None if starts_at <= now() else starts_at - lead)


async def _range(done: Done) -> list[int]:
    return await range_users(done.case_id)


async def _range_rows(done: Done) -> None:
    for entry in done.facts or ():
        await CourseRange.insert(
            CourseRange(course=done.case_id, department=entry["department"], user=entry["user"])
        )


async def _reminder(done: Done) -> None:
    await schedule_reminder(done.case_id)


async def _reminder_off(done: Done) -> None:
    await keep_timer(CASE, done.case_id, REMINDER, None)


async def _link(done: Done) -> str:
    return f"/teaching/{done.case_id}"


engine.bind(
    COURSE,
    audiences={"range": _range},
    effects={"range rows": _range_rows, "reminder": _reminder, "reminder off": _reminder_off},
    business_type="teaching",
    link=_link,
)
