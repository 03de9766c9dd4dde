"""The QC task process's home (SPEC 7.1): loading a task and its facts, creation on the engine,
each step applied through it, and the functions the names of its declaration
(``states.quality.QUALITY_STEPS``) stand for:

- "touch": the task's ``updated_at``;
- "dispatch" (sample): the ``qc.sample`` outbox row; the dispatcher's run is ``qc-sample-<id>``;
- "note kept" (nothing_drawn): the reason the sampling drew nothing, shown on the task;
- audiences "evaluators", "arbitrator", "manager": the users the task names.
"""

from __future__ import annotations

from typing import Any

import msgspec

from api.crud import first_or_not_found
from kernel.i18n import N_
from states.quality import QUALITY, QcFacts
from store import engine
from store.engine import Applied, Done
from store.tables import QcCase, QcTask
from store.uow import Ctx, now

CASE = QUALITY.name  # CaseHistory.case_type; live topic case:qc_task:<id>
SAMPLE_KIND = "qc.sample"  # the outbox kind of the sampling flow


def topic(task_id: int) -> str:
    return f"case:{CASE}:{task_id}"


def ids_of(text: str) -> list[int]:
    return [int(i) for i in msgspec.json.decode(text or "[]")]


async def load(task_id: int) -> dict[str, Any]:
    return await first_or_not_found(
        QcTask.select().where(QcTask.id == task_id),
        N_("No QC task with id {task_id} exists."),
        task_id=task_id,
    )


async def facts_of(task: dict[str, Any], reason: str = "") -> QcFacts:
    """The machine's facts: evaluators named, cases drawn, evaluated, waiting."""
    cases = await QcCase.select(QcCase.state).where(QcCase.task == task["id"])
    states = [c["state"] for c in cases]
    return QcFacts(
        evaluators=len(ids_of(task["evaluators"])),
        drawn=len(states),
        pending=states.count("pending"),
        waiting=states.count("arbitration"),
        reason=reason,
    )


async def open_task(ctx: Ctx, values: dict[str, Any]) -> int:
    at = now()
    done = await engine.create(
        ctx,
        QUALITY,
        QcTask,
        {**values, "created_at": at, "updated_at": at},
        summary={"name": values["name"]},
        topics=[f"hospital:{values['hospital']}"],
    )
    return done.case_id


async def step(
    ctx: Ctx,
    task_id: int,
    trigger: str,
    *,
    version: int | None = None,
    reason: str = "",
    summary: dict[str, Any] | None = None,
) -> Applied:
    task = await load(task_id)
    return await engine.apply(
        ctx,
        QUALITY,
        QcTask,
        task_id,
        trigger,
        await facts_of(task, reason),
        version=version,
        reason=reason,
        summary=summary,
        topics=[f"hospital:{task['hospital']}"],
    )


async def _touch(done: Done) -> None:
    await QcTask.update({QcTask.updated_at: now()}).where(QcTask.id == done.case_id)


async def _dispatch(done: Done) -> None:
    tid = done.case_id
    await done.uow.outbox(SAMPLE_KIND, {"task_id": tid}, key=f"qc-sample-{tid}-{done.history_id}")


async def _note(done: Done) -> None:
    await QcTask.update({QcTask.note: done.reason[:2000]}).where(QcTask.id == done.case_id)


async def _evaluators(done: Done) -> list[int]:
    return ids_of((await load(done.case_id))["evaluators"])


async def _arbitrator(done: Done) -> list[int]:
    arbitrator = (await load(done.case_id))["arbitrator"]
    return [arbitrator] if arbitrator else []


async def _manager(done: Done) -> list[int]:
    return [(await load(done.case_id))["created_by"]]


async def _link(done: Done) -> str:
    return f"/quality/{done.case_id}"


async def _describe(done: Done) -> str:
    task = await load(done.case_id)
    return f"QC task {task['name']!r}"


engine.bind(
    QUALITY,
    audiences={"evaluators": _evaluators, "arbitrator": _arbitrator, "manager": _manager},
    effects={"touch": _touch, "dispatch": _dispatch, "note kept": _note},
    business_type="quality_control",
    link=_link,
    describe=_describe,
)
