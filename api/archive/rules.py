"""The retrieval case's records shared by the API and the flows (no Prefect here, so the web
app does not import it): queueing a request, and the hospital topic's events. Every step
of a retrieval publishes ``retrieval.<step>`` on ``hospital:<id>`` (through the engine's
``topics``) and on ``case:retrieval:<id>``."""

from __future__ import annotations

from typing import Any

from states.machine import Decision
from states.retrieval import RETRIEVAL, RetrievalFacts
from store.engine import apply
from store.tables import ArchiveRetrieval
from store.uow import Ctx, UnitOfWork, now

CASE = "retrieval"  # CaseHistory.case_type, Timer.case_type, live topic case:retrieval:<id>
REARCHIVE = "rearchive"  # Timer.kind


async def event(uow: UnitOfWork, hospital_id: int, type_: str, payload: dict[str, Any]) -> None:
    """Archive pages of the hospital (and of its alliance admin) listen on its topic."""
    await uow.event(f"hospital:{hospital_id}", type_, payload)


async def queue(ctx: Ctx, retrieval: dict[str, Any]) -> None:
    """requested → queued, with the ``archive.retrieve`` outbox row in the same transaction
    (the dispatcher's flow run is named after its key, ``retrieval-<id>``)."""
    rid = retrieval["id"]

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        await uow.outbox("archive.retrieve", {"retrieval_id": rid}, key=f"retrieval-{rid}")
        await ArchiveRetrieval.update({ArchiveRetrieval.updated_at: now()}).where(
            ArchiveRetrieval.id == rid
        )

    await apply(
        ctx,
        RETRIEVAL,
        ArchiveRetrieval,
        rid,
        "queue",
        RetrievalFacts(),
        topics=[f"hospital:{retrieval['hospital']}"],
        effects=effects,
    )
