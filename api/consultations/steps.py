"""The consultation process's home: loading a consultation's rows and the records every step
leaves behind: the machine's facts, creation on the engine (``open_case``, the functions the
names of ``states.consultation.CONSULTATION_STEPS`` stand for), timeline steps that are not
transitions (files, report saves: ``store.engine.note``), live events for everybody
watching, and the one ``notify`` outbox row per step."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from api.consultations.access import audience, involvement, people_of, reviewers_of
from api.crud import first_or_not_found
from kernel.errors import Conflict, Forbidden
from kernel.i18n import N_, Msg
from kernel.settings import get_settings
from states.consultation import CONSULTATION, ConsultationFacts, ConsultationState, InviteFact
from store import engine
from store.engine import Done
from store.tables import (
    Consultation,
    ConsultationInvite,
    ConsultationParticipant,
    ConsultationReportVersion,
)
from store.timers import keep_timer
from store.uow import Actor, Ctx, UnitOfWork, now

CASE = CONSULTATION.name
AGREED = ("agree", "agree_join")  # the invite decisions that bring the department's expert
REMINDER = "reminder"  # the "starts soon" timer (api/consultations/reminders.py sends it)
LOCK_TIMER = "report_lock_expiry"  # the report lock's expiry (api/consultations/report.py)
OPEN_STATES = (
    ConsultationState.reviewing,
    ConsultationState.scheduled,
    ConsultationState.in_progress,
)  # files and examinations are added (and examinations removed) in these


def topic(consultation_id: int) -> str:
    return f"case:{CASE}:{consultation_id}"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def load(consultation_id: int) -> dict[str, Any]:
    return await first_or_not_found(
        Consultation.select(
            *Consultation.all_columns(),
            Consultation.hospital.name,
            Consultation.applicant.display_name,
        ).where(Consultation.id == consultation_id),
        N_("No consultation with id {consultation_id} exists."),
        consultation_id=consultation_id,
    )


async def open_for_editing(
    actor: Actor, consultation_id: int, refused: str, closed: str
) -> dict[str, Any]:
    """The consultation's row if ``actor`` is one of its editors (else 403 ``refused``) and
    it is still open (else 409 ``closed``, which may say its ``{state}``)."""
    who = await involvement(actor, consultation_id)
    if not who.editor:
        raise Forbidden(refused)
    row = await load(consultation_id)
    if row["state"] not in OPEN_STATES:
        raise Conflict(closed, state=Msg(row["state"], context="consultation state"))
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


@dataclass(frozen=True)
class InviteStep(ConsultationFacts):
    """The facts of a step on one invite (a decision, an expert change) and what its
    effects write: the invite row as read, the decision (agree, agree_join, deny) and who
    made it, or the new expert."""

    invite: dict[str, Any] = field(default_factory=dict)
    decision: str = ""
    by: int | None = None
    expert: int | None = None


def invite_step(
    invites: list[dict[str, Any]], invite: dict[str, Any], reason: str = "", **what: Any
) -> InviteStep:
    base = facts(invites, invite["department"], reason)
    return InviteStep(**vars(base), invite=invite, **what)


async def user_topics(consultation_id: int) -> list[str]:
    """Lists pages of everybody involved update live too (payloads carry ids and labels)."""
    return [f"user:{uid}" for uid in await audience(consultation_id)]


async def step(
    ctx: Ctx,
    consultation_id: int,
    trigger: str,
    step_facts: ConsultationFacts,
    version: int | None,
    *,
    reason: str = "",
    summary: dict[str, Any] | None = None,
) -> engine.Applied:
    """A transition of the consultation on the engine (what it leaves: its declaration),
    watched live by everybody involved."""
    return await engine.apply(
        ctx,
        CONSULTATION,
        Consultation,
        consultation_id,
        trigger,
        step_facts,
        version=version,
        reason=reason,
        summary=summary,
        topics=await user_topics(consultation_id),
    )


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
    return await engine.note(
        uow,
        CASE,
        consultation_id,
        event,
        state,
        from_state=from_state,
        reason=reason,
        summary=summary,
        topics=[topic(consultation_id), *await user_topics(consultation_id)],
        payload={"state": state},
    )


async def publish(
    uow: UnitOfWork, consultation_id: int, event: str, payload: dict[str, Any]
) -> None:
    body = {"case_type": CASE, "case_id": consultation_id, "event": event, **payload}
    for name in (topic(consultation_id), *await user_topics(consultation_id)):
        await uow.event(name, f"{CASE}.{event}", body)


async def notify(
    uow: UnitOfWork,
    consultation_id: int,
    event: str,
    user_ids: list[int],
    key: str,
    details: dict[str, str] | None = None,
) -> None:
    """A notice that is not a step's (a step's is the engine's, from its declared audiences):
    one outbox row; the dispatcher turns it into WeChat/WeCom/e-mail messages. ``key`` makes
    the same notice queued twice one row; ``details`` are what its text says besides the
    case (a reminder's start time), never the patient."""
    await uow.outbox(
        "notify",
        {
            "business_type": CASE,
            "event": event,
            "case_type": CASE,
            "case_id": consultation_id,
            "user_ids": sorted(set(user_ids)),
            "link": f"/consultations/{consultation_id}",
            **(details or {}),
        },
        key=key,
    )


@dataclass(frozen=True)
class Opening:
    """What a new consultation's creation needs besides its row: the invites (columns of
    ``ConsultationInvite`` without the consultation) and when it starts."""

    invites: list[dict[str, Any]]
    starts_at: datetime


async def open_case(
    uow: UnitOfWork, values: dict[str, Any], opening: Opening, topic_summary: dict[str, Any]
) -> int:
    """Create the consultation on the engine (its declared effects: the invites, the
    applicant's participation, the reminder; the notice to the applicant, the reviewers and
    the experts invited)."""
    reviewers = await reviewers_of([i["department"] for i in opening.invites])
    experts = [i["expert"] for i in opening.invites if i["expert"]]
    watching = sorted({int(values["applicant"]), *reviewers, *experts})
    done = await engine.create(
        uow.ctx,
        CONSULTATION,
        Consultation,
        values,
        summary=topic_summary,
        topics=[f"user:{uid}" for uid in watching],
        facts=opening,
    )
    return done.case_id


async def schedule_reminder(consultation_id: int, starts_at: datetime) -> None:
    """Remind ``AIMIS_CONSULTATION_REMINDER_MINUTES`` before the start (at once when the
    start is nearer than that); a start already past gets no reminder. A pending reminder
    of the consultation is replaced."""
    lead = timedelta(minutes=get_settings().consultation.reminder_minutes)
    due = None if starts_at <= now() else starts_at - lead
    await keep_timer(CASE, consultation_id, REMINDER, due)


async def cancel_reminder(consultation_id: int) -> None:
    await keep_timer(CASE, consultation_id, REMINDER, None)


async def _invites_and_applicant(done: Done) -> None:
    opening: Opening = done.facts
    for invite in opening.invites:
        await ConsultationInvite.insert(ConsultationInvite(consultation=done.case_id, **invite))
    row = await Consultation.select(Consultation.applicant).where(Consultation.id == done.case_id)
    await ConsultationParticipant.insert(
        ConsultationParticipant(
            consultation=done.case_id, user=row[0]["applicant"], role="applicant", joined_at=now()
        )
    )


async def _reminder(done: Done) -> None:
    await schedule_reminder(done.case_id, done.facts.starts_at)


async def _reminder_off(done: Done) -> None:
    # Started, withdrawn or cancelled: nobody needs the "starts soon" reminder any more (a
    # start tells everyone itself).
    await cancel_reminder(done.case_id)


async def _meeting(done: Done) -> None:
    await done.uow.outbox(
        "meeting.create", {"consultation_id": done.case_id}, key=f"meeting-{done.case_id}"
    )


async def _report_submitted(done: Done) -> None:
    """The submitted version is marked; the report's lock and its expiry timer go."""
    row = await Consultation.select(Consultation.report_version).where(
        Consultation.id == done.case_id
    )
    await Consultation.update(
        {
            Consultation.report_submitted_at: now(),
            Consultation.report_lock_user: None,
            Consultation.report_lock_until: None,
        }
    ).where(Consultation.id == done.case_id)
    await ConsultationReportVersion.update({ConsultationReportVersion.submitted: True}).where(
        ConsultationReportVersion.consultation == done.case_id,
        ConsultationReportVersion.version == row[0]["report_version"],
    )
    await keep_timer(CASE, done.case_id, LOCK_TIMER, None)


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


async def _decision(done: Done) -> None:
    """The department's decision, once (a second decision of the same invite is refused),
    its expert and a joining reviewer take part; a rejection needs no reminder."""
    step: InviteStep = done.facts
    invite = step.invite
    updated = (
        await ConsultationInvite.update(
            {
                ConsultationInvite.decision: step.decision,
                ConsultationInvite.decided_by: step.by,
                ConsultationInvite.decided_at: now(),
                ConsultationInvite.reason: step.reason,
            }
        )
        .where(ConsultationInvite.id == invite["id"], ConsultationInvite.decision == "")
        .returning(ConsultationInvite.id)
    )
    if not updated:
        raise Conflict("{value} has already decided.", value=department_label(invite))
    if step.decision in AGREED and invite["expert"]:
        await join(done.case_id, invite["expert"], "expert")
    if step.decision == "agree_join" and step.by is not None:
        await join(done.case_id, step.by, "participant")
    if done.to_state == "rejected":
        await cancel_reminder(done.case_id)


async def _expert(done: Done) -> None:
    """The department's expert changes; once it agreed, the new one takes part and the old
    one leaves."""
    step: InviteStep = done.facts
    invite = step.invite
    assert step.expert is not None
    await ConsultationInvite.update({ConsultationInvite.expert: step.expert}).where(
        ConsultationInvite.id == invite["id"]
    )
    if invite["decision"] in AGREED:
        await join(done.case_id, step.expert, "expert")
        if invite["expert"]:
            await _drop_expert(done.case_id, invite["expert"])


async def _new_expert(done: Done) -> list[int]:
    step: InviteStep = done.facts
    return [step.expert] if step.expert is not None else []


async def _declined_expert(done: Done) -> list[int]:
    """The expert of the department that declined: no longer among the people."""
    step: InviteStep = done.facts
    expert = step.invite.get("expert")
    return [int(expert)] if expert and step.decision == "deny" else []


async def _replaced_expert(done: Done) -> list[int]:
    """The department's expert before the change (none when it had none, or kept him)."""
    step: InviteStep = done.facts
    old = step.invite.get("expert")
    return [int(old)] if old and old != step.expert else []


async def _people(done: Done) -> list[int]:
    return await people_of(done.case_id)


async def _undecided_reviewers(done: Done) -> list[int]:
    """Reviewers still deciding can stop."""
    invites = await ConsultationInvite.select(
        ConsultationInvite.department, ConsultationInvite.decision
    ).where(ConsultationInvite.consultation == done.case_id)
    return await reviewers_of([i["department"] for i in invites if not i["decision"]])


async def _applicant(done: Done) -> list[int]:
    row = await Consultation.select(Consultation.applicant).where(Consultation.id == done.case_id)
    return [int(row[0]["applicant"])]


async def _invited(done: Done) -> list[dict[str, Any]]:
    return list(
        await ConsultationInvite.select(
            ConsultationInvite.department, ConsultationInvite.expert
        ).where(ConsultationInvite.consultation == done.case_id)
    )


async def _reviewers(done: Done) -> list[int]:
    return await reviewers_of([i["department"] for i in await _invited(done)])


async def _experts(done: Done) -> list[int]:
    return [int(i["expert"]) for i in await _invited(done) if i["expert"]]


async def _link(done: Done) -> str:
    return f"/consultations/{done.case_id}"


async def _describe(done: Done) -> str:
    row = await Consultation.select(Consultation.topic).where(Consultation.id == done.case_id)
    return f"{row[0]['topic']}; {len(await _invited(done))} departments invited"


engine.bind(
    CONSULTATION,
    audiences={
        "applicant": _applicant,
        "invited reviewers": _reviewers,
        "invited experts": _experts,
        "people": _people,
        "undecided reviewers": _undecided_reviewers,
        "new expert": _new_expert,
        "replaced expert": _replaced_expert,
        "declined expert": _declined_expert,
    },
    effects={
        "invites and applicant": _invites_and_applicant,
        "reminder": _reminder,
        "reminder off": _reminder_off,
        "meeting": _meeting,
        "report submitted": _report_submitted,
        "decision": _decision,
        "expert": _expert,
    },
    business_type=CASE,
    link=_link,
    describe=_describe,
)
