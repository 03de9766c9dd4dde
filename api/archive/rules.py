"""The archive process's rules (SPEC 9.2, 8.9), shared by the API and the flows (no Prefect
here, so the web app does not import it): when a study moves to the archive tier and back,
the retrieval case's system steps, the re-archive timer and the sweep's repairs. The zip
format is ``api.archive.container``; the flows (``flows/archive.py``) only orchestrate.

Archiving one study makes a crash harmless at any point — there is always the online copy or
a verified container, never neither:

1. write the container to a temp file, fsync, rename, fsync the folder (``store.files``);
2. re-read every entry and compare its SHA-256 with ``Instance.sha256`` (the truth);
3. one transaction: the study's instance set is still the container's, ``tier`` is still
   ``online`` → ``archive`` with ``archived_at``, audit row, live event;
4. only then remove the online files (a crash here leaves extra online files, which the
   next policy run removes: ``remove_leftovers``).

A retrieval (``states/retrieval.py``) extracts and verifies every file back into the online
tier before the study becomes ``available``; re-archiving re-verifies the container (and
rebuilds it if instances arrived meanwhile) before the online files go again. Every step
of a retrieval publishes ``retrieval.<step>`` on ``hospital:<id>`` (through the engine's
``topics``) and on ``case:retrieval:<id>``. A row that does not exist is ``Missing`` (the
flows do not retry it)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from api.archive.container import (
    ContainerInvalid,
    Member,
    contained,
    container_path,
    extract_container,
    on_disk,
    remove_files,
    sweep_stale_temp,
    verify_container,
    write_container,
)
from api.archive.steps import CASE, REARCHIVE
from kernel.settings import get_settings
from states.retrieval import RETRIEVAL, RetrievalFacts, RetrievalState
from store.engine import apply
from store.tables import (
    ArchiveRetrieval,
    Hospital,
    Instance,
    Outbox,
    StoragePolicy,
    Study,
    Timer,
)
from store.uow import Ctx, UnitOfWork, now, unit_of_work

CTX = Ctx(ip="prefect", user_agent="archive")


async def event(uow: UnitOfWork, hospital_id: int, type_: str, payload: dict[str, Any]) -> None:
    """Archive pages of the hospital (and of its alliance admin) listen on its topic."""
    await uow.event(f"hospital:{hospital_id}", type_, payload)


async def queue(ctx: Ctx, retrieval: dict[str, Any]) -> None:
    """requested → queued; its "dispatch" effect writes the ``archive.retrieve`` outbox row in
    the same transaction (``api/archive/steps.py``)."""
    await _step(retrieval, "queue", RetrievalFacts(), ctx=ctx)


LIVE_TIERS = ("online", "restoring", "available")  # tiers whose online files are in use


@dataclass(frozen=True)
class Policy:
    hospital_id: int
    archive_after_days: int = 365
    validity_days: int = 3650
    available_hours: int = 72


class Missing(LookupError):
    """The study, retrieval or row a step names does not exist: trying again cannot help."""


# --- index reads ----------------------------------------------------------------------------


async def members_of(study_id: int) -> list[Member]:
    """Every instance row of the study, superseded revisions included (they are kept)."""
    rows = (
        await Instance.select(
            Instance.id, Instance.storage_path, Instance.sha256, Instance.size_bytes
        )
        .where(Instance.study == study_id)
        .order_by(Instance.id)
    )
    return [Member(r["id"], r["storage_path"], r["sha256"], r["size_bytes"]) for r in rows]


async def study_row(study_id: int) -> dict[str, Any]:
    row = (
        await Study.select(Study.id, Study.hospital, Study.study_uid, Study.tier, Study.version)
        .where(Study.id == study_id)
        .first()
    )
    if row is None:
        raise Missing(f"study {study_id} does not exist")
    return row


async def policy_of(hospital_id: int) -> Policy:
    row = await StoragePolicy.select().where(StoragePolicy.hospital == hospital_id).first()
    if row is None:
        return Policy(hospital_id)
    return Policy(
        hospital_id, row["archive_after_days"], row["validity_days"], row["available_hours"]
    )


async def shared_paths(study_id: int, paths: list[str]) -> set[str]:
    """Paths another study still in use points at (content addressing may share a file)."""
    if not paths:
        return set()
    rows = await Instance.select(Instance.storage_path).where(
        Instance.storage_path.is_in(paths),
        Instance.study != study_id,
        Instance.study.tier.is_in(list(LIVE_TIERS)),
    )
    return {r["storage_path"] for r in rows}


async def remove_online_files(study_id: int, members: list[Member]) -> int:
    paths = [m.storage_path for m in members]
    keep = await shared_paths(study_id, paths)
    return await asyncio.to_thread(remove_files, [p for p in paths if p not in keep])


# --- archiving one study --------------------------------------------------------------------


async def write_and_verify(study_id: int) -> list[Member]:
    """Steps 1–2: the verified container of an online study; its members."""
    study = await study_row(study_id)
    members = await members_of(study_id)
    if not members:
        raise ContainerInvalid("the study has no instances")
    path = container_path(study["hospital"], study["study_uid"], study_id)
    level = get_settings().archive.zip_level
    await asyncio.to_thread(write_container, path, members, level)
    await asyncio.to_thread(verify_container, path, members)
    return members


async def commit_archive(study_id: int, members: list[Member], from_tier: str = "online") -> bool:
    """Step 3: the tier changes only if the study still has exactly these instances."""
    async with unit_of_work(CTX) as uow:
        current = {m.instance_id for m in await members_of(study_id)}
        if current != {m.instance_id for m in members}:
            return False  # instances arrived meanwhile: the next run writes a new container
        rows = (
            await Study.update(
                {
                    Study.tier: "archive",
                    Study.archived_at: now(),
                    Study.updated_at: now(),
                    Study.version: Study.version + 1,
                }
            )
            .where(Study.id == study_id, Study.tier == from_tier)
            .returning(Study.hospital, Study.size_bytes)
        )
        if not rows:
            return False
        hospital_id = rows[0]["hospital"]
        await event(
            uow,
            hospital_id,
            "study.archived",
            {"study_id": study_id, "tier": "archive", "instances": len(members)},
        )
        await uow.audit(
            "study.archive",
            "study",
            study_id,
            detail=f"{len(members)} instances, {rows[0]['size_bytes']} bytes moved to the "
            "archive tier",
            hospital_id=hospital_id,
        )
    return True


async def archive_study(study_id: int) -> str:
    """Archive one online study; says what happened (archived | skipped | refused: …)."""
    try:
        members = await write_and_verify(study_id)
    except ContainerInvalid as exc:
        await _audit_refusal(study_id, str(exc))
        return f"refused: {exc}"
    if not await commit_archive(study_id, members):
        return "skipped"
    await remove_online_files(study_id, members)
    return "archived"


async def _audit_refusal(study_id: int, reason: str) -> None:
    row = await Study.select(Study.hospital).where(Study.id == study_id).first()
    async with unit_of_work(CTX) as uow:
        await uow.audit(
            "study.archive",
            "study",
            study_id,
            outcome="failure",
            detail=f"not archived, stays online: {reason}",
            hospital_id=row["hospital"] if row else None,
        )


async def due_studies(policy: Policy, limit: int) -> list[int]:
    """Online studies older than the policy (time in the cloud) or past their validity."""
    at = now()
    cutoff = at - timedelta(days=policy.archive_after_days)
    rows = (
        await Study.select(Study.id)
        .where(
            Study.hospital == policy.hospital_id,
            Study.tier == "online",
            (Study.created_at < cutoff) | (Study.validity_until < at),
        )
        .order_by(Study.created_at)
        .limit(limit)
    )
    return [r["id"] for r in rows]


async def remove_leftovers(hospital_id: int) -> int:
    """Online files of recently archived studies still on disk (a run that died between
    its commit and the removal). The tier is read again just before each study's files go."""
    await asyncio.to_thread(sweep_stale_temp)
    since = now() - timedelta(days=get_settings().archive.leftover_days)
    rows = await Study.select(Study.id).where(
        Study.hospital == hospital_id, Study.tier == "archive", Study.archived_at > since
    )
    removed = 0
    for row in rows:
        present = await asyncio.to_thread(on_disk, await members_of(row["id"]))
        if not present:
            continue
        tier = await Study.select(Study.tier).where(Study.id == row["id"]).first()
        if tier and tier["tier"] == "archive":
            removed += await remove_archived_copies(row["id"], present)
    return removed


