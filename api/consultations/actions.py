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
# The Chinese of the applicant's steps, for the Chinese of refusals only (the UI's words).
STEP_ZH = {"start": "开始会诊", "withdraw": "撤回会诊申请", "cancel": "取消会诊"}


def _invite(invites: list[dict[str, Any]], department_id: int) -> dict[str, Any]:
    for invite in invites:
        if invite["department"] == department_id:
            return invite
    raise BadRequest(
        f"Department {department_id} is not invited to this consultation.",
        zh=f"科室 {department_id} 未受邀参加本次会诊。",
    )


def _reviewer_only(ctx: Ctx, invite: dict[str, Any], what: str, what_zh: str) -> None:
    if not access.reviews_department(actor_of(ctx), invite["department"]):
        raise Forbidden(
            f"Only a reviewer of {department_label(invite)} may {what} for that department.",
            zh=f"只有{department_label(invite)}的审核人才能为该科室{what_zh}。",
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
            zh="审核意见须为 agree（同意）、agree_join（同意并参与）或 deny（拒绝）。",
        )
    invites = await invites_of(consultation_id)
    invite = _invite(invites, data.department_id)
    _reviewer_only(ctx, invite, "decide", "提交审核意见")
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
                f"{department_label(invite)} has already decided.",
                zh=f"{department_label(invite)}已提交过审核意见。",
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
    _reviewer_only(ctx, invite, "choose the expert", "指定专家")
    dept = (
        await Department.select(Department.id, Department.name)
        .where(Department.id == data.department_id)
        .first()
    )
    assert dept is not None
    await expert_in_department(data.user_id, dept)
    if invite["expert"] == data.user_id:
        raise BadRequest(
            "This doctor is already the department's expert.", zh="该医生已是该科室的专家。"
        )

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
            f"Only the applicant may {trigger} the consultation.",
            zh=f"只有申请人才能{STEP_ZH.get(trigger, trigger)}。",
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
