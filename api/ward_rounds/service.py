"""Remote ward rounds (SPEC 4.1-4.3): apply, read the room, the searchable list, the steps
(start, cancel, finish) and the ward-round record. Every read asks ``access``."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import msgspec

from api.consultations import exams
from api.consultations.contacts import matches  # the pickers' matching, pinyin too
from api.consultations.schemas import ExamRead, PersonRead
from api.consultations.service import ID_NUMBER_RE, actor_of, checked_text, parse_time
from api.crud import first_or_not_found
from api.schemas import HistoryEntry
from api.ward_rounds import access
from api.ward_rounds.access import Involvement
from api.ward_rounds.schemas import (
    Done,
    ExpertRead,
    RecordIn,
    StepIn,
    WardPatientRead,
    WardRoundCreate,
    WardRoundRead,
    WardRoundSummary,
)
from api.ward_rounds.steps import CASE, Opening, open_case, step, topic, user_topics
from kernel.domain import Kind, Permission
from kernel.errors import BadRequest, Conflict, Forbidden
from kernel.i18n import N_, Msg, say
from kernel.settings import get_settings
from states.ward_round import WARD_ROUND, WardRoundFacts, WardRoundState
from store import engine
from store.tables import (
    User,
    WardRound,
    WardRoundExamination,
    WardRoundExpert,
    WardRoundRecordVersion,
)
from store.uow import Actor, Ctx, now, unit_of_work
from store.zones import hospital_zone

APPLY = Permission.ward_round_apply.value
MAX_EXPERTS = 10
LIST_LIMIT = 200
APPLICANT_STEPS = ("start", "cancel", "finish")
EXPERT_STEPS = ("start",)
MAX_RECORD_CHARS = 100_000


async def _experts(actor: Actor, ids: list[int]) -> list[int]:
    if not ids:
        raise BadRequest("Choose at least one expert for the ward round.")
    unique = list(dict.fromkeys(ids))
    if len(unique) > MAX_EXPERTS:
        raise BadRequest(
            "At most {limit} experts can be invited to one ward round.", limit=MAX_EXPERTS
        )
    hospitals = await access.expert_hospitals(actor.alliance_id)
    found = await User.select(User.id).where(
        User.id.is_in(unique),
        User.kind == Kind.doctor.value,
        User.active == True,  # noqa: E712
        User.frozen == False,  # noqa: E712
        User.hospital.is_in(list(hospitals) or [0]),
    )
    missing = set(unique) - {r["id"] for r in found}
    if missing or actor.user_id in unique:
        raise BadRequest(
            "User {user_id} cannot be a ward-round expert: only active doctors of the "
            "alliance's leading hospital with remote ward rounds on are invited.",
            user_id=min(missing) if missing else actor.user_id,
        )
    return unique


async def create(ctx: Ctx, data: WardRoundCreate) -> WardRoundRead:
    actor = actor_of(ctx)
    if actor.kind != Kind.doctor or APPLY not in actor.permissions:
        raise Forbidden("Your role lacks the permission to apply for a ward round.")
    topic_text = checked_text(data.topic, "topic", 200, required=True)
    summary = checked_text(data.summary, N_("summary"), 10_000)
    scheduled = await parse_time(data.scheduled_at, actor.hospital_id)
    if scheduled < now() - timedelta(minutes=5):
        raise BadRequest("The scheduled time lies in the past; choose a time to come.")
    if scheduled > now() + timedelta(days=366):
        raise BadRequest("The scheduled time is more than a year ahead.")
    id_number = data.patient.id_number.strip().upper()
    if id_number and not ID_NUMBER_RE.fullmatch(id_number):
        raise BadRequest("The ID number has letters and digits only, at most 32 of them.")
    experts = await _experts(actor, list(data.expert_ids))
    exam_ids = await exams.checked_ids(actor, list(data.examination_ids))
    assert actor.hospital_id is not None
    values = {
        "hospital": actor.hospital_id,
        "applicant": actor.user_id,
        "topic": topic_text,
        "scheduled_at": scheduled,
        "summary": summary,
        "patient_name": checked_text(data.patient.name, "patient's name", 100),
        "patient_id_number": id_number,
        "patient_his_number": checked_text(data.patient.his_number, "HIS number", 64),
        "created_at": now(),
    }
    async with unit_of_work(ctx) as uow:
        wid = await open_case(uow, values, Opening(experts, exam_ids, scheduled, actor.user_id))
    return await read(actor, wid)


async def load(ward_round_id: int) -> dict[str, Any]:
    return await first_or_not_found(
        WardRound.select(
            *WardRound.all_columns(), WardRound.hospital.name, WardRound.applicant.display_name
        ).where(WardRound.id == ward_round_id),
        N_("No ward round with id {ward_round_id} exists."),
        ward_round_id=ward_round_id,
    )


async def experts_of(ward_round_id: int) -> list[ExpertRead]:
    rows = (
        await WardRoundExpert.select(
            WardRoundExpert.expert,
            WardRoundExpert.opinion,
            WardRoundExpert.opinion_at,
            WardRoundExpert.expert.display_name,
            WardRoundExpert.expert.department.name,  # type: ignore[union-attr]
            WardRoundExpert.expert.hospital.name,  # type: ignore[union-attr]
        )
        .where(WardRoundExpert.ward_round == ward_round_id)
        .order_by(WardRoundExpert.id)
    )
    return [
        ExpertRead(
            id=r["expert"],
            name=r["expert.display_name"],
            department_name=r["expert.department.name"] or "",
            hospital_name=r["expert.hospital.name"] or "",
            opinion=r["opinion"],
            opinion_at=r["opinion_at"].isoformat() if r["opinion_at"] else None,
        )
        for r in rows
    ]


def facts_of(row: dict[str, Any], experts: list[ExpertRead]) -> WardRoundFacts:
    return WardRoundFacts(
        minutes_to_start=(row["scheduled_at"] - now()).total_seconds() / 60,
        start_window=get_settings().ward_round.start_window_minutes,
        conclusion_length=len(row["conclusion"].strip()),
        experts_without_opinion=tuple(e.name for e in experts if not e.opinion.strip()),
    )


async def attached_ids(ward_round_id: int) -> list[int]:
    rows = (
        await WardRoundExamination.select(WardRoundExamination.examination)
        .where(WardRoundExamination.ward_round == ward_round_id)
        .order_by(WardRoundExamination.id)
    )
    return [int(r["examination"]) for r in rows]


def _actions(who: Involvement, state: WardRoundState, f: WardRoundFacts) -> tuple[list, dict]:
    mine = list(APPLICANT_STEPS) if who.applicant else list(EXPERT_STEPS)
    actions, blocked = [], {}
    for trigger in mine:
        decision = WARD_ROUND.decide(state, trigger, f)
        if decision.allowed:
            actions.append(trigger)
        elif any(s.trigger == trigger and state in s.sources for s in WARD_ROUND.steps):
            blocked[trigger] = say(decision.reason)
    return actions, blocked


async def read(actor: Actor, ward_round_id: int) -> WardRoundRead:
    who = await access.involvement(actor, ward_round_id)
    row = await load(ward_round_id)
    experts = await experts_of(ward_round_id)
    state = WardRoundState(row["state"])
    actions, blocked = _actions(who, state, facts_of(row, experts))
    return WardRoundRead(
        id=row["id"],
        topic=row["topic"],
        scheduled_at=row["scheduled_at"].isoformat(),
        created_at=row["created_at"].isoformat(),
        summary=row["summary"],
        state=state.value,
        version=row["version"],
        hospital_id=row["hospital"],
        hospital_name=row["hospital.name"],
        applicant=PersonRead(row["applicant"], row["applicant.display_name"]),
        patient=WardPatientRead(
            row["patient_name"], row["patient_id_number"], row["patient_his_number"]
        ),
        experts=experts,
        examinations=await exams.attached_reads(actor, await attached_ids(ward_round_id)),
        meeting_url=row["meeting_url"],
        conclusion=row["conclusion"],
        record_version=row["record_version"],
        finished_at=row["finished_at"].isoformat() if row["finished_at"] else None,
        my_roles=sorted(who.roles),
        actions=actions,
        blocked=blocked,
        can_write=state == WardRoundState.in_progress,
    )


async def view(ctx: Ctx, ward_round_id: int) -> WardRoundRead:
    """The room's data, with patient identifiers: audited by the route (``api.phi``)."""
    return await read(actor_of(ctx), ward_round_id)


