"""The retrieval process's home (SPEC 8.9, 9.2 archive retrieval): a request creates the case
on the engine, and the functions the names of its declaration
(``states.retrieval.RETRIEVAL_STEPS``) stand for — what each step leaves in its transaction:

- "dispatch" (queue): the ``archive.retrieve`` outbox row; the dispatcher's flow run is named
  after its key, ``retrieval-<id>``;
- "touch": the row's ``updated_at``;
- "study available" / "study archived" / "study back to archive": the study's tier moves
  with the case (only from the tier the step expects: ``restoring`` or ``available``);
- "rearchive timer" (ready): ``available_until`` and the re-archive timer (the step's facts
  carry the end of availability);
- "timer fired" (rearchive): the timer is marked fired;
- "error kept" (fail): the reason on the row.

The steps themselves are called by ``api/archive/rules.py`` (queue, and the system steps the
flows run)."""

from __future__ import annotations

from typing import Any

from states.retrieval import RETRIEVAL, RetrievalFacts
from store import engine
from store.engine import Done
from store.tables import ArchiveRetrieval, Study, Timer
from store.uow import Actor, Ctx, now

CASE = RETRIEVAL.name  # CaseHistory.case_type, Timer.case_type, live topic case:retrieval:<id>
REARCHIVE = "rearchive"  # Timer.kind


def label(study: dict[str, Any]) -> str:
    return study["accession_number"] or study["study_uid"]


async def open_retrieval(ctx: Ctx, actor: Actor, study: dict[str, Any], reason: str) -> int:
    """The retrieval case of a claimed study (the caller turned it to ``restoring`` in the
    same unit of work): its row, history row ("request"), events on the case and on the
    hospital's topic, and the audit row."""
    at = now()
    done = await engine.create(
        ctx,
        RETRIEVAL,
        ArchiveRetrieval,
        {
            "hospital": study["hospital"],
            "study": study["id"],
            "requested_by": actor.user_id,
            "reason": reason,
            "created_at": at,
            "updated_at": at,
        },
        reason=reason,
        summary={"study_id": study["id"]},
        topics=[f"hospital:{study['hospital']}"],
    )
    return done.case_id


async def _study_of(done: Done) -> int:
    row = await ArchiveRetrieval.select(ArchiveRetrieval.study).where(
        ArchiveRetrieval.id == done.case_id
    )
    return int(row[0]["study"])


async def _describe(done: Done) -> str:
    study = await Study.select().where(Study.id == await _study_of(done)).first()
    assert study is not None
    return f"study {label(study)}: {done.reason}"


async def _dispatch(done: Done) -> None:
    rid = done.case_id
    await done.uow.outbox("archive.retrieve", {"retrieval_id": rid}, key=f"retrieval-{rid}")


async def _touch(done: Done) -> None:
    await ArchiveRetrieval.update({ArchiveRetrieval.updated_at: now()}).where(
        ArchiveRetrieval.id == done.case_id
    )


def _tier(to: str, came_from: str, *, archived: bool = False) -> engine.Effect:
    """The study's tier ``came_from`` → ``to`` (``archived``: stamped ``archived_at``)."""

    async def move(done: Done) -> None:
        at = now()
        values: dict[Any, Any] = {Study.tier: to, Study.updated_at: at}
        if archived:
            values[Study.archived_at] = at
        values[Study.version] = Study.version + 1
        await Study.update(values).where(Study.id == await _study_of(done), Study.tier == came_from)

    return move


async def _timer(done: Done) -> None:
    facts: RetrievalFacts = done.facts
    until = facts.available_until
    await ArchiveRetrieval.update({ArchiveRetrieval.available_until: until}).where(
        ArchiveRetrieval.id == done.case_id
    )
    await Timer.insert(Timer(case_type=CASE, case_id=done.case_id, kind=REARCHIVE, due_at=until))


async def _timer_fired(done: Done) -> None:
    await Timer.update({Timer.fired_at: now()}).where(
        Timer.case_type == CASE,
        Timer.case_id == done.case_id,
        Timer.kind == REARCHIVE,
        Timer.fired_at.is_null(),
    )


async def _error(done: Done) -> None:
    await ArchiveRetrieval.update({ArchiveRetrieval.error: done.reason[:2000]}).where(
        ArchiveRetrieval.id == done.case_id
    )


engine.bind(
    RETRIEVAL,
    effects={
        "dispatch": _dispatch,
        "touch": _touch,
        "study available": _tier("available", "restoring"),
        "study archived": _tier("archive", "available", archived=True),
        "study back to archive": _tier("archive", "restoring"),
        "rearchive timer": _timer,
        "timer fired": _timer_fired,
        "error kept": _error,
    },
    describe=_describe,
)
