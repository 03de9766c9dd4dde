"""Remote teaching's use cases (SPEC §5): courses, the list and classroom of the people in
range, heartbeats into learning records, premium classes and the personal center. Every read
asks ``api.teaching.access`` first; out of range is "not found"."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any

from api.teaching import access, learning
from api.teaching.steps import open_course, step
from kernel.domain import Kind, Permission
from kernel.errors import BadRequest, Forbidden, NotFound
from kernel.i18n import N_
from kernel.settings import get_settings
from store.tables import Course, CourseRange, Department, LearningRecord, Recording, User
from store.uow import Actor, Ctx, now
from store.zones import hospital_zone

HOST = Permission.teaching_host.value
TRIGGERS = ("publish", "start", "end", "cancel", "recording_ready")


def _actor(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Forbidden(N_("Please log in; your session is missing or has expired."))
    return ctx.actor


async def _when(value: str, field: str, hospital_id: int | None) -> datetime:
    """An ISO time; one without a zone is the hospital's local time (the form's)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequest(N_("The {field} is not a date and time."), field=field) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=await hospital_zone(hospital_id))
    return parsed


async def create(ctx: Ctx, data: dict[str, Any]) -> int:
    actor = _actor(ctx)
    if actor.kind != Kind.doctor.value or HOST not in actor.permissions:
        raise Forbidden(N_("Your role lacks the permission to host a course."))
    topic = str(data.get("topic", "")).strip()
    if not topic or len(topic) > 200:
        raise BadRequest(N_("A course needs a topic of at most 200 characters."))
    starts = await _when(str(data.get("starts_at", "")), "start", actor.hospital_id)
    ends = await _when(str(data.get("ends_at", "")), "end", actor.hospital_id)
    if ends <= starts:
        raise BadRequest(N_("A course must end after it starts."))
    mode = str(data.get("recording_mode", "host"))
    if mode not in ("host", "auto"):
        raise BadRequest(N_("Recording is by the host or automatic."))
    departments = [int(d) for d in data.get("department_ids", [])]
    users = [int(u) for u in data.get("user_ids", [])]
    known_d = await Department.select(Department.id).where(
        Department.id.is_in(departments or [0]), Department.hospital == actor.hospital_id
    )
    known_u = await User.select(User.id).where(
        User.id.is_in(users or [0]), User.hospital == actor.hospital_id
    )
    if len(known_d) != len(set(departments)) or len(known_u) != len(set(users)):
        raise BadRequest(
            N_("The teaching range names only departments and people of your hospital.")
        )
    entries: list[dict[str, int | None]] = [
        {"department": d, "user": None} for d in sorted(set(departments))
    ] + [{"department": None, "user": u} for u in sorted(set(users))]
    applied = await open_course(
        ctx,
        {
            "hospital": actor.hospital_id,
            "lecturer": actor.user_id,
            "topic": topic,
            "starts_at": starts,
            "ends_at": ends,
            "place": str(data.get("place", ""))[:200],
            "introduction": str(data.get("introduction", ""))[:10_000],
            "recording_mode": mode,
            "meeting_url": str(data.get("meeting_url", ""))[:500],
            "created_at": now(),
        },
        entries,
    )
    return applied.case_id


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "topic": row["topic"],
        "starts_at": row["starts_at"].isoformat(),
        "ends_at": row["ends_at"].isoformat(),
        "place": row["place"],
        "state": row["state"],
        "lecturer": row["lecturer.display_name"],
        "premium": row["premium"],
        "version": row["version"],
    }


COLUMNS = (*Course.all_columns(), Course.lecturer.display_name)


