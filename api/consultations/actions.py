"""The machine's steps on a consultation (SPEC 3.2): decide, adjust the expert, start,
withdraw, cancel. Who may act is checked here (403); whether the step is allowed now is the
machine's (409 with the guard's sentence); ``store.engine.apply`` writes the state, history,
events and audit row in one transaction, and the effects add the sub-records and the
outbox rows (notification, meeting link) to that same transaction: the declared ones of
start, withdraw and cancel (``steps.py``), the closures here of the decisions and the
expert changes.
"""

from __future__ import annotations

from typing import Any

from api.consultations import access
from api.consultations.schemas import DecisionIn, Done, ExpertIn, StepIn
from api.consultations.service import actor_of, expert_in_department
from api.consultations.steps import (
    cancel_reminder,
    department_label,
    facts,
    invites_of,
    notify,
    user_topics,
)
from kernel.errors import BadRequest, Conflict, Forbidden
from kernel.i18n import N_, Msg
from states.consultation import CONSULTATION, ConsultationState
from states.machine import Decision
from store.engine import apply
from store.tables import (
    Consultation,
    ConsultationInvite,
    ConsultationParticipant,
    Department,
)
from store.uow import Ctx, UnitOfWork, now

DECISIONS = {"agree": "agree", "agree_join": "agree", "deny": "deny"}
AGREED = ("agree", "agree_join")


def _invite(invites: list[dict[str, Any]], department_id: int) -> dict[str, Any]:
    for invite in invites:
        if invite["department"] == department_id:
            return invite
    raise BadRequest(
        "Department {department_id} is not invited to this consultation.",
        department_id=department_id,
    )


def _reviewer_only(ctx: Ctx, invite: dict[str, Any], what: str) -> None:
    if not access.reviews_department(actor_of(ctx), invite["department"]):
        raise Forbidden(
            "Only a reviewer of {value} may {what} for that department.",
            value=department_label(invite),
            what=Msg(what),
        )


async def join(consultation_id: int, user_id: int, role: str) -> None:
    """Add a participant unless the user already takes part under another role."""
    if await ConsultationParticipant.exists().where(
        ConsultationParticipant.consultation == consultation_id,
        ConsultationParticipant.user == user_id,
    ):
        return
    await ConsultationParticipant.insert(
        ConsultationParticipant(
            consultation=consultation_id, user=user_id, role=role, joined_at=now()
        )
    )


async def _drop_expert(consultation_id: int, user_id: int) -> None:
    """An adjusted-away expert leaves, unless he is still the expert of an agreed department."""
    still = await ConsultationInvite.exists().where(
        ConsultationInvite.consultation == consultation_id,
        ConsultationInvite.expert == user_id,
        ConsultationInvite.decision.is_in(list(AGREED)),
    )
    if not still:
        await ConsultationParticipant.delete().where(
            ConsultationParticipant.consultation == consultation_id,
            ConsultationParticipant.user == user_id,
            ConsultationParticipant.role == "expert",
        )


async def decide(ctx: Ctx, consultation_id: int, data: DecisionIn) -> Done:
    """Agree and join / Agree / Deny for one invited department."""
    actor = actor_of(ctx)
    await access.involvement(actor, consultation_id)
    trigger = DECISIONS.get(data.decision)
    if trigger is None:
        raise BadRequest(
            "The decision is agree, agree_join or deny.",
        )
    invites = await invites_of(consultation_id)
    invite = _invite(invites, data.department_id)
    _reviewer_only(ctx, invite, N_("decide"))
    reason = data.reason.strip()[:2000]

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        updated = (
            await ConsultationInvite.update(
                {
                    ConsultationInvite.decision: data.decision,
                    ConsultationInvite.decided_by: actor.user_id,
                    ConsultationInvite.decided_at: now(),
                    ConsultationInvite.reason: reason,
                }
            )
            .where(ConsultationInvite.id == invite["id"], ConsultationInvite.decision == "")
            .returning(ConsultationInvite.id)
        )
        if not updated:
            raise Conflict(
                "{value} has already decided.",
                value=department_label(invite),
            )
        if data.decision in AGREED and invite["expert"]:
            await join(consultation_id, invite["expert"], "expert")
        if data.decision == "agree_join":
            await join(consultation_id, actor.user_id, "participant")
        if decision.dest == ConsultationState.rejected:
            await cancel_reminder(consultation_id)
        await notify(uow, consultation_id, trigger, await access.people_of(consultation_id))

    done = await apply(
        ctx,
        CONSULTATION,
        Consultation,
        consultation_id,
        trigger,
        facts(invites, data.department_id, reason),
        version=data.version,
        reason=reason,
        summary={
            "department_id": data.department_id,
            "department": department_label(invite),
            "decision": data.decision,
        },
        topics=await user_topics(consultation_id),
        effects=effects,
    )
    return Done(
        message=f"Decision recorded; the consultation is {done.to_state}.", version=done.version
    )


async def adjust_expert(ctx: Ctx, consultation_id: int, data: ExpertIn) -> Done:
    actor = actor_of(ctx)
    await access.involvement(actor, consultation_id)
    invites = await invites_of(consultation_id)
    invite = _invite(invites, data.department_id)
    _reviewer_only(ctx, invite, N_("choose the expert"))
    dept = (
        await Department.select(Department.id, Department.name)
        .where(Department.id == data.department_id)
        .first()
    )
    assert dept is not None
    await expert_in_department(data.user_id, dept)
    if invite["expert"] == data.user_id:
        raise BadRequest("This doctor is already the department's expert.")

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        await ConsultationInvite.update({ConsultationInvite.expert: data.user_id}).where(
            ConsultationInvite.id == invite["id"]
        )
        if invite["decision"] in AGREED:
            await join(consultation_id, data.user_id, "expert")
            if invite["expert"]:
                await _drop_expert(consultation_id, invite["expert"])
        people = await access.people_of(consultation_id)
        await notify(uow, consultation_id, "adjust_expert", [*people, data.user_id])

    done = await apply(
        ctx,
        CONSULTATION,
        Consultation,
        consultation_id,
        "adjust_expert",
        facts(invites, data.department_id),
        version=data.version,
        summary={
            "department_id": data.department_id,
            "department": department_label(invite),
            "expert_id": data.user_id,
            "previous_expert_id": invite["expert"],
        },
        topics=await user_topics(consultation_id),
        effects=effects,
    )
    return Done(message="The expert is changed.", version=done.version)


async def applicant_step(ctx: Ctx, consultation_id: int, trigger: str, data: StepIn) -> Done:
    """Start, withdraw or cancel: the applicant's steps."""
    actor = actor_of(ctx)
    who = await access.involvement(actor, consultation_id)
    if not who.applicant:
        raise Forbidden(
            "Only the applicant may {trigger} the consultation.",
            trigger=Msg(trigger, context="consultation step"),
        )
    invites = await invites_of(consultation_id)
    reason = data.reason.strip()[:2000]
    # its effects and notice: the declaration (states.consultation), bound in steps.py
    done = await apply(
        ctx,
        CONSULTATION,
        Consultation,
        consultation_id,
        trigger,
        facts(invites, reason=reason),
        version=data.version,
        reason=reason,
        topics=await user_topics(consultation_id),
    )
    return Done(message=f"The consultation is {done.to_state}.", version=done.version)