async def timeline(actor: Actor, ward_round_id: int) -> list[HistoryEntry]:
    await access.involvement(actor, ward_round_id)
    rows = await engine.timeline(CASE, ward_round_id)
    ids = sorted({r["actor_id"] for r in rows if r["actor_id"]})
    names = {
        r["id"]: r["display_name"]
        for r in (
            await User.select(User.id, User.display_name).where(User.id.is_in(ids)) if ids else []
        )
    }
    return [HistoryEntry.of(r, names.get(r["actor_id"] or 0)) for r in rows]


async def find_examinations(actor: Actor, id_number: str, his_number: str) -> list[ExamRead]:
    """The patient's cloud examinations the applicant may see (the consultations' search:
    his hospital's and those shared with it)."""
    return await exams.search(actor, id_number, his_number)


# --- the list (SPEC 4.3) --------------------------------------------------------------------


def _day(value: str, what: str) -> date | None:
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            "The {what} {value!r} is not a date like 2026-12-01.", what=Msg(what), value=value
        ) from None


async def search(
    actor: Actor,
    q: str = "",
    patient: str = "",
    expert: str = "",
    day_from: str = "",
    day_to: str = "",
) -> list[WardRoundSummary]:
    """The rounds the actor takes part in, newest first, narrowed by topic (``q``), patient
    (name, ID or HIS number), expert (name or pinyin initials) and date (the hospital's)."""
    start, end = _day(day_from, N_("first date")), _day(day_to, N_("last date"))
    roles = await access.involvements(actor)
    if not roles:
        return []
    rows = (
        await WardRound.select(
            WardRound.id,
            WardRound.topic,
            WardRound.scheduled_at,
            WardRound.state,
            WardRound.patient_name,
            WardRound.patient_id_number,
            WardRound.patient_his_number,
            WardRound.applicant.display_name,
            WardRound.hospital.name,
            WardRound.hospital,
        )
        .where(WardRound.id.is_in(list(roles)))
        .order_by(WardRound.scheduled_at, ascending=False)
        .limit(LIST_LIMIT)
    )
    names: dict[int, list[str]] = {}
    for e in await WardRoundExpert.select(
        WardRoundExpert.ward_round, WardRoundExpert.expert.display_name
    ).where(WardRoundExpert.ward_round.is_in([r["id"] for r in rows] or [0])):
        names.setdefault(e["ward_round"], []).append(e["expert.display_name"])
    out = []
    for r in rows:
        day = r["scheduled_at"].astimezone(await hospital_zone(r["hospital"])).date()
        if (start and day < start) or (end and day > end):
            continue
        if q.strip() and not matches(q.strip().lower(), r["topic"]):
            continue
        who = (r["patient_name"], r["patient_id_number"], r["patient_his_number"])
        if patient.strip() and not matches(patient.strip().lower(), *who):
            continue
        if expert.strip() and not matches(expert.strip().lower(), *names.get(r["id"], [])):
            continue
        out.append(
            WardRoundSummary(
                id=r["id"],
                topic=r["topic"],
                scheduled_at=r["scheduled_at"].isoformat(),
                state=r["state"],
                patient_name=r["patient_name"],
                applicant_name=r["applicant.display_name"],
                hospital_name=r["hospital.name"],
                expert_names=names.get(r["id"], []),
                my_roles=sorted(roles[r["id"]]),
            )
        )
    return out