async def visible(actor: Actor, *, premium: bool = False, q: str = "") -> list[dict[str, Any]]:
    """The courses in the actor's range (the list; ``premium``: the catalogue)."""
    if actor.hospital_id is None:
        return []
    query = Course.select(*COLUMNS).where(Course.hospital == actor.hospital_id)
    if premium:
        query = query.where(Course.premium.eq(True))
    if q.strip():
        query = query.where(Course.topic.ilike(f"%{q.strip()}%"))
    rows = await query.order_by(Course.starts_at, ascending=False)
    return [_summary(r) for r in rows if await access.in_range(actor, r)]


async def read(actor: Actor, course_id: int) -> dict[str, Any]:
    await access.visible_course(actor, course_id)
    row = await Course.select(*COLUMNS).where(Course.id == course_id).first()
    assert row is not None
    out = _summary(row)
    live = row["state"] == "live" or (row["starts_at"] <= now() < row["ends_at"])
    out |= {
        "introduction": row["introduction"],
        "recording_mode": row["recording_mode"],
        "meeting_url": row["meeting_url"]
        if live and row["state"] not in ("draft", "cancelled")
        else "",
        "recording_id": row["recording_id"],
        "manage": access.manages(actor, row),
    }
    return out


async def act(ctx: Ctx, course_id: int, trigger: str, version: int | None) -> dict[str, Any]:
    actor = _actor(ctx)
    course = await access.visible_course(actor, course_id)
    if trigger not in TRIGGERS:
        raise BadRequest(N_("No such step of a course."))
    if not access.manages(actor, course):
        raise Forbidden(N_("Only the lecturer or the hospital admin steps a course."))
    if trigger == "recording_ready":
        await _attach_recording(course_id)
    await step(ctx, course_id, trigger, version)
    return await read(actor, course_id)


async def _attach_recording(course_id: int) -> None:
    """The course's newest ready recording (``api.recordings``, owner kind ``course``)
    becomes its recording: its id and duration (whole seconds) for the learning records."""
    ready = (
        await Recording.select(Recording.id, Recording.duration_ms)
        .where(
            Recording.owner_kind == "course",
            Recording.owner_id == course_id,
            Recording.status == "ready",
        )
        .order_by(Recording.id, ascending=False)
        .first()
    )
    if ready is not None and ready["duration_ms"]:
        await Course.update(
            {
                Course.recording_id: ready["id"],
                Course.duration_seconds: ready["duration_ms"] // 1000,
            }
        ).where(Course.id == course_id)


async def make_premium(ctx: Ctx, course_id: int) -> dict[str, Any]:
    """A hospital admin publishes a course with its recording as a premium class."""
    actor = _actor(ctx)
    course = await access.visible_course(actor, course_id)
    if actor.kind != Kind.hospital_admin.value:
        raise Forbidden(N_("Only the hospital admin publishes premium classes."))
    if course["state"] != "recording_available":
        raise BadRequest(N_("Only a finished course with its recording becomes a premium class."))
    await Course.update(
        {Course.premium: True, Course.premium_at: now(), Course.premium_by: actor.user_id}
    ).where(Course.id == course_id)
    return await read(actor, course_id)


