"""Quality control's reads and steps (SPEC 7.1–7.2): tasks (create, sample, cancel), the
cases of a task, an evaluator's evaluation of his case and the arbitrator's decision.

Who may do what: a QC manager (``qc.manage``, or the hospital's administrator) creates,
samples and cancels tasks and reads all of them; an evaluator reads the tasks that name him
and evaluates only the cases assigned to him; the arbitrator decides the cases that wait for
him, never one he evaluated himself. Everything is the hospital's own (``store.scoping``).
Each evaluation and arbitration is a versioned update of the case (a stale version is a
409), audited, and a step on the task's timeline; the last evaluation moves the task on.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Any

import msgspec

from api.crud import versioned_update
from api.quality import sampling, steps
from api.quality.schemas import (
    ArbitrationIn,
    CaseRead,
    CaseRow,
    CriteriaIn,
    EvaluationIn,
    Person,
    Saved,
    SeriesRead,
    StepIn,
    TaskCreate,
    TaskRead,
)
from api.schemas import HistoryEntry
from kernel.domain import Permission
from kernel.errors import BadRequest, Conflict, Forbidden, NotFound
from states.quality import ARBITRATED, GRADES, OBJECTS, QUALITY, RADPEER, SCORE_RANGE, QcState
from store import engine
from store.scoping import get_visible, visible
from store.tables import (
    Department,
    Examination,
    ExamReport,
    QcCase,
    QcSeriesGrade,
    QcTask,
    Series,
    User,
)
from store.uow import Actor, Ctx, now, unit_of_work

MANAGE = Permission.qc_manage.value
EVALUATE = Permission.qc_evaluate.value
REPORT_OBJECTS = ("initial_report", "review_report")


def is_manager(actor: Actor) -> bool:
    return MANAGE in actor.permissions or actor.kind == "hospital_admin"


def require_manager(actor: Actor) -> None:
    if not is_manager(actor):
        raise Forbidden("Your role lacks the permission {permission!r}.", permission=MANAGE)


async def names(ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await User.select(User.id, User.display_name).where(User.id.is_in(sorted(set(ids))))
    return {r["id"]: r["display_name"] for r in rows}


# --- tasks ----------------------------------------------------------------------------------


async def _doctors_of(hospital_id: int | None, ids: list[int]) -> set[int]:
    if not ids:
        return set()
    rows = await User.select(User.id).where(
        User.id.is_in(ids),
        User.hospital == hospital_id,
        User.kind == "doctor",
        User.active == True,  # noqa: E712
    )
    return {r["id"] for r in rows}


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            "{field} must be a date (YYYY-MM-DD), not {value!r}.", field=field, value=value
        ) from None


async def _checked(actor: Actor, data: TaskCreate) -> dict[str, Any]:
    if not data.name.strip():
        raise BadRequest("A QC task needs a name.")
    objects = list(dict.fromkeys(data.objects))
    unknown = [o for o in objects if o not in OBJECTS]
    if unknown or not objects:
        raise BadRequest(
            "Choose what to evaluate among images, initial_report and review_report "
            "(not {unknown!r}).",
            unknown=", ".join(unknown),
        )
    if (data.sample_size is None) == (data.sample_percent is None):
        raise BadRequest("Give either a sample size or a percentage, one of the two.")
    if data.sample_size is not None and data.sample_size < 1:
        raise BadRequest("The sample size must be at least 1.")
    if data.sample_percent is not None and not 1 <= data.sample_percent <= 100:
        raise BadRequest("The percentage must be between 1 and 100.")
    start, end = _day(data.criteria.date_from, "date_from"), _day(data.criteria.date_to, "date_to")
    if start and end and end < start:
        raise BadRequest("The date range ends before it starts.")
    evaluators = list(dict.fromkeys(data.evaluators))
    if not evaluators:
        raise BadRequest("Name at least one evaluator.")
    people = [*evaluators, *([data.arbitrator] if data.arbitrator else [])]
    strangers = set(people) - await _doctors_of(actor.hospital_id, people)
    if strangers:
        raise BadRequest(
            "User(s) {ids} are not doctors of your hospital.",
            ids=", ".join(str(i) for i in sorted(strangers)),
        )
    if data.arbitrator and data.arbitrator in evaluators:
        raise BadRequest(
            "The arbitrator cannot be one of the evaluators: nobody arbitrates his own evaluation."
        )
    if any(o in REPORT_OBJECTS for o in objects) and not data.arbitrator:
        raise BadRequest(
            "A task that evaluates reports needs an arbitrator for RADPEER 2b, 3a, 3b."
        )
    return {
        "hospital": actor.hospital_id,
        "name": data.name.strip(),
        "criteria": msgspec.json.encode(data.criteria).decode(),
        "sample_size": data.sample_size,
        "sample_percent": data.sample_percent,
        "targets": msgspec.json.encode(objects).decode(),
        "evaluators": msgspec.json.encode(evaluators).decode(),
        "arbitrator": data.arbitrator,
        "blind": data.blind,
        "seed": data.seed if data.seed is not None else secrets.randbits(53),
        "created_by": actor.user_id,
    }


async def create_task(ctx: Ctx, data: TaskCreate) -> TaskRead:
    actor = _actor(ctx)
    require_manager(actor)
    task_id = await steps.open_task(ctx, await _checked(actor, data))
    return await read_task(actor, task_id)


def _actor(ctx: Ctx) -> Actor:
    assert ctx.actor is not None
    return ctx.actor


def _named(task: dict[str, Any], actor: Actor) -> bool:
    return actor.user_id in steps.ids_of(task["evaluators"]) or actor.user_id == task["arbitrator"]


async def task_row(actor: Actor, task_id: int) -> dict[str, Any]:
    task = await get_visible(QcTask, task_id, actor, "QC task")
    if not is_manager(actor) and not _named(task, actor):
        raise NotFound(
            "No QC task with id {task_id} exists, or it belongs to another hospital.",
            task_id=task_id,
        )
    return task


async def read_task(actor: Actor, task_id: int) -> TaskRead:
    task = await task_row(actor, task_id)
    evaluators = steps.ids_of(task["evaluators"])
    who = await names([*evaluators, task["arbitrator"] or 0, task["created_by"]])
    facts = await steps.facts_of(task)
    rows = await engine.timeline(steps.CASE, task_id)
    actors = await names([r["actor_id"] for r in rows if r["actor_id"]])
    actions = []
    if is_manager(actor):
        actions = [
            t for t in QUALITY.available(QcState(task["state"]), facts) if t in ("sample", "cancel")
        ]
    return TaskRead(
        id=task["id"],
        name=task["name"],
        state=task["state"],
        version=task["version"],
        criteria=msgspec.json.decode(task["criteria"], type=CriteriaIn),
        sample_size=task["sample_size"],
        sample_percent=task["sample_percent"],
        objects=msgspec.json.decode(task["targets"]),
        evaluators=[Person(i, who.get(i, "")) for i in evaluators],
        arbitrator=Person(task["arbitrator"], who.get(task["arbitrator"], ""))
        if task["arbitrator"]
        else None,
        blind=task["blind"],
        seed=task["seed"],
        population=task["population"],
        sampled=task["sampled"],
        note=task["note"],
        created_by=who.get(task["created_by"], ""),
        created_at=task["created_at"].isoformat(),
        cases_done=facts.drawn - facts.pending - facts.waiting,
        cases_waiting=facts.waiting,
        actions=actions,
        history=[HistoryEntry.of(r, actors.get(r["actor_id"] or 0)) for r in rows],
    )


async def list_tasks(actor: Actor) -> list[TaskRead]:
    rows = await visible(QcTask, actor, QcTask.id).order_by(QcTask.id, ascending=False).limit(200)
    out = []
    for row in rows:
        try:
            task = await read_task(actor, row["id"])
        except NotFound:
            continue
        out.append(task)
    return out


async def sample(ctx: Ctx, task_id: int, data: StepIn) -> TaskRead:
    """Start the sampling: the population is counted now, so a task that would draw nothing
    (or more than there is) is refused at once with the figures; the draw itself is the
    ``qc-sample`` flow's."""
    actor = _actor(ctx)
    require_manager(actor)
    task = await task_row(actor, task_id)
    if task["state"] == QcState.draft:
        ids = await sampling.population_ids(task)
        wanted = sampling.sample_count(len(ids), task["sample_size"], task["sample_percent"])
        reason = sampling.shortfall(len(ids), wanted)
        if reason:
            raise Conflict(reason, extra={"population": len(ids)})
    await steps.step(ctx, task_id, "sample", version=data.version)
    return await read_task(actor, task_id)


