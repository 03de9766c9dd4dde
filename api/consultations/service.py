"""Remote consultation (SPEC 3.1–3.3, 8.10): create, read, the lists, the timeline and the
admins' log. The steps of the machine (decide, adjust, start …) live in ``actions``, the
report in ``report``, files in ``attachments``; all of them read through ``access``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from api.consultations import access, exams
from api.consultations.access import APPLY, Involvement
from api.consultations.schemas import (
    AttachmentRead,
    ConsultationCreate,
    ConsultationRead,
    ConsultationSummary,
    InviteRead,
    LogEntry,
    LogPage,
    ParticipantRead,
    PatientRead,
    PersonRead,
    ReportRead,
)
from api.consultations.steps import (
    OPEN_STATES,
    Opening,
    department_label,
    facts,
    invites_of,
    iso,
    load,
    open_case,
)
from api.crud import from_row
from api.schemas import HistoryEntry
from kernel.domain import Kind, Module
from kernel.errors import BadRequest, Forbidden, Unauthorized
from kernel.i18n import Msg, say
from states.consultation import CONSULTATION, ConsultationState
from store import locks
from store.engine import timeline as case_timeline
from store.scoping import patient_hospital_ids
from store.tables import (
    Attachment,
    Consultation,
    ConsultationInvite,
    ConsultationParticipant,
    Department,
    Hospital,
    User,
)
from store.uow import Actor, Ctx, now, unit_of_work
from store.zones import hospital_zone

SEXES = ("", "male", "female", "other")
ID_NUMBER_RE = re.compile(r"[0-9A-Za-z-]{1,32}")
MAX_INVITES = 20
APPLICANT_STEPS = ("start", "withdraw", "cancel")


def actor_of(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized(
            "Please log in; your session is missing or has expired.",
        )
    return ctx.actor


# --- create (SPEC 3.1) ----------------------------------------------------------------------


def checked_text(value: str, what: str, limit: int, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise BadRequest("Please enter the {what}.", what=Msg(what))
    if len(value) > limit:
        raise BadRequest(
            "The {what} is {n} characters long; at most {limit} fit.",
            what=Msg(what),
            n=len(value),
            limit=limit,
        )
    return value


async def parse_time(value: str, hospital_id: int | None) -> datetime:
    """ISO 8601; a time without an offset is the hospital's local time (a datetime input)."""
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            "The scheduled time {value!r} is not a date and time like 2026-12-01T09:30.",
            value=value,
        ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=await hospital_zone(hospital_id))
    return at.astimezone(now().tzinfo)


def _patient(data: ConsultationCreate) -> PatientRead:
    p = data.patient
    sex = p.sex.strip().lower()
    if sex not in SEXES:
        raise BadRequest(
            "The patient's sex is male, female or other (or left empty).",
        )
    birth = p.birth_date.strip()
    if birth:
        try:
            born = date.fromisoformat(birth)
        except ValueError:
            raise BadRequest(
                "The birth date {birth!r} is not a date like 1970-01-31.",
                birth=birth,
            ) from None
        if born > now().date():
            raise BadRequest("The patient's birth date lies in the future.")
    id_number = p.id_number.strip().upper()
    if id_number and not ID_NUMBER_RE.fullmatch(id_number):
        raise BadRequest(
            "The ID number has letters and digits only, at most 32 of them.",
        )
    return PatientRead(
        name=checked_text(p.name, "patient's name", 100),
        sex=sex,
        birth_date=birth,
        id_number=id_number,
        his_number=checked_text(p.his_number, "HIS number", 64),
    )


async def consultation_hospitals(alliance_id: int | None) -> dict[int, str]:
    """Active hospitals of the alliance with the consultation module on: id → name."""
    return await module_hospitals(alliance_id, Module.consultation)


async def module_hospitals(
    alliance_id: int | None, module: Module, level: str | None = None
) -> dict[int, str]:
    """Active hospitals of the alliance (of ``level``, if given) with ``module`` on: id →
    name."""
    if alliance_id is None:
        return {}
    query = Hospital.select(Hospital.id, Hospital.name, Hospital.modules).where(
        Hospital.alliance == alliance_id,
        Hospital.active == True,  # noqa: E712
    )
    if level is not None:
        query = query.where(Hospital.level == level)
    return {
        r["id"]: r["name"]
        for r in await query
        if module.value in msgspec.json.decode(r["modules"] or "[]")
    }