async def remove_archived_copies(study_id: int, members: list[Member]) -> int:
    """Remove the online files of ``members`` that the study's container holds, and only
    those: an instance that reached the study after its container was written stays."""
    study = await study_row(study_id)
    path = container_path(study["hospital"], study["study_uid"], study_id)
    held = await asyncio.to_thread(contained, path)
    return await remove_online_files(
        study_id, [m for m in members if (m.storage_path, m.sha256) in held]
    )


# --- retrieval -------------------------------------------------------------------------------


async def retrieval_row(retrieval_id: int) -> dict[str, Any]:
    row = await ArchiveRetrieval.select().where(ArchiveRetrieval.id == retrieval_id).first()
    if row is None:
        raise Missing(f"retrieval {retrieval_id} does not exist")
    return row


async def _step(
    retrieval: dict[str, Any],
    trigger: str,
    facts: RetrievalFacts,
    *,
    ctx: Ctx = CTX,
    reason: str = "",
    summary: dict[str, Any] | None = None,
) -> None:
    """A step of the retrieval case; what it leaves (the study's tier, the timer, the outbox
    row) is its declaration's (``states.retrieval``, bound in ``api/archive/steps.py``)."""
    await apply(
        ctx,
        RETRIEVAL,
        ArchiveRetrieval,
        retrieval["id"],
        trigger,
        facts,
        reason=reason,
        summary=summary,
        topics=[f"hospital:{retrieval['hospital']}"],
    )