async def cancel(ctx: Ctx, task_id: int, data: StepIn) -> TaskRead:
    actor = _actor(ctx)
    require_manager(actor)
    await task_row(actor, task_id)
    await steps.step(ctx, task_id, "cancel", version=data.version, reason=data.reason)
    return await read_task(actor, task_id)


async def cases_of(actor: Actor, task_id: int, mine: bool = False) -> list[CaseRow]:
    task = await task_row(actor, task_id)
    query = visible(
        QcCase,
        actor,
        QcCase.id,
        QcCase.position,
        QcCase.state,
        QcCase.evaluator,
        QcCase.radpeer,
        QcCase.arbiter_radpeer,
        QcCase.device_type,
        QcCase.examination.accession_number,
    ).where(QcCase.task == task["id"])
    if mine or not (is_manager(actor) or actor.user_id == task["arbitrator"]):
        query = query.where(QcCase.evaluator == actor.user_id)
    return await case_rows(await query.order_by(QcCase.position))


async def case_rows(rows: list[dict[str, Any]]) -> list[CaseRow]:
    """Case rows (id, position, state, evaluator, accession, device type, RADPEER) as a
    task's list and a statistics drill-down show them, the evaluators by name."""
    who = await names([r["evaluator"] for r in rows])
    return [
        CaseRow(
            id=r["id"],
            position=r["position"],
            state=r["state"],
            evaluator=who.get(r["evaluator"], ""),
            accession_number=r["examination.accession_number"],
            device_type=r["device_type"],
            radpeer=r["radpeer"],
            arbiter_radpeer=r["arbiter_radpeer"],
        )
        for r in rows
    ]