async def _checked_invites(actor: Actor, data: ConsultationCreate) -> list[dict[str, Any]]:
    if not data.invites:
        raise BadRequest("Invite at least one department.")
    if len(data.invites) > MAX_INVITES:
        raise BadRequest(
            "At most {max_invites} departments can be invited to one consultation.",
            max_invites=MAX_INVITES,
        )
    ids = [i.department_id for i in data.invites]
    if len(set(ids)) != len(ids):
        raise BadRequest(
            "A department is invited twice; invite each department once.",
        )
    hospitals = await consultation_hospitals(actor.alliance_id)
    departments = {
        d["id"]: d
        for d in await Department.select(
            Department.id, Department.name, Department.hospital, Department.active
        ).where(Department.id.is_in(ids))
    }
    out = []
    for invite in data.invites:
        dept = departments.get(invite.department_id)
        if dept is None or not dept["active"] or dept["hospital"] not in hospitals:
            raise BadRequest(
                "Department {department_id} cannot be invited: it does not exist, is "
                "switched off, or its hospital does not take part in remote "
                "consultation.",
                department_id=invite.department_id,
            )
        if invite.expert_id is not None:
            await expert_in_department(invite.expert_id, dept)
        out.append(
            {
                "department": dept["id"],
                "hospital": dept["hospital"],
                "mandatory": invite.mandatory,
                "expert": invite.expert_id,
            }
        )
    return out


async def expert_in_department(user_id: int, dept: dict[str, Any]) -> None:
    ok = await User.exists().where(
        User.id == user_id,
        User.department == dept["id"],
        User.kind == Kind.doctor.value,
        User.active == True,  # noqa: E712
    )
    if not ok:
        raise BadRequest(
            "The chosen expert is not an active doctor of {name}.",
            name=dept["name"],
        )


async def create(ctx: Ctx, data: ConsultationCreate) -> ConsultationRead:
    actor = actor_of(ctx)
    if actor.kind != Kind.doctor or APPLY not in actor.permissions:
        raise Forbidden(
            "Your role lacks the permission to apply for a consultation.",
        )
    topic = checked_text(data.topic, "topic", 200, required=True)
    summary = checked_text(data.clinical_summary, "clinical summary", 10_000)
    scheduled = await parse_time(data.scheduled_at, actor.hospital_id)
    if scheduled < now() - timedelta(minutes=5):
        raise BadRequest(
            "The scheduled time lies in the past; choose a time to come.",
        )
    if scheduled > now() + timedelta(days=366):
        raise BadRequest("The scheduled time is more than a year ahead.")
    patient = _patient(data)
    invites = await _checked_invites(actor, data)
    exam_ids = await exams.checked_ids(actor, list(data.examination_ids))
    assert actor.hospital_id is not None
    values = {
        "hospital": actor.hospital_id,
        "applicant": actor.user_id,
        "topic": topic,
        "scheduled_at": scheduled,
        "clinical_summary": summary,
        "patient_name": patient.name,
        "patient_sex": patient.sex,
        "patient_birth_date": patient.birth_date,
        "patient_id_number": patient.id_number,
        "patient_his_number": patient.his_number,
        "created_at": now(),
    }
    async with unit_of_work(ctx) as uow:
        cid = await open_case(
            uow,
            values,
            Opening(invites, scheduled),
            {"topic": topic, "departments": len(invites)},
        )
        await exams.add(uow, cid, ConsultationState.reviewing.value, exam_ids, actor.user_id)
    return await read(actor, cid)


# --- read (SPEC 3.3) ------------------------------------------------------------------------


def _person(user_id: int | None, name: str | None) -> PersonRead | None:
    return PersonRead(user_id, name or "") if user_id else None


async def view(ctx: Ctx, consultation_id: int) -> ConsultationRead:
    """The room's data, with patient identifiers: reading it is audited by the routes'
    declaration (``api.phi``)."""
    return await read(actor_of(ctx), consultation_id)


