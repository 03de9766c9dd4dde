"""Who may see a course — the one place that answers it (the teaching range, SPEC 5.1).

A course is seen by its lecturer, his hospital's admin, and the people of the lecturer's
hospital that its range names (a department: its members; a user: him). Nobody of another
hospital, never the alliance admin, and nobody while the hospital's teaching module is off.
A draft is seen by its lecturer and the hospital admin only. Every read (the list, the
classroom, the recording, the learning record) asks ``may_view_course`` / ``course_in_range``;
anybody else gets "not found", so a course's existence does not leak.

``may_manage_course``: the lecturer and his hospital admin (uploading the recording, steps).
Both are registered with the recordings' access registry as the owner kind ``"course"``.
"""

from __future__ import annotations

from typing import Any

from api.auth import module_enabled
from kernel.domain import Kind, Module
from kernel.errors import NotFound
from kernel.i18n import N_
from store.tables import Course, CourseRange
from store.uow import Actor

NOT_FOUND = N_("No course with id {course_id} exists.")


async def _course(course_id: int) -> dict[str, Any] | None:
    return (
        await Course.select(Course.id, Course.hospital, Course.lecturer, Course.state)
        .where(Course.id == course_id)
        .first()
    )


def manages(actor: Actor, course: dict[str, Any]) -> bool:
    if actor.hospital_id is None or course["hospital"] != actor.hospital_id:
        return False
    return course["lecturer"] == actor.user_id or actor.kind == Kind.hospital_admin.value


async def in_range(actor: Actor, course: dict[str, Any]) -> bool:
    """The actor is of the course's hospital and its range names him or his department."""
    if actor.hospital_id is None or course["hospital"] != actor.hospital_id:
        return False
    if manages(actor, course):
        return True
    if course["state"] == "draft":
        return False
    entries = await CourseRange.select(CourseRange.department, CourseRange.user).where(
        CourseRange.course == course["id"]
    )
    return any(
        e["user"] == actor.user_id
        or (e["department"] is not None and e["department"] == actor.department_id)
        for e in entries
    )


async def may_view_course(actor: Actor, course_id: int) -> bool:
    course = await _course(course_id)
    if course is None or not await module_enabled(course["hospital"], Module.teaching):
        return False
    return await in_range(actor, course)


async def may_manage_course(actor: Actor, course_id: int) -> bool:
    course = await _course(course_id)
    if course is None or not await module_enabled(course["hospital"], Module.teaching):
        return False
    return manages(actor, course)


async def visible_course(actor: Actor, course_id: int) -> dict[str, Any]:
    """The course's access row, or NotFound for anybody out of its range."""
    course = await _course(course_id)
    if course is None or not await in_range(actor, course):
        raise NotFound(NOT_FOUND, course_id=course_id)
    return course