async def fail_retrieval(retrieval: dict[str, Any], reason: str) -> None:
    """The study goes back to the archive tier; restored files (verified copies) are removed."""
    await _step(retrieval, "fail", RetrievalFacts(reason=reason), reason=reason)
    await remove_archived_copies(retrieval["study"], await members_of(retrieval["study"]))


async def restore(retrieval_id: int) -> str:
    """queued → restoring → available (or failed with the reason). Idempotent: a run that
    finds the case further along does nothing; one that finds it restoring restores again."""
    retrieval = await retrieval_row(retrieval_id)
    if retrieval["state"] == RetrievalState.queued:
        await _step(retrieval, "restore", RetrievalFacts())
        retrieval = await retrieval_row(retrieval_id)
    if retrieval["state"] != RetrievalState.restoring:
        return str(retrieval["state"])
    study = await study_row(retrieval["study"])
    members = await members_of(study["id"])
    path = container_path(study["hospital"], study["study_uid"], study["id"])
    try:
        if not members:
            raise ContainerInvalid("the study has no instances")
        verified = await asyncio.to_thread(extract_container, path, members)
    except ContainerInvalid as exc:
        await fail_retrieval(retrieval, f"Restoring failed: {exc}.")
        return "failed"
    policy = await policy_of(study["hospital"])
    until = now() + timedelta(hours=policy.available_hours)

    await _step(
        retrieval,
        "ready",
        RetrievalFacts(instances=len(members), verified=verified, available_until=until),
        summary={"instances": len(members), "available_until": until.isoformat()},
    )
    return "available"


async def rearchive(retrieval_id: int) -> str:
    """available → rearchived once its time is over: the container is verified (rebuilt if
    instances arrived meanwhile) before the online files are removed."""
    retrieval = await retrieval_row(retrieval_id)
    if retrieval["state"] != RetrievalState.available:
        return str(retrieval["state"])
    facts = RetrievalFacts(available_until=retrieval["available_until"], now=now())
    refusal = RETRIEVAL.decide(RetrievalState.available, "rearchive", facts)
    if not refusal.allowed:
        return f"not yet: {refusal.reason}"
    study = await study_row(retrieval["study"])
    members = await members_of(study["id"])
    path = container_path(study["hospital"], study["study_uid"], study["id"])
    try:
        await asyncio.to_thread(verify_container, path, members)
    except ContainerInvalid:  # rebuilt from the online copy, which is still there
        await asyncio.to_thread(write_container, path, members, get_settings().archive.zip_level)
        await asyncio.to_thread(verify_container, path, members)

    await _step(retrieval, "rearchive", facts, summary={"instances": len(members)})
    await remove_online_files(study["id"], members)
    return "rearchived"


