"""The machine's steps on a consultation (SPEC 3.2): decide, adjust the expert, start,
withdraw, cancel. Who may act is checked here (403); whether the step is allowed now is the
machine's (409 with the guard's sentence); ``store.engine.apply`` writes the state, history,
events and audit row in one transaction, with what the step's declaration
(``states.consultation.CONSULTATION_STEPS``) names: its sub-records (the invite's decision,
the expert, the participants), its outbox rows (the notice, the meeting link), bound in
``steps.py``. A decision or an expert change carries what its effects write in its facts
(``steps.InviteStep``).
"""

from __future__ import annotations

from typing import Any

from api.consultations import access
from api.consultations.schemas import DecisionIn, Done, ExpertIn, StepIn
from api.consultations.service import actor_of, expert_in_department
from api.consultations.steps import department_label, facts, invite_step, invites_of, step
from kernel.errors import BadRequest, Forbidden
from kernel.i18n import N_, Msg, gettext
from store.tables import (
    Department,
)
from store.uow import Ctx

DECISIONS = {"agree": "agree", "agree_join": "agree", "deny": "deny"}


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

    done = await step(
        ctx,
        consultation_id,
        trigger,
        invite_step(invites, invite, reason, decision=data.decision, by=actor.user_id),
        data.version,
        reason=reason,
        summary={
            "department_id": data.department_id,
            "department": department_label(invite),
            "decision": data.decision,
        },
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

    done = await step(
        ctx,
        consultation_id,
        "adjust_expert",
        invite_step(invites, invite, expert=data.user_id),
        data.version,
        summary={
            "department_id": data.department_id,
            "department": department_label(invite),
            "expert_id": data.user_id,
            "previous_expert_id": invite["expert"],
        },
    )
    return Done(message=gettext("The expert is changed."), version=done.version)


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
    done = await step(
        ctx, consultation_id, trigger, facts(invites, reason=reason), data.version, reason=reason
    )
    return Done(message=f"The consultation is {done.to_state}.", version=done.version)