async def read(actor: Actor, consultation_id: int) -> ConsultationRead:
    who = await access.involvement(actor, consultation_id)
    row = await load(consultation_id)
    invites = await invites_of(consultation_id)
    state = ConsultationState(row["state"])
    case_facts = facts(invites, report_length=len(row["report_text"].strip()))
    names = await _names(
        [i["decided_by"] for i in invites if i["decided_by"]] + [row["report_lock_user"] or 0]
    )
    invite_reads = []
    for i in invites:
        dept_facts = facts(invites, i["department"], reason="-")
        reviewer = access.reviews_department(actor, i["department"])
        invite_reads.append(
            from_row(
                InviteRead,
                i,
                department_id=i["department"],
                department_name=i["department.name"],
                hospital_id=i["hospital"],
                hospital_name=i["hospital.name"],
                expert=_person(i["expert"], i["expert.display_name"]),
                decided_by=_person(i["decided_by"], names.get(i["decided_by"] or 0)),
                decided_at=iso(i["decided_at"]),
                can_decide=reviewer and CONSULTATION.decide(state, "agree", dept_facts).allowed,
                can_adjust=reviewer
                and CONSULTATION.decide(state, "adjust_expert", dept_facts).allowed,
            )
        )
    actions, blocked = _actions(who, state, case_facts)
    lock_user, lock_until = live_lock(row)
    return ConsultationRead(
        id=row["id"],
        topic=row["topic"],
        scheduled_at=row["scheduled_at"].isoformat(),
        created_at=row["created_at"].isoformat(),
        clinical_summary=row["clinical_summary"],
        state=state.value,
        version=row["version"],
        hospital_id=row["hospital"],
        hospital_name=row["hospital.name"],
        applicant=PersonRead(row["applicant"], row["applicant.display_name"]),
        patient=PatientRead(
            name=row["patient_name"],
            sex=row["patient_sex"],
            birth_date=row["patient_birth_date"],
            id_number=row["patient_id_number"],
            his_number=row["patient_his_number"],
        ),
        invites=invite_reads,
        participants=await participants(consultation_id),
        attachments=await attachments(consultation_id),
        examinations=await exams.examinations(actor, consultation_id),
        meeting_url=row["meeting_url"],
        report=ReportRead(
            text=row["report_text"],
            report_version=row["report_version"],
            lock_holder=_person(lock_user, names.get(lock_user or 0)),
            lock_until=iso(lock_until) if lock_user else None,
            submitted_at=iso(row["report_submitted_at"]),
            can_edit=who.editor and state == ConsultationState.in_progress,
            holding=lock_user == actor.user_id,
        ),
        my_roles=sorted(who.roles),
        actions=actions,
        blocked=blocked,
        can_attach=who.editor and state in OPEN_STATES,
    )


def live_lock(row: dict[str, Any]) -> tuple[int | None, datetime | None]:
    """The report lock as it stands now: an expired lock is no lock (honoured on read)."""
    return locks.live(row["report_lock_user"], row["report_lock_until"])


def _actions(
    who: Involvement, state: ConsultationState, case_facts: Any
) -> tuple[list[str], dict[str, str]]:
    mine = list(APPLICANT_STEPS) if who.applicant else []
    if who.editor:
        mine.append("submit_report")
    actions, blocked = [], {}
    for trigger in mine:
        decision = CONSULTATION.decide(state, trigger, case_facts)
        if decision.allowed:
            actions.append(trigger)
        elif any(s.trigger == trigger and state in s.sources for s in CONSULTATION.steps):
            blocked[trigger] = say(decision.reason)  # shown as it is: in the reader's words
    return actions, blocked


async def _names(user_ids: list[int]) -> dict[int, str]:
    ids = sorted({u for u in user_ids if u})
    if not ids:
        return {}
    rows = await User.select(User.id, User.display_name).where(User.id.is_in(ids))
    return {r["id"]: r["display_name"] for r in rows}


async def participants(consultation_id: int) -> list[ParticipantRead]:
    rows = (
        await ConsultationParticipant.select(
            ConsultationParticipant.user,
            ConsultationParticipant.role,
            ConsultationParticipant.user.display_name,
            ConsultationParticipant.user.department.name,  # type: ignore[union-attr]
            ConsultationParticipant.user.hospital.name,  # type: ignore[union-attr]
        )
        .where(ConsultationParticipant.consultation == consultation_id)
        .order_by(ConsultationParticipant.id)
    )
    return [
        ParticipantRead(
            user_id=r["user"],
            name=r["user.display_name"],
            role=r["role"],
            department_name=r["user.department.name"] or "",
            hospital_name=r["user.hospital.name"] or "",
        )
        for r in rows
    ]


async def attachments(consultation_id: int) -> list[AttachmentRead]:
    rows = (
        await Attachment.select()
        .where(Attachment.owner_type == "consultation", Attachment.owner_id == consultation_id)
        .order_by(Attachment.id)
    )
    names = await _names([r["uploaded_by"] for r in rows])
    return [
        from_row(
            AttachmentRead,
            r,
            name=r["original_name"],
            uploaded_by=_person(r["uploaded_by"], names.get(r["uploaded_by"])),
            created_at=r["created_at"].isoformat(),
            url=f"/api/consultations/{consultation_id}/attachments/{r['id']}",
        )
        for r in rows
    ]


async def timeline(actor: Actor, consultation_id: int) -> list[HistoryEntry]:
    await access.involvement(actor, consultation_id)
    rows = await case_timeline("consultation", consultation_id)
    names = await _names([r["actor_id"] for r in rows if r["actor_id"]])
    return [HistoryEntry.of(r, names.get(r["actor_id"] or 0)) for r in rows]


# --- lists (SPEC 3.2) -----------------------------------------------------------------------

LIST_LIMIT = 200


