"""Remote teaching pages (SPEC §5): the course list with the new-course form, the classroom,
the premium catalogue and the personal center. They read through the same service as the API
(the range is the service's), and a switched-off module is 403."""

from __future__ import annotations

import msgspec
from litestar import Request, get
from litestar.response import Template

from api.auth import module_enabled
from api.recordings import service as recordings
from api.teaching import labels, service
from api.teaching.steps import facts
from kernel.domain import Kind, Module
from kernel.errors import Forbidden
from states.teaching import COURSE, CourseState
from store.tables import Department
from store.uow import Actor
from ui.pages import PageController, page, user_of


async def _member(request: Request) -> Actor:
    actor = user_of(request)
    if not await module_enabled(actor.hospital_id, Module.teaching):
        raise Forbidden("The module 'teaching' is switched off for your hospital.")
    return actor


class TeachingPages(PageController):
    @get("/teaching")
    async def index(self, request: Request, q: str = "") -> Template:
        actor = await _member(request)
        departments = await Department.select(Department.id, Department.name).where(
            Department.hospital == actor.hospital_id
        )
        return await page(
            request,
            "teaching/index.html",
            labels=labels,
            courses=await service.visible(actor, q=q),
            can_host=actor.kind == Kind.doctor.value and service.HOST in actor.permissions,
            departments=departments,
            q=q,
        )

    @get("/teaching/premium")
    async def premium(self, request: Request, q: str = "") -> Template:
        actor = await _member(request)
        return await page(
            request,
            "teaching/premium.html",
            labels=labels,
            courses=await service.visible(actor, premium=True, q=q),
            q=q,
        )

    @get("/teaching/{course_id:int}")
    async def classroom(self, request: Request, course_id: int) -> Template:
        actor = await _member(request)
        course = await service.read(actor, course_id)
        steps = COURSE.available(CourseState(course["state"]), await facts(course_id))
        return await page(
            request,
            "teaching/classroom.html",
            labels=labels,
            course=course,
            steps=[t for t in steps if t in labels.STEP],
            recordings=msgspec.to_builtins(await recordings.of_owner(actor, "course", course_id)),
            is_admin=actor.kind == Kind.hospital_admin.value,
        )

    @get("/teaching/me")
    async def me(self, request: Request) -> Template:
        actor = await _member(request)
        return await page(
            request,
            "teaching/me.html",
            labels=labels,
            teaching=await service.teaching_records(actor),
            learning=await service.learning_records(actor),
            is_admin=actor.kind == Kind.hospital_admin.value,
        )
