"""Remote diagnosis requests (SPEC 2.2), the process's home: who writes an examination's
report, creating a request, every step of it on the engine, and the functions the names of
its declaration (``states.diagnosis.DIAGNOSIS_STEPS``) stand for.

- One open request per examination (open = not rejected / cancelled). While it is open the
  examination is shared with the target hospital (``store.examinations`` reads this table).
- ``reporting_hospital(exam)``: the hospital that writes the examination's report.
- ``follow_report(ctx, exam_id, hospital_id, step)``: the report's steps move the request,
  called inside the report's own unit of work so both change in one transaction.
- Every step (``create_request``, ``apply_step``) leaves, through the engine, a history
  row, live events on ``hospital:<requester>`` and ``hospital:<target>`` (ids and states
  only), the examination's ``exam.changed`` (after-effect "examination lists"), an audit
  row, and a ``notify`` outbox row (business type "diagnosis") for the audiences its
  declaration names ("target reporters", "requester").
"""

from __future__ import annotations

from typing import Any

import msgspec

from kernel import priority as priorities
from kernel.domain import Kind, Permission
from kernel.errors import Conflict, NotFound
from kernel.i18n import Msg
from states.diagnosis import (
    ACCEPTED,
    CLOSED,
    DIAGNOSIS,
    NO_OP,
    REPORT_STEPS,
    DiagnosisFacts,
    DiagnosisState,
)
from store.engine import Applied, Done, apply, bind, create
from store.examinations import EVENT_TYPE, exam_changed
from store.tables import DiagnosisRequest, Examination, Hospital, User
from store.uow import Ctx, UnitOfWork, now, unit_of_work

CASE = DIAGNOSIS.name
CLOSED_STATES = [s.value for s in CLOSED]


def topics(request: dict[str, Any]) -> list[str]:
    return [f"hospital:{request['hospital']}", f"hospital:{request['target_hospital']}"]


async def load(request_id: int) -> dict[str, Any]:
    row = await DiagnosisRequest.select().where(DiagnosisRequest.id == request_id).first()
    if row is None:
        raise NotFound(
            "No remote diagnosis request with id {request_id} exists.",
            request_id=request_id,
        )
    return row


async def open_request(exam_id: int) -> dict[str, Any] | None:
    """The examination's request that is not rejected or cancelled, if any."""
    return (
        await DiagnosisRequest.select()
        .where(
            DiagnosisRequest.examination == exam_id,
            DiagnosisRequest.state.not_in(CLOSED_STATES),
        )
        .order_by(DiagnosisRequest.id, ascending=False)
        .first()
    )


async def hospital_name(hospital_id: int) -> str:
    row = await Hospital.select(Hospital.name).where(Hospital.id == hospital_id).first()
    return str(row["name"]) if row else f"hospital {hospital_id}"


async def reporting_hospital(exam: dict[str, Any]) -> int:
    """The hospital that writes the report of ``exam`` (a row with ``id`` and ``hospital``):
    the target of its open request once accepted, else the examination's own hospital.
    While a request waits for acceptance nobody writes it (409)."""
    request = await open_request(int(exam["id"]))
    if request is None:
        return int(exam["hospital"])
    if request["state"] == DiagnosisState.requested:
        name = await hospital_name(int(request["target_hospital"]))
        raise Conflict(
            "The examination waits for {name} to accept the remote diagnosis request.",
            name=name,
            extra={"request_id": request["id"], "state": request["state"]},
        )
    assert request["state"] in ACCEPTED
    return int(request["target_hospital"])


async def report_writers(hospital_id: int) -> list[int]:
    """Active doctors of the hospital whose role may write reports."""
    rows = await User.select(User.id, User.role.permissions).where(  # type: ignore[union-attr]
        User.hospital == hospital_id,
        User.kind == Kind.doctor.value,
        User.active == True,  # noqa: E712
        User.frozen == False,  # noqa: E712
    )
    return sorted(
        int(r["id"])
        for r in rows
        if Permission.report_write.value in msgspec.json.decode(r["role.permissions"] or "[]")
    )


async def target_reporters(done: Done) -> list[int]:
    request = await load(done.case_id)
    return await report_writers(int(request["target_hospital"]))


async def requester(done: Done) -> list[int]:
    request = await load(done.case_id)
    return [int(request["requested_by"])]


async def link(done: Done) -> str:
    request = await load(done.case_id)
    return f"/exams/{request['examination']}"


async def _exam_events(uow: UnitOfWork, request: dict[str, Any], closing: bool) -> None:
    """Open lists refresh: the owner's and the target's (also when the request closes and
    the examination leaves the target's list, which ``exam_changed`` no longer reaches)."""
    exam = (
        await Examination.select(Examination.hospital, Examination.status)
        .where(Examination.id == request["examination"])
        .first()
    )
    if exam is None:
        return
    exam_id, owner = int(request["examination"]), int(exam["hospital"])
    await exam_changed(uow, exam_id, owner, exam["status"])
    if closing:
        payload = {"id": exam_id, "hospital_id": owner, "status": exam["status"]}
        await uow.event(f"hospital:{request['target_hospital']}", EVENT_TYPE, payload)