# --- steps ----------------------------------------------------------------------------------


async def apply_step(ctx: Ctx, ward_round_id: int, trigger: str, data: StepIn) -> Done:
    """Start (applicant or expert), cancel and finish (the applicant)."""
    actor = actor_of(ctx)
    who = await access.involvement(actor, ward_round_id)
    allowed = APPLICANT_STEPS if who.applicant else EXPERT_STEPS
    if trigger not in allowed:
        raise Forbidden("Only the applicant may {step} the ward round.", step=Msg(trigger))
    row = await load(ward_round_id)
    done = await step(
        ctx,
        ward_round_id,
        trigger,
        facts_of(row, await experts_of(ward_round_id)),
        data.version,
        reason=data.reason.strip()[:2000],
    )
    return Done(ward_round_id, done.to_state, done.version, row["record_version"])


async def system_start(ctx: Ctx, ward_round_id: int) -> bool:
    """The start timer: a round still scheduled at its time starts by itself."""
    row = await load(ward_round_id)
    if row["state"] != WardRoundState.scheduled:
        return False
    await step(ctx, ward_round_id, "start", facts_of(row, []), None)
    return True


# --- the ward-round record ------------------------------------------------------------------


async def save_record(ctx: Ctx, ward_round_id: int, data: RecordIn) -> Done:
    """The applicant saves the conclusion, an expert his opinion, while the round is in
    progress; ``record_version`` is the one the writer started from (stale: 409). Each save
    keeps a ``WardRoundRecordVersion`` and is a timeline step (``record_saved``)."""
    actor = actor_of(ctx)
    who = await access.involvement(actor, ward_round_id)
    conclusion = None if data.conclusion is msgspec.UNSET else str(data.conclusion)
    opinion = None if data.opinion is msgspec.UNSET else str(data.opinion)
    if conclusion is not None and not who.applicant:
        raise Forbidden("Only the applicant writes the ward-round conclusion.")
    if opinion is not None and not who.expert:
        raise Forbidden("Only the invited experts write an opinion.")
    if conclusion is None and opinion is None:
        raise BadRequest("Send the conclusion or your opinion to save.")
    for text in (conclusion, opinion):
        if text is not None and len(text) > MAX_RECORD_CHARS:
            raise BadRequest(
                "The record is {n} characters long; at most {limit} fit.",
                n=len(text),
                limit=MAX_RECORD_CHARS,
            )
    async with unit_of_work(ctx) as uow:
        row = await load(ward_round_id)
        if row["state"] != WardRoundState.in_progress:
            raise Conflict(
                "The ward-round record is written while the round is in progress; it is {state}.",
                state=Msg(row["state"].replace("_", " "), context="ward_round state"),
                extra={"state": row["state"]},
            )
        new_version = data.record_version + 1
        values: dict[Any, Any] = {WardRound.record_version: new_version}
        if conclusion is not None:
            values[WardRound.conclusion] = conclusion.strip()
        moved = (
            await WardRound.update(values)
            .where(WardRound.id == ward_round_id, WardRound.record_version == data.record_version)
            .returning(WardRound.id)
        )
        if not moved:
            raise Conflict(
                "Someone saved the ward-round record meanwhile (now version {current}); "
                "reload it and write again.",
                current=row["record_version"],
                extra={"record_version": row["record_version"]},
            )
        if opinion is not None:
            await WardRoundExpert.update(
                {WardRoundExpert.opinion: opinion.strip(), WardRoundExpert.opinion_at: now()}
            ).where(
                WardRoundExpert.ward_round == ward_round_id,
                WardRoundExpert.expert == actor.user_id,
            )
        experts = await experts_of(ward_round_id)
        await WardRoundRecordVersion.insert(
            WardRoundRecordVersion(
                ward_round=ward_round_id,
                version=new_version,
                conclusion=row["conclusion"] if conclusion is None else conclusion.strip(),
                opinions={str(e.id): e.opinion for e in experts},
                author=actor.user_id,
                created_at=now(),
            )
        )
        await engine.note(
            uow,
            CASE,
            ward_round_id,
            "record_saved",
            row["state"],
            summary={"record_version": new_version},
            topics=[topic(ward_round_id), *await user_topics(ward_round_id)],
            payload={"record_version": new_version},
            audit="record_save",
            detail=f"record version {new_version}",
        )
    return Done(ward_round_id, row["state"], row["version"], new_version)