async def _summaries(
    ids: list[int], roles: dict[int, frozenset[str]], pending: dict[int, list[str]]
) -> list[ConsultationSummary]:
    if not ids:
        return []
    rows = (
        await Consultation.select(
            Consultation.id,
            Consultation.topic,
            Consultation.scheduled_at,
            Consultation.state,
            Consultation.version,
            Consultation.applicant.display_name,
            Consultation.hospital.name,
        )
        .where(Consultation.id.is_in(ids))
        .order_by(Consultation.scheduled_at, ascending=False)
        .limit(LIST_LIMIT)
    )
    return [
        ConsultationSummary(
            id=r["id"],
            topic=r["topic"],
            scheduled_at=r["scheduled_at"].isoformat(),
            state=r["state"],
            version=r["version"],
            applicant_name=r["applicant.display_name"],
            hospital_name=r["hospital.name"],
            my_roles=sorted(roles[r["id"]]),
            pending_departments=pending.get(r["id"], []),
        )
        for r in rows
    ]


async def mine(actor: Actor) -> list[ConsultationSummary]:
    """Consultations the actor applied for, joined, or is the invited expert of."""
    roles = await access.involvements(actor)
    ids = [cid for cid, r in roles.items() if r & {"applicant", "participant", "expert"}]
    return await _summaries(ids, roles, {})


async def reviews(actor: Actor) -> list[ConsultationSummary]:
    """Consultations waiting for the decision of the actor's department (SPEC 3.2)."""
    roles = await access.involvements(actor)
    ids = [cid for cid, r in roles.items() if "reviewer" in r]
    if not ids:
        return []
    undecided = await ConsultationInvite.select(
        *ConsultationInvite.all_columns(),
        ConsultationInvite.department.name,
        ConsultationInvite.hospital.name,
        ConsultationInvite.consultation.state,
    ).where(
        ConsultationInvite.consultation.is_in(ids),
        ConsultationInvite.department == actor.department_id,
        ConsultationInvite.decision == "",
    )
    pending: dict[int, list[str]] = {}
    for i in undecided:
        if i["consultation.state"] in (ConsultationState.reviewing, ConsultationState.scheduled):
            pending.setdefault(i["consultation"], []).append(department_label(i))
    return await _summaries(sorted(pending), roles, pending)


# --- the admins' consultation log (SPEC 8.10) -------------------------------------------------


async def log(actor: Actor, q: str = "", offset: int = 0, limit: int = 50) -> LogPage:
    """Topic, time, applicant and state of the consultations of the admin's hospital (as
    applicant's or invited). The topic is the doctors' free text and may name the patient:
    a PHI read (the routes are declared, ``api.phi``), for hospital administrators only."""
    hospital_ids = patient_hospital_ids(actor) if actor.kind == Kind.hospital_admin else []
    if not hospital_ids:
        raise Forbidden(
            "The consultation log is for hospital administrators.",
        )
    if not hospital_ids:
        return LogPage(0, [])
    invited = await ConsultationInvite.select(ConsultationInvite.consultation).where(
        ConsultationInvite.hospital.is_in(hospital_ids)
    )
    own = await Consultation.select(Consultation.id).where(
        Consultation.hospital.is_in(hospital_ids)
    )
    ids = sorted({r["consultation"] for r in invited} | {r["id"] for r in own})
    if not ids:
        return LogPage(0, [])
    query = Consultation.select(
        Consultation.id,
        Consultation.topic,
        Consultation.scheduled_at,
        Consultation.created_at,
        Consultation.state,
        Consultation.applicant.display_name,
        Consultation.hospital.name,
    ).where(Consultation.id.is_in(ids))
    rows = await query.order_by(Consultation.created_at, ascending=False)
    needle = q.strip().lower()
    if needle:
        rows = [
            r
            for r in rows
            if needle in r["topic"].lower() or needle in r["applicant.display_name"].lower()
        ]
    page = rows[max(offset, 0) : max(offset, 0) + min(max(limit, 1), 200)]
    invited_names: dict[int, list[str]] = {}
    if page:
        for i in await ConsultationInvite.select(
            ConsultationInvite.consultation, ConsultationInvite.hospital.name
        ).where(ConsultationInvite.consultation.is_in([r["id"] for r in page])):
            names = invited_names.setdefault(i["consultation"], [])
            if i["hospital.name"] not in names:
                names.append(i["hospital.name"])
    return LogPage(
        total=len(rows),
        items=[
            LogEntry(
                id=r["id"],
                topic=r["topic"],
                scheduled_at=r["scheduled_at"].isoformat(),
                created_at=r["created_at"].isoformat(),
                applicant_name=r["applicant.display_name"],
                hospital_name=r["hospital.name"],
                state=r["state"],
                invited_hospitals=invited_names.get(r["id"], []),
            )
            for r in page
        ],
    )