async def examination_lists(done: Done) -> None:
    request = await load(done.case_id)
    await _exam_events(done.uow, request, closing=done.to_state in CLOSED_STATES)


async def request_row(done: Done) -> None:
    """The request's own columns: when it changed, who decided, a rejection's reason."""
    values: dict[Any, Any] = {DiagnosisRequest.updated_at: now()}
    if done.trigger in ("accept", "reject") and done.ctx.actor is not None:
        values[DiagnosisRequest.decided_by] = done.ctx.actor.user_id
    if done.trigger == "reject":
        values[DiagnosisRequest.reason] = done.reason[:2000]
    await DiagnosisRequest.update(values).where(DiagnosisRequest.id == done.case_id)


async def describe(done: Done) -> str:
    request = await load(done.case_id)
    level = int(request["priority"])
    return f"examination {request['examination']} → hospital {request['target_hospital']}" + (
        f" ({priorities.name_of(level)})" if level else ""
    )


async def notice(done: Done) -> dict[str, Any]:
    """What every notice of the request says besides its step: its priority (an urgent or
    emergency request's notice says so, ``notifiers.texts``)."""
    request = await load(done.case_id)
    return {"priority": priorities.name_of(int(request["priority"]))}


bind(
    DIAGNOSIS,
    audiences={"target reporters": target_reporters, "requester": requester},
    effects={"examination lists": examination_lists, "request row": request_row},
    business_type="diagnosis",
    link=link,
    describe=describe,
    notice=notice,
)


def summary(request: dict[str, Any]) -> dict[str, Any]:
    return {
        "examination_id": request["examination"],
        "hospital_id": request["hospital"],
        "target_hospital_id": request["target_hospital"],
        "priority": priorities.name_of(int(request["priority"])),
    }


async def create_request(
    ctx: Ctx,
    exam: dict[str, Any],
    target_hospital_id: int,
    clinical_info: str,
    priority: int,
) -> int:
    """Insert a checked request (the caller checked who and where) on the engine: its
    history row, events, audit and notice. A second open request for the examination is a
    409."""
    actor = ctx.actor
    assert actor is not None
    at = now()
    async with unit_of_work(ctx):
        existing = await open_request(int(exam["id"]))
        if existing is not None:
            raise Conflict(
                "The examination already has an open remote diagnosis request "
                "(#{id}, {state}); cancel it first.",
                id=existing["id"],
                state=Msg(existing["state"], context="diagnosis state"),
                extra={"request_id": existing["id"], "state": existing["state"]},
            )
        values = {
            "examination": exam["id"],
            "hospital": exam["hospital"],
            "target_hospital": target_hospital_id,
            "requested_by": actor.user_id,
            "priority": priority,
            "clinical_info": clinical_info,
            "created_at": at,
            "updated_at": at,
        }
        done = await create(
            ctx,
            DIAGNOSIS,
            DiagnosisRequest,
            values,
            summary=summary({**values, "id": 0}),
            topics=topics(values),
        )
    return done.case_id


async def apply_step(
    ctx: Ctx,
    request_id: int,
    trigger: str,
    *,
    version: int | None = None,
    reason: str = "",
) -> Applied:
    """One step of the machine on request ``request_id`` with everything it leaves behind."""
    request = await load(request_id)
    return await apply(
        ctx,
        DIAGNOSIS,
        DiagnosisRequest,
        request_id,
        trigger,
        DiagnosisFacts(reason=reason),
        version=version,
        reason=reason.strip(),
        summary=summary(request),
        topics=topics(request),
    )


async def follow_report(ctx: Ctx, exam_id: int, reporting_hospital_id: int, step: str) -> None:
    """Move the examination's open request along with its report (call it inside the
    report's unit of work). ``step``: draft | initial | approve | return | print. Nothing
    happens when the examination has no open request targeted at ``reporting_hospital_id``
    (a report of the hospital's own examination), nor for "draft" while reporting or "print"
    once printed. A first "initial" without a saved draft passes through reporting."""
    if step not in REPORT_STEPS:
        raise ValueError(f"unknown report step {step!r}")
    request = await open_request(exam_id)
    if request is None or int(request["target_hospital"]) != reporting_hospital_id:
        return
    state = DiagnosisState(request["state"])
    if state in NO_OP.get(step, ()):
        return
    if step == "initial" and state in (DiagnosisState.accepted, DiagnosisState.returned):
        await apply_step(ctx, int(request["id"]), "draft")
    await apply_step(ctx, int(request["id"]), step)