# --- a case ---------------------------------------------------------------------------------


async def _case_and_task(actor: Actor, case_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    case = await get_visible(QcCase, case_id, actor, "QC case")
    task = await get_visible(QcTask, case["task"], actor, "QC task")
    if not (is_manager(actor) or actor.user_id in (case["evaluator"], task["arbitrator"])):
        raise Forbidden("This QC case is assigned to another evaluator.")
    return case, task


async def read_case(actor: Actor, case_id: int) -> CaseRead:
    case, task = await _case_and_task(actor, case_id)
    exam = (
        await Examination.select(
            Examination.id,
            Examination.accession_number,
            Examination.patient_name,
            Examination.study.study_uid,
        )
        .where(Examination.id == case["examination"])
        .first()
    )
    assert exam is not None
    report = await ExamReport.select(ExamReport.findings, ExamReport.impression).where(
        ExamReport.examination == case["examination"]
    ).first() or {"findings": "", "impression": ""}
    grades = {
        g["series_uid"]: g
        for g in await QcSeriesGrade.select().where(QcSeriesGrade.case == case_id)
    }
    series = (
        await Series.select()
        .where(
            Series.study.study_uid == exam["study.study_uid"], Series.hospital == case["hospital"]
        )
        .order_by(Series.series_number)
        if exam["study.study_uid"]
        else []
    )
    who = await names(
        [
            case["evaluator"],
            case["initial_by"] or 0,
            case["reviewer"] or 0,
            case["arbitrated_by"] or 0,
        ]
    )
    # blind evaluation: the evaluators do not see who reported (the manager and the
    # arbitrator do)
    blind = task["blind"] and actor.user_id in steps.ids_of(task["evaluators"])
    objects = msgspec.json.decode(task["targets"])
    open_task = task["state"] == QcState.evaluating
    return CaseRead(
        id=case["id"],
        task_id=task["id"],
        task_name=task["name"],
        position=case["position"],
        state=case["state"],
        version=case["version"],
        evaluator=Person(case["evaluator"], who.get(case["evaluator"], "")),
        objects=objects,
        examination_id=exam["id"],
        accession_number=exam["accession_number"],
        patient_name=exam["patient_name"],
        device_type=case["device_type"],
        device_name=case["device_name"],
        body_part=case["body_part"],
        exam_time=case["exam_time"].isoformat(),
        study_uid=exam["study.study_uid"] or "",
        findings=report["findings"],
        impression=report["impression"],
        initial_doctor="" if blind else who.get(case["initial_by"] or 0, ""),
        review_doctor="" if blind else who.get(case["reviewer"] or 0, ""),
        series=[
            SeriesRead(
                series_uid=s["series_uid"],
                number=s["series_number"],
                description=s["description"],
                modality=s["modality"],
                images=s["num_instances"],
                grade=grades.get(s["series_uid"], {}).get("grade", ""),
                reasons=grades.get(s["series_uid"], {}).get("reasons", ""),
            )
            for s in series
        ],
        initial_score=case["initial_score"],
        initial_comment=case["initial_comment"],
        review_score=case["review_score"],
        review_comment=case["review_comment"],
        radpeer=case["radpeer"],
        radpeer_comment=case["radpeer_comment"],
        arbiter_radpeer=case["arbiter_radpeer"],
        arbiter_comment=case["arbiter_comment"],
        arbitrated_by=who.get(case["arbitrated_by"] or 0, ""),
        can_evaluate=open_task
        and actor.user_id == case["evaluator"]
        and case["state"] in ("pending", "evaluated"),
        can_arbitrate=task["state"] in (QcState.evaluating, QcState.arbitration)
        and case["state"] == "arbitration"
        and actor.user_id == task["arbitrator"],
    )


def _score(value: int | None, what: str) -> int:
    low, high = SCORE_RANGE
    if value is None or not low <= value <= high:
        raise BadRequest(
            "The {what} score must be a whole number from {low} to {high}, not {value}.",
            what=what,
            low=low,
            high=high,
            value="nothing" if value is None else value,
        )
    return value


def _radpeer(value: str) -> str:
    if value not in RADPEER:
        raise BadRequest("RADPEER is one of 1, 2a, 2b, 3a, 3b, not {value!r}.", value=value)
    return value


async def _series_uids(case: dict[str, Any]) -> set[str]:
    exam = (
        await Examination.select(Examination.study)
        .where(Examination.id == case["examination"])
        .first()
    )
    if not exam or not exam["study"]:
        return set()
    rows = await Series.select(Series.series_uid).where(Series.study == exam["study"])
    return {r["series_uid"] for r in rows}


async def _checked_evaluation(
    case: dict[str, Any], objects: list[str], data: EvaluationIn
) -> dict[Any, Any]:
    values: dict[Any, Any] = {}
    if "images" in objects:
        uids = await _series_uids(case)
        for g in data.series:
            if g.grade not in GRADES:
                raise BadRequest(
                    "An image grade is one of excellent, good, acceptable, reject, not {grade!r}.",
                    grade=g.grade,
                )
            if g.series_uid not in uids:
                raise BadRequest("Series {uid} is not of this examination.", uid=g.series_uid)
            if g.grade == "reject" and not g.reasons.strip():
                raise BadRequest("A rejected series needs its reasons.")
        missing = uids - {g.series_uid for g in data.series}
        if missing:
            raise BadRequest("Grade every series: {n} have no grade yet.", n=len(missing))
    elif data.series:
        raise BadRequest("This task does not evaluate images.")
    if "initial_report" in objects:
        values[QcCase.initial_score] = _score(data.initial_score, "initial report")
        values[QcCase.initial_comment] = data.initial_comment
    if "review_report" in objects:
        values[QcCase.review_score] = _score(data.review_score, "review report")
        values[QcCase.review_comment] = data.review_comment
    if any(o in REPORT_OBJECTS for o in objects):
        values[QcCase.radpeer] = _radpeer(data.radpeer)
        values[QcCase.radpeer_comment] = data.radpeer_comment
    elif data.radpeer:
        raise BadRequest("This task does not evaluate reports, so it has no RADPEER score.")
    radpeer = values.get(QcCase.radpeer, "")
    values[QcCase.state] = "arbitration" if radpeer in ARBITRATED else "evaluated"
    values[QcCase.evaluated_at] = now()
    return values


async def evaluate(ctx: Ctx, case_id: int, data: EvaluationIn) -> Saved:
    actor = _actor(ctx)
    case, task = await _case_and_task(actor, case_id)
    if actor.user_id != case["evaluator"]:
        raise Forbidden("This QC case is assigned to another evaluator.")
    if task["state"] != QcState.evaluating:
        raise Conflict(
            "The QC task is {state}: its cases are not evaluated now.", state=task["state"]
        )
    if case["state"] not in ("pending", "evaluated"):
        raise Conflict("This case waits for or has its arbitration: the evaluation stays as it is.")
    values = await _checked_evaluation(case, msgspec.json.decode(task["targets"]), data)
    async with unit_of_work(ctx) as uow:
        version = await versioned_update(QcCase, case_id, values, data.version, "QC case")
        await QcSeriesGrade.delete().where(QcSeriesGrade.case == case_id)
        if data.series:
            await QcSeriesGrade.insert(
                *[
                    QcSeriesGrade(
                        hospital=case["hospital"],
                        case=case_id,
                        series_uid=g.series_uid,
                        grade=g.grade,
                        reasons=g.reasons,
                    )
                    for g in data.series
                ]
            )
        state = values[QcCase.state]
        radpeer = values.get(QcCase.radpeer, "")
        await uow.audit(
            "qc_case.evaluate",
            "qc_case",
            case_id,
            detail=f"version {version}: {state}" + (f", RADPEER {radpeer}" if radpeer else ""),
        )
        await engine.note(
            uow,
            steps.CASE,
            task["id"],
            "evaluated",
            task["state"],
            summary={"case_id": case_id, "radpeer": radpeer, "version": version},
            topics=[steps.topic(task["id"])],
            payload={"qc_case": case_id, "state": state},
        )
        task_state = await _advance(ctx, task["id"])
    return Saved(case_id, state, version, task_state)


async def arbitrate(ctx: Ctx, case_id: int, data: ArbitrationIn) -> Saved:
    actor = _actor(ctx)
    case, task = await _case_and_task(actor, case_id)
    if actor.user_id == case["evaluator"]:
        raise Forbidden(
            "You evaluated this case yourself: another doctor, the arbitrator, decides it."
        )
    if actor.user_id != task["arbitrator"]:
        raise Forbidden("Only the task's arbitrator decides its cases.")
    if case["state"] != "arbitration" or task["state"] not in (
        QcState.evaluating,
        QcState.arbitration,
    ):
        raise Conflict("This case does not wait for arbitration.")
    radpeer = _radpeer(data.radpeer)
    values = {
        QcCase.arbiter_radpeer: radpeer,
        QcCase.arbiter_comment: data.comment,
        QcCase.arbitrated_by: actor.user_id,
        QcCase.arbitrated_at: now(),
        QcCase.state: "arbitrated",
    }
    async with unit_of_work(ctx) as uow:
        version = await versioned_update(QcCase, case_id, values, data.version, "QC case")
        await uow.audit(
            "qc_case.arbitrate",
            "qc_case",
            case_id,
            detail=f"version {version}: RADPEER {case['radpeer']} → {radpeer}",
        )
        await engine.note(
            uow,
            steps.CASE,
            task["id"],
            "arbitrated",
            task["state"],
            summary={"case_id": case_id, "radpeer": radpeer, "version": version},
            topics=[steps.topic(task["id"])],
            payload={"qc_case": case_id, "state": "arbitrated"},
        )
        task_state = await _advance(ctx, task["id"])
    return Saved(case_id, "arbitrated", version, task_state)


async def _advance(ctx: Ctx, task_id: int) -> str:
    """The task moves on when its last case is evaluated: completed, or to arbitration while
    a case waits for the arbitrator."""
    task = await steps.load(task_id)
    facts = await steps.facts_of(task)
    state = QcState(task["state"])
    for trigger in ("complete", "arbitrate"):
        if QUALITY.decide(state, trigger, facts).allowed:
            return (await steps.step(ctx, task_id, trigger)).to_state
    return state.value


async def can_watch(actor: Actor, task_id: int) -> bool:
    """For the live channel: may ``actor`` subscribe to ``case:qc_task:<id>``?"""
    try:
        await task_row(actor, task_id)
    except NotFound:
        return False
    return True


async def choices(actor: Actor) -> dict[str, list[Person]]:
    """The doctors a task may name and the departments its criteria may choose, for the form."""
    doctors = (
        await User.select(User.id, User.display_name)
        .where(
            User.hospital == actor.hospital_id,
            User.kind == "doctor",
            User.active == True,  # noqa: E712
        )
        .order_by(User.display_name)
    )
    departments = (
        await Department.select(Department.id, Department.name)
        .where(Department.hospital == actor.hospital_id)
        .order_by(Department.name)
    )
    return {
        "doctors": [Person(r["id"], r["display_name"]) for r in doctors],
        "departments": [Person(r["id"], r["name"]) for r in departments],
    }
