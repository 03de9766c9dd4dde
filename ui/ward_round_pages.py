"""Ward-round pages (SPEC 4): the list with its search and the apply form, and the room
(information, patient, examinations, experts, meeting, the record). They read through the
same services as the API; both update live by re-fetching their fragment on an event."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from api.accounts import service as accounts
from api.auth import ctx_of, module_enabled
from api.ward_rounds import printing, service
from api.ward_rounds.controllers import LIST, VIEW
from api.ward_rounds.schemas import WardRoundRead
from api.ward_rounds.service import APPLY
from kernel.domain import Module
from kernel.errors import Forbidden
from kernel.i18n import N_, pgettext
from kernel.settings import get_settings
from states.ward_round import WARD_ROUND
from store.uow import Actor
from store.zones import hospital_zone
from ui.pages import GoTo, PageController, local_clock, page, user_of

STEP_LABELS = {
    "start": N_("Start the ward round"),
    "cancel": N_("Cancel the ward round"),
    "finish": N_("Finish the ward round"),
}
EVENT_LABELS = {
    "create": N_("Applied"),
    "start": N_("Started"),
    "cancel": N_("Cancelled"),
    "finish": N_("Finished"),
    "record_saved": N_("Record saved"),
}


async def _doctor(request: Request) -> Actor:
    actor = user_of(request)
    if actor.realm == accounts.REALM_ADMIN:
        raise GoTo(Redirect("/"))
    if not await module_enabled(actor.hospital_id, Module.ward_round):
        raise Forbidden("The module 'ward_round' is switched off for your hospital.")
    return actor


def diagram(state: str) -> str:
    """The machine's Mermaid diagram in the reader's words, the current state highlighted."""
    return "\n".join(
        [
            WARD_ROUND.mermaid(
                state_word=lambda s: pgettext("ward_round state", s),
                step_word=lambda t: pgettext("ward_round step", t),
            ),
            "    classDef current fill:#0b6bcb,color:#fff,stroke:#07467f,stroke-width:3px",
            f"    class {state} current",
        ]
    )


async def _room(actor: Actor, data: WardRoundRead) -> dict[str, Any]:
    return {
        "w": data,
        "timeline": await service.timeline(actor, data.id),
        "diagram": diagram(data.state),
        "when": await local_clock(actor),
        "zone": (await hospital_zone(actor.hospital_id)).key,
        "topics": [f"case:ward_round:{data.id}"],
        "meeting_configured": bool(get_settings().consultation.meeting_url_template.strip()),
        "state_labels": printing.STATES,
        "step_labels": STEP_LABELS,
        "event_labels": EVENT_LABELS,
        "my_id": actor.user_id,
    }


class WardRoundPages(PageController):
    @get("/ward-rounds", opt=LIST)
    async def index(
        self,
        request: Request,
        q: str = "",
        patient: str = "",
        expert: str = "",
        day_from: str = "",
        day_to: str = "",
    ) -> Template:
        actor = await _doctor(request)
        rounds = await service.search(actor, q, patient, expert, day_from, day_to)
        return await page(
            request,
            "ward_rounds/index.html",
            can_apply=APPLY in actor.permissions,
            rounds=rounds,
            filters={
                "q": q,
                "patient": patient,
                "expert": expert,
                "day_from": day_from,
                "day_to": day_to,
            },
            when=await local_clock(actor),
            zone=(await hospital_zone(actor.hospital_id)).key,
            state_labels=printing.STATES,
            topics=[f"user:{actor.user_id}"],
        )

    @get("/ward-rounds/{ward_round_id:int}", opt=VIEW)
    async def room(self, request: Request, ward_round_id: int) -> Template:
        actor = await _doctor(request)
        data = await service.view(ctx_of(request), ward_round_id)
        return await page(request, "ward_rounds/room.html", **await _room(actor, data))

    @get("/ward-rounds/{ward_round_id:int}/live", opt=VIEW)
    async def room_live(self, request: Request, ward_round_id: int) -> Template:
        actor = await _doctor(request)
        data = await service.view(ctx_of(request), ward_round_id)
        return await page(request, "ward_rounds/_room.html", **await _room(actor, data))
