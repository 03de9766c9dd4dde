"""Consultation pages (SPEC 3, 8.10): the list with the new-consultation form, the room, and
the admins' consultation log. They read through the same services as the API; the room and
the lists update live by re-fetching their fragment when an event arrives."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from api.accounts import service as accounts
from api.auth import ctx_of, module_enabled
from api.consultations import contacts, service
from api.consultations import labels as texts
from api.consultations.access import APPLY
from api.consultations.controllers import LIST, LOG, VIEW
from api.consultations.schemas import ConsultationRead, ContactDoctor
from kernel.domain import Module
from kernel.errors import Forbidden
from kernel.i18n import pgettext
from kernel.settings import get_settings
from states.consultation import CONSULTATION
from store.uow import Actor
from store.zones import hospital_zone
from ui import i18n
from ui.pages import GoTo, PageController, admin_of, local_clock, page, user_of

LOG_PAGE_SIZE = 50


async def _doctor(request: Request) -> Actor:
    actor = user_of(request)
    if actor.realm == accounts.REALM_ADMIN:
        raise GoTo(Redirect("/manage/consultations"))
    if not await module_enabled(actor.hospital_id, Module.consultation):
        raise Forbidden("The module 'consultation' is switched off for your hospital.")
    return actor


def diagram(state: str) -> str:
    """The machine's own Mermaid diagram in the reader's words, the current state
    highlighted."""
    return "\n".join(
        [
            CONSULTATION.mermaid(
                state_word=lambda s: pgettext("consultation state", s),
                step_word=lambda t: pgettext("consultation step", t.replace("_", " ")),
            ),
            "    classDef current fill:#0b6bcb,color:#fff,stroke:#07467f,stroke-width:3px",
            f"    class {state} current",
        ]
    )


async def _room(request: Request, actor: Actor, data: ConsultationRead) -> dict[str, Any]:
    experts: dict[int, list[ContactDoctor]] = {}
    for invite in data.invites:
        if invite.can_adjust:
            found = await contacts.search(actor, department_id=invite.department_id)
            experts[invite.department_id] = found.doctors
    _ = i18n.translator(i18n.language(request))
    return {
        "c": data,
        "live_labels": {
            "states": {k: _(v) for k, v in texts.STATE_LABELS.items()},
            "decisions": {k: _(v) for k, v in texts.DECISION_LABELS.items()},
        },
        "timeline": await service.timeline(actor, data.id),
        "diagram": diagram(data.state),
        "experts": experts,
        "when": await local_clock(actor),
        "zone": (await hospital_zone(actor.hospital_id)).key,
        "topics": [f"case:consultation:{data.id}"],
        "meeting_configured": bool(get_settings().consultation.meeting_url_template.strip()),
        **texts.labels(),
    }


async def _lists(actor: Actor) -> dict[str, Any]:
    return {
        "mine": await service.mine(actor),
        "reviews": await service.reviews(actor),
        "when": await local_clock(actor),
        "zone": (await hospital_zone(actor.hospital_id)).key,
        **texts.labels(),
    }


class ConsultationPages(PageController):
    @get("/consultations", opt=LIST)
    async def index(self, request: Request) -> Template:
        actor = await _doctor(request)
        return await page(
            request,
            "consultations/index.html",
            can_apply=APPLY in actor.permissions,
            topics=[f"user:{actor.user_id}"],
            **await _lists(actor),
        )

    @get("/consultations/lists", opt=LIST)
    async def lists(self, request: Request) -> Template:
        actor = await _doctor(request)
        return await page(request, "consultations/_lists.html", **await _lists(actor))

    @get("/consultations/{consultation_id:int}", opt=VIEW)
    async def room(self, request: Request, consultation_id: int) -> Template:
        actor = await _doctor(request)
        data = await service.view(ctx_of(request), consultation_id)
        return await page(request, "consultations/room.html", **await _room(request, actor, data))

    @get("/consultations/{consultation_id:int}/live")
    async def room_live(self, request: Request, consultation_id: int) -> Template:
        """The room's changing parts (no patient identifiers), re-fetched on each event."""
        actor = await _doctor(request)
        data = await service.read(actor, consultation_id)
        return await page(request, "consultations/_live.html", **await _room(request, actor, data))

    @get("/manage/consultations", opt=LOG)
    async def log(self, request: Request, q: str = "", offset: int = 0) -> Template:
        actor = admin_of(request)
        offset = max(offset, 0)
        result = await service.log(actor, q, offset, LOG_PAGE_SIZE)
        return await page(
            request,
            "consultations/log.html",
            result=result,
            q=q,
            offset=offset,
            size=LOG_PAGE_SIZE,
            when=await local_clock(actor),
            **texts.labels(),
        )
