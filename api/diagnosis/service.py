"""Remote diagnosis requests (SPEC 2.2): who may send, see, accept, reject and cancel; the
lists; one request with its timeline. The persistence of each step (history, live events,
audit, notices) is ``api.diagnosis.steps``.

Who is who: the *requester* is the examination's own hospital (its doctors send and cancel
requests), the *target* the diagnosing hospital (its doctors with report.write or
report.review, and its hospital admin, accept or reject). A request is visible to both
hospitals; to anybody else (the alliance admin included: he sees no patient data) it does
not exist (404), and neither does a request of a soft-deleted examination
(``store.scoping.not_deleted``). Reading one or a list is audited by the routes' declaration
(``api.phi``).
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

import msgspec

from api.diagnosis import steps as store
from api.diagnosis.schemas import (
    RequestCreate,
    RequestDetail,
    RequestPage,
    RequestRead,
    TargetHospital,
)
from api.schemas import HistoryEntry
from kernel import priority as priorities
from kernel.domain import Kind, Module, Permission
from kernel.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from kernel.i18n import Listed, Msg
from states.diagnosis import DIAGNOSIS, DiagnosisFacts, DiagnosisState
from store.engine import timeline as case_timeline
from store.examinations import get_examination
from store.reads import note
from store.scoping import not_deleted, patient_hospital_ids, sees_patients_of
from store.tables import DiagnosisRequest, Hospital, User
from store.uow import Actor, Ctx

MAX_CLINICAL_INFO = 2000
MAX_REASON = 2000
BOXES = ("incoming", "outgoing")
STATES = tuple(s.value for s in DiagnosisState)
DECIDERS = frozenset({Permission.report_write.value, Permission.report_review.value})
# A report beyond its draft is the examination's own hospital's: too late to send it away.
SENDABLE_STATUSES = ("images_arrived", "report_draft")
WAITING = DiagnosisState.requested.value
DR = DiagnosisRequest
COLUMNS = (
    *DR.all_columns(),
    DR.examination.patient_name,
    DR.examination.accession_number,
    DR.examination.device_type,
    DR.examination.check_item_name,
    DR.examination.exam_time,
    DR.examination.status,
    DR.hospital.name,
    DR.target_hospital.name,
)


def actor_of(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized(
            "Please log in; your session is missing or has expired.",
        )
    return ctx.actor


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


# --- who is who -----------------------------------------------------------------------------


def side(actor: Actor, row: dict[str, Any]) -> str:
    """The actor's part in a request: target, requester or none. Only the people of the two
    hospitals have one (``store.scoping.sees_patients_of``)."""
    if sees_patients_of(actor, row["target_hospital"]):
        return "target"
    if sees_patients_of(actor, row["hospital"]):
        return "requester"
    return ""


def may_decide(actor: Actor) -> bool:
    return actor.kind == Kind.hospital_admin or bool(DECIDERS & actor.permissions)


def may_cancel(actor: Actor) -> bool:
    return actor.kind in (Kind.doctor, Kind.hospital_admin)


def actions_for(actor: Actor, row: dict[str, Any]) -> list[str]:
    """The buttons the viewer gets: allowed by the machine and by the viewer's part."""
    mine = side(actor, row)
    possible = DIAGNOSIS.available(DiagnosisState(row["state"]), DiagnosisFacts(reason="-"))
    wanted = []
    if mine == "target" and may_decide(actor):
        wanted += ["accept", "reject"]
    if mine == "requester" and may_cancel(actor):
        wanted.append("cancel")
    return [a for a in wanted if a in possible]


def not_found(request_id: int) -> NotFound:
    return NotFound(
        "No remote diagnosis request with id {request_id} exists, or it belongs to "
        "other hospitals.",
        request_id=request_id,
    )


async def _row(actor: Actor, request_id: int) -> dict[str, Any]:
    row = await DR.select(*COLUMNS).where(DR.id == request_id, not_deleted(DR)).first()
    if row is None or not side(actor, row):
        raise not_found(request_id)
    return row


