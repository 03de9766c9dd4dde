"""The retrieval process's home (SPEC 4.x archive retrieval): a request creates the case on
the engine (``states.retrieval.RETRIEVAL_STEPS``: its creation is named "request"); the
steps that follow are ``api/archive/rules.py`` (queue) and ``flows/archive.py`` (restore,
ready, rearchive, fail)."""

from __future__ import annotations

from typing import Any

from states.retrieval import RETRIEVAL
from store import engine
from store.engine import Done
from store.tables import ArchiveRetrieval, Study
from store.uow import Actor, Ctx, now


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


async def _describe(done: Done) -> str:
    row = await ArchiveRetrieval.select(ArchiveRetrieval.study).where(
        ArchiveRetrieval.id == done.case_id
    )
    study = await Study.select().where(Study.id == row[0]["study"]).first()
    assert study is not None
    return f"study {label(study)}: {done.reason}"


engine.bind(RETRIEVAL, describe=_describe)