async def heartbeat(ctx: Ctx, course_id: int, position: float, watched: float) -> dict[str, Any]:
    """One heartbeat of the learner's player (``learning``): refused and nothing changed
    when it cannot be true."""
    actor = _actor(ctx)
    await access.visible_course(actor, course_id)
    row = (
        await Course.select(Course.duration_seconds, Course.state)
        .where(Course.id == course_id)
        .first()
    )
    assert row is not None
    if row["state"] != "recording_available" or not row["duration_seconds"]:
        raise NotFound(N_("The course has no ready recording yet."))
    duration = float(row["duration_seconds"])
    record = (
        await LearningRecord.select()
        .where(LearningRecord.course == course_id, LearningRecord.user == actor.user_id)
        .first()
    )
    at = now()
    wall = None
    if record is not None and record["last_beat_at"] is not None:
        wall = (at - record["last_beat_at"]).total_seconds()
    reason = learning.forged(position, watched, duration, wall)
    if reason:
        raise BadRequest(reason)
    intervals = [tuple(i) for i in json.loads(record["intervals"])] if record else []
    merged = learning.beat(intervals, position, watched)  # type: ignore[arg-type]
    share = learning.progress(merged, duration)
    values: dict[Any, Any] = {
        LearningRecord.intervals: json.dumps(merged),
        LearningRecord.watched_seconds: round(learning.covered(merged)),
        LearningRecord.progress_permille: round(share * 1000),
        LearningRecord.last_position: round(position),
        LearningRecord.last_beat_at: at,
    }
    finished = share >= get_settings().teaching.finished_share
    if record is None:
        values |= {
            LearningRecord.hospital: actor.hospital_id,
            LearningRecord.course: course_id,
            LearningRecord.user: actor.user_id,
            LearningRecord.started_at: at,
            LearningRecord.finished_at: at if finished else None,
        }
        await LearningRecord.insert(LearningRecord(_data=values))
    else:
        if finished and record["finished_at"] is None:
            values[LearningRecord.finished_at] = at
        await LearningRecord.update(values).where(LearningRecord.id == record["id"])
    return {"progress": round(share * 100, 1), "finished": finished}


async def learning_records(actor: Actor, *, hospital: bool = False) -> list[dict[str, Any]]:
    """The actor's learning records (or, for his hospital admin, the hospital's): every
    course in his range with its status, progress and lecturer."""
    threshold = get_settings().teaching.finished_share
    query = LearningRecord.select(
        LearningRecord.course,
        LearningRecord.user,
        LearningRecord.user.display_name,
        LearningRecord.progress_permille,
        LearningRecord.started_at,
    )
    if hospital:
        if actor.kind != Kind.hospital_admin.value:
            raise Forbidden(N_("Only the hospital admin exports learning records."))
        query = query.where(LearningRecord.hospital == actor.hospital_id)
    else:
        query = query.where(LearningRecord.user == actor.user_id)
    records = await query
    courses = (
        {c["id"]: c for c in await visible(actor)}
        if not hospital
        else {
            r["id"]: _summary(r)
            for r in await Course.select(*COLUMNS).where(Course.hospital == actor.hospital_id)
        }
    )
    out = []
    seen = set()
    for r in records:
        course = courses.get(r["course"])
        if course is None:
            continue
        seen.add(r["course"])
        share = r["progress_permille"] / 1000
        out.append(
            {
                "course_id": course["id"],
                "topic": course["topic"],
                "starts_at": course["starts_at"],
                "lecturer": course["lecturer"],
                "learner": r["user.display_name"],
                "status": learning.status(share, True, threshold),
                "progress": round(share * 100, 1),
            }
        )
    if not hospital:
        for cid, course in courses.items():
            if cid not in seen and course["state"] == "recording_available":
                out.append(
                    {
                        "course_id": cid,
                        "topic": course["topic"],
                        "starts_at": course["starts_at"],
                        "lecturer": course["lecturer"],
                        "learner": "",
                        "status": "not_started",
                        "progress": 0.0,
                    }
                )
    return out


async def teaching_records(actor: Actor) -> list[dict[str, Any]]:
    """The courses the actor taught."""
    rows = (
        await Course.select(*COLUMNS)
        .where(Course.lecturer == actor.user_id)
        .order_by(Course.starts_at, ascending=False)
    )
    return [_summary(r) for r in rows]


async def export_csv(actor: Actor) -> str:
    rows = await learning_records(actor, hospital=True)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["course", "topic", "time", "lecturer", "learner", "status", "progress %"])
    for r in rows:
        writer.writerow(
            [
                r["course_id"],
                r["topic"],
                r["starts_at"],
                r["lecturer"],
                r["learner"],
                r["status"],
                r["progress"],
            ]
        )
    return out.getvalue()


async def range_of(course_id: int) -> list[dict[str, Any]]:
    return await CourseRange.select().where(CourseRange.course == course_id)