async def rearchive_due(uow: UnitOfWork, case_id: int, _timer_id: int) -> bool:
    """A due ``rearchive`` timer of a retrieval (``flows/timers.py`` ACTIONS signature): the
    ``archive.rearchive`` outbox row, written in the sweep's transaction. False if moot."""
    row = (
        await ArchiveRetrieval.select(ArchiveRetrieval.state)
        .where(ArchiveRetrieval.id == case_id)
        .first()
    )
    if row is None or row["state"] != RetrievalState.available:
        return False
    await uow.outbox("archive.rearchive", {"retrieval_id": case_id}, key=f"rearchive-{case_id}")
    return True


async def active_hospitals(hospital_id: int | None = None) -> list[int]:
    """The active hospitals' ids (only ``hospital_id``'s when given), in order."""
    query = Hospital.select(Hospital.id).where(Hospital.active == True)  # noqa: E712
    if hospital_id is not None:
        query = query.where(Hospital.id == hospital_id)
    return [r["id"] for r in await query.order_by(Hospital.id)]


async def record_run(hospital_id: int, counts: dict[str, int]) -> None:
    async with unit_of_work(CTX) as uow:
        detail = ", ".join(f"{k} {v}" for k, v in counts.items())
        await uow.audit(
            "archive.policy_run", "hospital", hospital_id, detail=detail, hospital_id=hospital_id
        )
        await event(uow, hospital_id, "archive.policy_run", {"hospital_id": hospital_id, **counts})


# --- the sweep: due timers, stuck requests, failed outbox rows -------------------------------


async def fire_rearchive_timers() -> int:
    """Claim each due ``rearchive`` timer and write its outbox row in one transaction (the
    same claim ``flows/timers.py`` makes, so either sweep may fire it, exactly once)."""
    due = await Timer.select(Timer.id, Timer.case_id).where(
        Timer.case_type == CASE,
        Timer.kind == REARCHIVE,
        Timer.due_at <= now(),
        Timer.fired_at.is_null(),
        Timer.cancelled == False,  # noqa: E712
    )
    fired = 0
    for timer in due:
        async with unit_of_work(CTX) as uow:
            claimed = (
                await Timer.update({Timer.fired_at: now()})
                .where(Timer.id == timer["id"], Timer.fired_at.is_null())
                .returning(Timer.id)
            )
            if claimed and await rearchive_due(uow, timer["case_id"], timer["id"]):
                fired += 1
    return fired


async def queue_stuck_requests(older_than_seconds: float = 60) -> int:
    """A request whose queueing step never ran (the web app died between the two)."""
    rows = await ArchiveRetrieval.select().where(
        ArchiveRetrieval.state == RetrievalState.requested,
        ArchiveRetrieval.created_at < now() - timedelta(seconds=older_than_seconds),
    )
    for row in rows:
        await queue(CTX, row)
    return len(rows)


async def fail_abandoned() -> int:
    """Retrievals whose ``retrieval-<id>`` outbox row failed for good: failed, with why."""
    rows = await ArchiveRetrieval.select().where(
        ArchiveRetrieval.state.is_in([RetrievalState.queued, RetrievalState.restoring])
    )
    failed = 0
    for row in rows:
        box = (
            await Outbox.select(Outbox.status, Outbox.error)
            .where(Outbox.idempotency_key == f"retrieval-{row['id']}")
            .first()
        )
        if box and box["status"] == "failed":
            await fail_retrieval(row, f"The restore run failed: {box['error'][:500]}")
            failed += 1
    return failed
