"""The "starts soon" reminder of a course (a ``Timer`` of kind ``reminder``, set by
publishing, fired by ``flows/timers.py``): one ``notify`` outbox row to the people in range,
saying when it starts, unless the course was cancelled or is over meanwhile."""

from __future__ import annotations

from api.consultations.reminders import starts_at
from api.teaching.steps import CASE, REMINDER, range_users
from store.tables import Course
from store.uow import UnitOfWork

__all__ = ["REMINDER", "send_reminder"]


async def send_reminder(uow: UnitOfWork, course_id: int, timer_id: int) -> bool:
    row = (
        await Course.select(Course.state, Course.starts_at, Course.hospital)
        .where(Course.id == course_id)
        .first()
    )
    if row is None or row["state"] != "published":
        return False
    await uow.outbox(
        "notify",
        {
            "business_type": "teaching",
            "event": REMINDER,
            "case_type": CASE,
            "case_id": course_id,
            "user_ids": await range_users(course_id),
            "link": f"/teaching/{course_id}",
            "starts_at": await starts_at(row["starts_at"], row["hospital"]),
        },
        key=f"notify-course-{course_id}-reminder-{timer_id}",
    )
    return True
