"""Remote diagnosis pages (SPEC 2.2): ``/diagnosis`` (incoming and outgoing requests, state
filter, most urgent first, live) and the examination page's panel
``/exams/{id}/panel/diagnosis`` (send a request, or its state with Accept / Reject / Cancel,
and its timeline). They read through ``api.diagnosis.service``, as the API does; both
re-fetch their fragment when a ``diagnosis_request.*`` or ``exam.changed`` event arrives on
the viewer's hospital topic."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Request, get
from litestar.response import Template

from api.auth import ctx_of
from api.diagnosis import service
from api.diagnosis.service import SENDABLE_STATUSES
from api.phi import phi
from kernel import priority as priorities
from store.uow import Actor
from ui.exam_pages import exam_reader
from ui.labels.diagnosis import EVENT_LABELS, STATE_LABELS
from ui.pages import PageController, fragment, local_clock, page, signed_in

PAGE_SIZE = 30
FILTER_STATES = ("open", *STATE_LABELS)


def _topics(actor: Actor) -> list[str]:
    return [f"hospital:{actor.hospital_id}"] if actor.hospital_id is not None else []


async def _list_context(
    request: Request, actor: Actor, box: str, state: str, cursor: str
) -> dict[str, object]:
    box = box if box in service.BOXES else "incoming"
    result = await service.list_requests(ctx_of(request), box, state, cursor, PAGE_SIZE)
    query = {"box": box, "state": state}
    return {
        "box": box,
        "state": state,
        "requests": result.items,
        "next_url": "/diagnosis?" + urlencode({**query, "cursor": result.next_cursor})
        if result.next_cursor
        else "",
        "first_url": "/diagnosis?" + urlencode(query) if cursor else "",
        "rows_url": "/diagnosis/rows?" + urlencode({**query, "cursor": cursor}),
        "state_labels": STATE_LABELS,
        "filter_states": FILTER_STATES,
        "when": await local_clock(actor),
    }


class DiagnosisPages(PageController):
    path = "/"

    @get("/diagnosis", opt=phi("diagnosis_request.list", "diagnosis_request"))
    async def index(self, request: Request, box: str = "incoming", cursor: str = "") -> Template:
        actor = await exam_reader(request)
        state = request.query_params.get("state", "")
        context = await _list_context(request, actor, box, state, cursor)
        return await page(request, "diagnosis/index.html", **context, topics=_topics(actor))

    @get("/diagnosis/rows", opt=phi("diagnosis_request.list", "diagnosis_request"))
    async def rows(self, request: Request, box: str = "incoming", cursor: str = "") -> Template:
        """The list alone: what the live refresh swaps in."""
        if signed_in(request) is None:
            # logged out: the fragment says so (in the reader's language), no 500
            return fragment(request, "diagnosis/_rows.html", requests=[])
        actor = await exam_reader(request)
        state = request.query_params.get("state", "")
        context = await _list_context(request, actor, box, state, cursor)
        return await page(request, "diagnosis/_rows.html", **context)

    @get(
        "/exams/{exam_id:int}/panel/diagnosis",
        opt=phi("diagnosis_request.view", "examination", "exam_id"),
    )
    async def panel(self, request: Request, exam_id: int) -> Template:
        if signed_in(request) is None:
            return Template(template_name="diagnosis/_login.html")
        actor = await exam_reader(request)
        exam, current, earlier = await service.for_examination(ctx_of(request), exam_id)
        owner = actor.hospital_id == exam["hospital"]
        may_send = (
            owner
            and current is None
            and actor.kind == "doctor"
            and exam["status"] in SENDABLE_STATUSES
        )
        return await page(
            request,
            "diagnosis/panel.html",
            exam_id=exam_id,
            owner=owner,
            current=current,
            earlier=earlier,
            may_send=may_send,
            too_late=owner and current is None and exam["status"] not in SENDABLE_STATUSES,
            targets=await service.targets(actor) if may_send else [],
            priorities=priorities.NAMES,
            priority_labels=priorities.LABELS,
            exam_priority=priorities.name_of(exam["priority"]),
            state_labels=STATE_LABELS,
            event_labels=EVENT_LABELS,
            topics=_topics(actor),
            when=await local_clock(actor),
        )