async def _names(user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await User.select(User.id, User.display_name).where(User.id.is_in(sorted(user_ids)))
    return {int(r["id"]): str(r["display_name"]) for r in rows}


def _read(actor: Actor, row: dict[str, Any], names: dict[int, str]) -> RequestRead:
    return RequestRead(
        id=row["id"],
        state=row["state"],
        version=row["version"],
        priority=priorities.name_of(row["priority"]),
        urgent=int(row["priority"]) > priorities.ROUTINE,
        clinical_info=row["clinical_info"],
        reason=row["reason"],
        examination_id=row["examination"],
        patient_name=row["examination.patient_name"] or "",
        accession_number=row["examination.accession_number"] or "",
        device_type=row["examination.device_type"] or "",
        check_item_name=row["examination.check_item_name"] or "",
        exam_time=_iso(row["examination.exam_time"]),
        exam_status=row["examination.status"] or "",
        hospital_id=row["hospital"],
        hospital_name=row["hospital.name"] or "",
        target_hospital_id=row["target_hospital"],
        target_hospital_name=row["target_hospital.name"] or "",
        requested_by=row["requested_by"],
        requested_by_name=names.get(int(row["requested_by"]), ""),
        created_at=_iso(row["created_at"]),
        updated_at=_iso(row["updated_at"]),
        direction="incoming" if side(actor, row) == "target" else "outgoing",
        actions=actions_for(actor, row),
    )


async def _detail(actor: Actor, row: dict[str, Any]) -> RequestDetail:
    names = await _names({int(row["requested_by"])})
    read = _read(actor, row, names)
    history = await case_timeline(store.CASE, int(row["id"]))
    return RequestDetail(
        **msgspec.structs.asdict(read),
        timeline=[HistoryEntry.of(h) for h in history],
    )


# --- where to send --------------------------------------------------------------------------


async def targets(actor: Actor) -> list[TargetHospital]:
    """Active hospitals of the actor's alliance with remote diagnosis switched on, the
    actor's own aside; leading hospitals first, then by name."""
    if actor.alliance_id is None:
        return []
    rows = await Hospital.select(
        Hospital.id, Hospital.name, Hospital.level, Hospital.modules
    ).where(Hospital.alliance == actor.alliance_id, Hospital.active == True)  # noqa: E712
    found = [
        TargetHospital(id=r["id"], name=r["name"], level=r["level"])
        for r in rows
        if r["id"] != actor.hospital_id
        and Module.remote_diagnosis.value in msgspec.json.decode(r["modules"] or "[]")
    ]
    return sorted(found, key=lambda t: (t.level != "leading", t.name, t.id))


# --- create ---------------------------------------------------------------------------------


def request_priority(data: RequestCreate, exam: dict[str, Any]) -> int:
    """The priority a request is sent with: the one chosen, else urgent when ``urgent``
    says so, else the examination's. A chosen routine with ``urgent`` is a 400."""
    if data.priority is None or not data.priority.strip():
        return priorities.URGENT if data.urgent else int(exam["priority"])
    chosen = priorities.parse(data.priority)
    if data.urgent and chosen == priorities.ROUTINE:
        raise BadRequest("A request marked urgent cannot have the priority routine.")
    return chosen


async def create(ctx: Ctx, data: RequestCreate) -> RequestDetail:
    actor = actor_of(ctx)
    if actor.kind != Kind.doctor or actor.hospital_id is None:
        raise Forbidden(
            "Only a doctor of the examination's hospital sends it for remote diagnosis.",
        )
    clinical_info = data.clinical_info.strip()
    if len(clinical_info) > MAX_CLINICAL_INFO:
        raise BadRequest(
            "The clinical information is {n} characters long; at most {max_clinical_info} fit.",
            n=len(clinical_info),
            max_clinical_info=MAX_CLINICAL_INFO,
        )
    exam = await get_examination(actor, data.examination_id)
    if exam["hospital"] != actor.hospital_id:
        raise Forbidden(
            "This examination belongs to another hospital; only its own hospital "
            "sends it for remote diagnosis.",
        )
    if data.target_hospital_id == actor.hospital_id:
        raise BadRequest(
            "Your hospital cannot send a remote diagnosis request to itself.",
        )
    if data.target_hospital_id not in {t.id for t in await targets(actor)}:
        raise BadRequest(
            "Hospital {target_hospital_id} cannot diagnose this examination: send it "
            "to an active hospital of your alliance that has remote diagnosis "
            "switched on.",
            target_hospital_id=data.target_hospital_id,
        )
    if exam["status"] not in SENDABLE_STATUSES:
        raise Conflict(
            "The examination's report is already past its draft ({status}); it is "
            "reported here and cannot be sent for remote diagnosis.",
            status=Msg(exam["status"], context="exam status"),
            extra={"status": exam["status"]},
        )
    request_id = await store.create_request(
        ctx, exam, data.target_hospital_id, clinical_info, request_priority(data, exam)
    )
    return await _detail(actor, await _row(actor, request_id))


# --- steps ----------------------------------------------------------------------------------


async def step(
    ctx: Ctx, request_id: int, trigger: str, version: int | None = None, reason: str = ""
) -> RequestDetail:
    """accept / reject by the target hospital, cancel by the requester."""
    actor = actor_of(ctx)
    row = await _row(actor, request_id)
    mine = side(actor, row)
    if trigger in ("accept", "reject"):
        if mine != "target" or not may_decide(actor):
            raise Forbidden(
                "Only a doctor of the diagnosing hospital with the report.write or "
                "report.review permission, or its administrator, accepts or rejects "
                "a request.",
            )
    elif trigger == "cancel":
        if mine != "requester" or not may_cancel(actor):
            raise Forbidden(
                "Only the requesting hospital cancels its request.",
            )
    else:
        raise NotFound(
            "A remote diagnosis request has no action {trigger!r}.",
            trigger=trigger,
        )
    if trigger == "reject":
        reason = reason.strip()
        if not reason:
            raise BadRequest(
                "Please give the reason for rejecting the request.",
            )
        if len(reason) > MAX_REASON:
            raise BadRequest(
                "The reason is {n} characters long; at most {max_reason} fit.",
                n=len(reason),
                max_reason=MAX_REASON,
            )
    if row["state"] != WAITING:
        verb = "cancelled" if trigger == "cancel" else f"{trigger}ed"
        raise Conflict(
            "The request is already {state}; only a request that waits for acceptance can "
            "be {verb}.",
            state=Msg(row["state"].replace("_", " "), context="diagnosis state"),
            verb=Msg(verb, context="diagnosis action"),
            extra={"state": row["state"], "version": row["version"]},
        )
    await store.apply_step(ctx, request_id, trigger, version=version, reason=reason)
    return await _detail(actor, await _row(actor, request_id))


# --- reads ----------------------------------------------------------------------------------


async def view(ctx: Ctx, request_id: int) -> RequestDetail:
    actor = actor_of(ctx)
    row = await _row(actor, request_id)
    note(hospital_id=row["hospital"])  # the examination's hospital
    return await _detail(actor, row)


def _cursor(value: str) -> tuple[int, int]:
    """(priority, id) of the last row seen."""
    try:
        level, last = base64.urlsafe_b64decode(value.encode()).decode().split(":")
        if level not in priorities.NAMES:
            raise ValueError(level)
        return priorities.NAMES.index(level), int(last)
    except ValueError:
        raise BadRequest(
            "The cursor is malformed; start again from the first page.",
        ) from None


def _make_cursor(level: int, last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{priorities.name_of(level)}:{last_id}".encode()).decode()


async def list_requests(
    ctx: Ctx, box: str = "incoming", state: str = "", cursor: str = "", limit: int = 50
) -> RequestPage:
    """One page of the incoming (my hospital diagnoses) or outgoing (my hospital asked)
    requests: the most urgent first (emergency, urgent, routine), each the newest first;
    keyset by (priority, id), one query a priority over (hospital, priority, id)."""
    actor = actor_of(ctx)
    if box not in BOXES:
        raise BadRequest(
            "The box is incoming or outgoing.",
        )
    if state and state != "open" and state not in STATES:
        raise BadRequest(
            "The state is one of {states} (or none for all).", states=Listed(["open", *STATES])
        )
    if not 1 <= limit <= 200:
        raise BadRequest("The limit is between 1 and 200.")
    where: list[Any] = [not_deleted(DR)]
    column: Any
    own = patient_hospital_ids(actor)
    if not own:
        return RequestPage(items=[], next_cursor=None)
    column = DR.target_hospital if box == "incoming" else DR.hospital
    where.append(column == own[0])
    if state == "open":
        where.append(DR.state.not_in(store.CLOSED_STATES))
    elif state:
        where.append(DR.state == state)
    levels = list(range(len(priorities.NAMES) - 1, -1, -1))  # 2, 1, 0
    last: int | None = None
    if cursor:
        level, last = _cursor(cursor)
        levels = [p for p in levels if p <= level]
    rows: list[dict[str, Any]] = []
    for phase in levels:
        query = DR.select(*COLUMNS).where(*where, DR.priority == phase)
        if last is not None and phase == levels[0]:
            query = query.where(DR.id < last)
        rows += await query.order_by(DR.id, ascending=False).limit(limit + 1 - len(rows))
        if len(rows) > limit:
            break
    more = len(rows) > limit
    rows = rows[:limit]
    names = await _names({int(r["requested_by"]) for r in rows})
    note(detail=f"{box} {state or 'all'}")
    return RequestPage(
        items=[_read(actor, r, names) for r in rows],
        next_cursor=_make_cursor(int(rows[-1]["priority"]), int(rows[-1]["id"])) if more else None,
    )


async def for_examination(
    ctx: Ctx, exam_id: int
) -> tuple[dict[str, Any], RequestDetail | None, RequestDetail | None]:
    """The examination page's panel: the examination (404 when the viewer may not see it),
    its open request, and its latest closed one (why it came back)."""
    actor = actor_of(ctx)
    exam = await get_examination(actor, exam_id)
    note(hospital_id=exam["hospital"])
    rows = (
        await DR.select(*COLUMNS)
        .where(DR.examination == exam_id)
        .order_by(DR.id, ascending=False)
        .limit(20)
    )
    mine = [r for r in rows if side(actor, r)]
    open_row = next((r for r in mine if r["state"] not in store.CLOSED_STATES), None)
    closed_row = next((r for r in mine if r["state"] in store.CLOSED_STATES), None)
    return (
        exam,
        await _detail(actor, open_row) if open_row else None,
        await _detail(actor, closed_row) if closed_row else None,
    )
