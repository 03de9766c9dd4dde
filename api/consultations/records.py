"""Loading a consultation's rows and writing the records every step leaves behind: the
machine's facts, history rows for steps that are not transitions (creation, files, report
saves), live events for everybody watching, and the one ``notify`` outbox row per step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from api.consultations.access import audience
from kernel.errors import NotFound
from states.consultation import ConsultationFacts, InviteFact
from store.tables import CaseHistory, Consultation, ConsultationInvite
from store.uow import Ctx, UnitOfWork, now

CASE = "consultation"


def topic(consultation_id: int) -> str:
    return f"case:{CASE}:{consultation_id}"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def load(consultation_id: int) -> dict[str, Any]:
    row = (
        await Consultation.select(
            *Consultation.all_columns(),
            Consultation.hospital.name,
            Consultation.applicant.display_name,
        )
        .where(Consultation.id == consultation_id)
        .first()
    )
    if row is None:
        raise NotFound(
            "No consultation with id {consultation_id} exists.",
            consultation_id=consultation_id,
        )
    return row


async def invites_of(consultation_id: int) -> list[dict[str, Any]]:
    return list(
        await ConsultationInvite.select(
            *ConsultationInvite.all_columns(),
            ConsultationInvite.department.name,
            ConsultationInvite.hospital.name,
            ConsultationInvite.expert.display_name,
        )
        .where(ConsultationInvite.consultation == consultation_id)
        .order_by(ConsultationInvite.id)
    )


def department_label(invite: dict[str, Any]) -> str:
    """Two hospitals may both have a "Radiology": a sentence names the hospital too."""
    return f"{invite['department.name']} ({invite['hospital.name']})"


def facts(
    invites: list[dict[str, Any]],
    department_id: int | None = None,
    reason: str = "",
    report_length: int = 0,
) -> ConsultationFacts:
    return ConsultationFacts(
        invites=tuple(
            InviteFact(i["department"], department_label(i), i["mandatory"], i["decision"])
            for i in invites
        ),
        department_id=department_id,
        reason=reason,
        report_length=report_length,
    )


async def user_topics(consultation_id: int) -> list[str]:
    """Lists pages of everybody involved update live too (payloads carry ids and labels)."""
    return [f"user:{uid}" for uid in await audience(consultation_id)]


async def record_step(
    uow: UnitOfWork,
    consultation_id: int,
    event: str,
    state: str,
    *,
    reason: str = "",
    summary: dict[str, Any] | None = None,
    from_state: str | None = None,
) -> int:
    """A history row and live events for a step that is not a machine transition."""
    ctx: Ctx = uow.ctx
    actor = ctx.actor
    row = await CaseHistory.insert(
        CaseHistory(
            case_type=CASE,
            case_id=consultation_id,
            actor_id=actor.user_id if actor else None,
            actor_name=actor.username if actor else "system",
            event=event,
            from_state=state if from_state is None else from_state,
            to_state=state,
            reason=reason[:2000],
            summary=msgspec.json.encode(summary or {}).decode(),
            at=now(),
            ip=ctx.ip[:64],
        )
    ).returning(CaseHistory.id)
    history_id = int(row[0]["id"])
    await publish(uow, consultation_id, event, {"state": state, "history_id": history_id})
    return history_id


async def publish(
    uow: UnitOfWork, consultation_id: int, event: str, payload: dict[str, Any]
) -> None:
    body = {"case_type": CASE, "case_id": consultation_id, "event": event, **payload}
    for name in (topic(consultation_id), *await user_topics(consultation_id)):
        await uow.event(name, f"{CASE}.{event}", body)


async def latest_history_id(consultation_id: int) -> int:
    """Inside a step's transaction: the history row the step has just written."""
    row = (
        await CaseHistory.select(CaseHistory.id)
        .where(CaseHistory.case_type == CASE, CaseHistory.case_id == consultation_id)
        .order_by(CaseHistory.id, ascending=False)
        .first()
    )
    return int(row["id"]) if row else 0


async def notify(
    uow: UnitOfWork, consultation_id: int, event: str, user_ids: list[int], key: str = ""
) -> None:
    """One outbox row per step; the dispatcher turns it into WeChat/WeCom/e-mail messages.
    ``key`` (default: the step's history row) makes the same notice queued twice one row."""
    key = key or f"notify-consultation-{consultation_id}-{await latest_history_id(consultation_id)}"
    await uow.outbox(
        "notify",
        {
            "business_type": CASE,
            "event": event,
            "case_type": CASE,
            "case_id": consultation_id,
            "user_ids": sorted(set(user_ids)),
            "link": f"/consultations/{consultation_id}",
        },
        key=key,
    )
