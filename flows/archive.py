"""The archive tier (SPEC 9.2, 8.9): the storage policy, retrievals and re-archiving.

A study is archived as one zip container per study under the archive root
(``<data>/dicom/archive/h<hospital>/<study uid>.zip``): its instance files under their
``storage_path`` names plus a ``manifest.json`` of instance ids and SHA-256 sums. The order
makes a crash harmless at any point — there is always the online copy or a verified
container, never neither:

1. write the container to a temp file, fsync, rename, fsync the folder (``store.files``);
2. re-read every entry and compare its SHA-256 with ``Instance.sha256`` (the truth);
3. one transaction: the study's instance set is still the container's, ``tier`` is still
   ``online`` → ``archive`` with ``archived_at``, audit row, live event;
4. only then remove the online files (a crash here leaves extra online files, which the
   next policy run removes: ``remove_leftovers``).

A retrieval (``states/retrieval.py``) extracts and verifies every file back into the online
tier before the study becomes ``available``; re-archiving re-verifies the container (and
rebuilds it if instances arrived meanwhile) before the online files go again.

Flows: ``apply-archive-policy`` (scheduled daily, and "run now" from the archive page through
the ``archive.policy`` outbox row), ``retrieve-study`` (outbox ``archive.retrieve``, runs named
``retrieval-<id>``), ``rearchive-study`` (outbox ``archive.rearchive``, ``rearchive-<id>``),
``sweep-archive`` (scheduled: due re-archive timers, stuck requests, retrievals whose outbox row
failed). Parameters are ids only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import msgspec
from prefect import State, flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from api.archive.rules import CASE, REARCHIVE, event, queue
from api.live import use_shared_channel
from flows.outbox import PermanentFailure, worth_retrying
from flows.runs import outbox_flow
from kernel.settings import get_settings
from states.machine import Decision
from states.retrieval import RETRIEVAL, RetrievalFacts, RetrievalState
from store import files
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
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024
UID_RE = re.compile(r"[0-9][0-9.]{0,63}")
LIVE_TIERS = ("online", "restoring", "available")  # tiers whose online files are in use
# Each task is one IO step with explicit retries; a PermanentFailure is not retried.
retrying = task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)


class ContainerInvalid(Exception):
    """The container (or an online file) does not hold what the index says."""


@dataclass(frozen=True)
class Member:
    """One instance row of a study: what its container entry must hold."""

    instance_id: int
    storage_path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Policy:
    hospital_id: int
    archive_after_days: int = 365
    validity_days: int = 3650
    available_hours: int = 72


# --- containers (blocking file work: run in a thread) ---------------------------------------


def container_path(hospital_id: int, study_uid: str, study_id: int) -> Path:
    """``h<hospital>/<study uid>.zip``; a UID that is not digits and dots (never expected
    after ingest checks) falls back to the study's id, so the name is never user-chosen."""
    name = study_uid if UID_RE.fullmatch(study_uid) else f"study-{study_id}"
    return files.archive_root() / f"h{hospital_id}" / f"{name}.zip"


def _sha_chunks(path: Path, digest: Any) -> Any:
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
            yield chunk


def write_container(dest: Path, members: list[Member], level: int) -> int:
    """Zip the online files of ``members`` atomically into ``dest``; returns its size.
    An online file whose bytes differ from its index row is refused (never archived)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
                for m in members:
                    src = files.online_path(m.storage_path)
                    if not src.exists():
                        raise ContainerInvalid(f"online file of instance {m.instance_id} missing")
                    digest = hashlib.sha256()
                    with zf.open(m.storage_path, "w", force_zip64=True) as entry:
                        for chunk in _sha_chunks(src, digest):
                            entry.write(chunk)
                    if digest.hexdigest() != m.sha256:
                        raise ContainerInvalid(
                            f"online file of instance {m.instance_id} differs from its checksum"
                        )
                manifest = [m.__dict__ for m in members]
                zf.writestr(MANIFEST, json.dumps(manifest))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    files._fsync_dir(dest.parent)
    return dest.stat().st_size


def verify_container(path: Path, members: list[Member]) -> int:
    """Re-read every entry; each must hash to its instance row's SHA-256. Returns how many
    were verified; raises ContainerInvalid on the first difference."""
    if not path.exists():
        raise ContainerInvalid(f"the archive container {path.name} is missing")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist()) - {MANIFEST}
            wanted = {m.storage_path for m in members}
            if names != wanted:
                raise ContainerInvalid(
                    f"the container holds {len(names)} files, the index {len(wanted)}"
                )
            for m in members:
                digest = hashlib.sha256()
                with zf.open(m.storage_path) as entry:
                    while chunk := entry.read(CHUNK):
                        digest.update(chunk)
                if digest.hexdigest() != m.sha256:
                    raise ContainerInvalid(f"instance {m.instance_id} differs in the container")
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise ContainerInvalid(f"the container cannot be read: {exc}") from None
    return len(members)


def _restore_entry(zf: zipfile.ZipFile, m: Member, dest: Path) -> None:
    """Stream one entry to a temp file beside ``dest``, hashing it; only bytes that match
    the index's SHA-256 are renamed into place (the online path is content addressed, so a
    wrong file there would be trusted later)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, zf.open(m.storage_path) as entry:
            while chunk := entry.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != m.sha256:
            raise ContainerInvalid(f"instance {m.instance_id} differs in the container")
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    files._fsync_dir(dest.parent)


def extract_container(path: Path, members: list[Member]) -> int:
    """Put every member back under the online root, each written atomically and only if
    its bytes hash to the index's SHA-256. Returns how many files were verified. A container
    that cannot be read is ContainerInvalid; a failing disk (OSError) is left to the retries."""
    if not path.exists():
        raise ContainerInvalid(f"the archive container {path.name} is missing")
    verified = 0
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for m in members:
                dest = files.online_path(m.storage_path)
                if dest.exists() and files.sha256_of(dest) == m.sha256:
                    verified += 1  # restored by an earlier attempt, or stored online later
                    continue
                if m.storage_path not in names:
                    raise ContainerInvalid(f"instance {m.instance_id} is not in the container")
                _restore_entry(zf, m, dest)
                verified += 1
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise ContainerInvalid(f"the container cannot be read: {exc}") from None
    return verified


def _remove_files(paths: list[str]) -> int:
    removed = 0
    for storage_path in paths:
        path = files.online_path(storage_path)
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        with contextlib.suppress(OSError):  # the <sha[:2]> folder, when now empty
            path.parent.rmdir()
    return removed


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
        raise PermanentFailure(f"study {study_id} does not exist")
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
    return await asyncio.to_thread(_remove_files, [p for p in paths if p not in keep])


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


def sweep_stale_temp(max_age_seconds: float = 3600) -> int:
    """Temp containers a killed run left behind (a live run's are younger than this)."""
    removed = 0
    limit = time.time() - max_age_seconds
    for path in files.archive_root().glob("h*/.tmp-*"):
        with contextlib.suppress(OSError):
            if path.stat().st_mtime < limit:
                path.unlink()
                removed += 1
    return removed


def _on_disk(members: list[Member]) -> list[Member]:
    return [m for m in members if files.online_path(m.storage_path).exists()]


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
        present = await asyncio.to_thread(_on_disk, await members_of(row["id"]))
        if not present:
            continue
        tier = await Study.select(Study.tier).where(Study.id == row["id"]).first()
        if tier and tier["tier"] == "archive":
            removed += await remove_archived_copies(row["id"], present)
    return removed


def contained(path: Path) -> set[tuple[str, str]]:
    """(storage path, SHA-256) of every file the container's manifest lists."""
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read(MANIFEST))
    except (FileNotFoundError, KeyError, zipfile.BadZipFile, ValueError):
        return set()
    return {(m["storage_path"], m["sha256"]) for m in manifest}


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
        raise PermanentFailure(f"retrieval {retrieval_id} does not exist")
    return row


async def _step(
    retrieval: dict[str, Any],
    trigger: str,
    facts: RetrievalFacts,
    *,
    reason: str = "",
    summary: dict[str, Any] | None = None,
    study_update: dict[Any, Any] | None = None,
    study_from: tuple[str, ...] = (),
    extra: Any = None,
) -> None:
    """A system step of the retrieval case, the study's tier changed in its transaction."""

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        values: dict[Any, Any] = {ArchiveRetrieval.updated_at: now()}
        if trigger == "fail":
            values[ArchiveRetrieval.error] = reason[:2000]
        await ArchiveRetrieval.update(values).where(ArchiveRetrieval.id == retrieval["id"])
        if study_update:
            await Study.update(
                {**study_update, Study.updated_at: now(), Study.version: Study.version + 1}
            ).where(Study.id == retrieval["study"], Study.tier.is_in(list(study_from)))
        if extra is not None:
            await extra(uow)

    await apply(
        CTX,
        RETRIEVAL,
        ArchiveRetrieval,
        retrieval["id"],
        trigger,
        facts,
        reason=reason,
        summary=summary,
        topics=[f"hospital:{retrieval['hospital']}"],
        effects=effects,
    )


async def fail_retrieval(retrieval: dict[str, Any], reason: str) -> None:
    """The study goes back to the archive tier; restored files (verified copies) are removed."""
    await _step(
        retrieval,
        "fail",
        RetrievalFacts(reason=reason),
        reason=reason,
        study_update={Study.tier: "archive"},
        study_from=("restoring",),
    )
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

    async def timer(_uow: UnitOfWork) -> None:
        await ArchiveRetrieval.update({ArchiveRetrieval.available_until: until}).where(
            ArchiveRetrieval.id == retrieval_id
        )
        await Timer.insert(
            Timer(case_type=CASE, case_id=retrieval_id, kind=REARCHIVE, due_at=until)
        )

    await _step(
        retrieval,
        "ready",
        RetrievalFacts(instances=len(members), verified=verified),
        summary={"instances": len(members), "available_until": until.isoformat()},
        study_update={Study.tier: "available"},
        study_from=("restoring",),
        extra=timer,
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

    async def fire_timers(_uow: UnitOfWork) -> None:
        await Timer.update({Timer.fired_at: now()}).where(
            Timer.case_type == CASE,
            Timer.case_id == retrieval_id,
            Timer.kind == REARCHIVE,
            Timer.fired_at.is_null(),
        )

    await _step(
        retrieval,
        "rearchive",
        facts,
        summary={"instances": len(members)},
        study_update={Study.tier: "archive", Study.archived_at: now()},
        study_from=("available",),
        extra=fire_timers,
    )
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


# --- Prefect: tasks and flows ----------------------------------------------------------------


@retrying
async def archive_one(study_id: int) -> str:
    return await archive_study(study_id)


@retrying
async def studies_due(hospital_id: int, limit: int) -> list[int]:
    return await due_studies(await policy_of(hospital_id), limit)


@retrying
async def leftovers(hospital_id: int) -> int:
    return await remove_leftovers(hospital_id)


@retrying
async def hospitals(hospital_id: int | None) -> list[int]:
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


@flow(name="apply-archive-policy", persist_result=False)
async def apply_archive_policy(hospital_id: int | None = None) -> dict[str, int]:
    """Move every online study past its hospital's policy to the archive tier (at most
    ``AIMIS_ARCHIVE_BATCH`` a hospital per run; the next run takes the rest)."""
    use_shared_channel(get_settings().redis.url)  # a worker process: events reach Redis
    log = get_run_logger()
    total = {"archived": 0, "skipped": 0, "refused": 0, "failed": 0, "leftovers_removed": 0}
    for hid in await hospitals(hospital_id):
        counts = {"archived": 0, "skipped": 0, "refused": 0, "failed": 0}
        counts["leftovers_removed"] = await leftovers(hid)
        for study_id in await studies_due(hid, get_settings().archive.batch):
            run = cast(Awaitable[State[str]], archive_one(study_id, return_state=True))
            state = await run
            outcome = await state.aresult() if state.is_completed() else f"failed: {state.message}"
            counts[outcome.split(":")[0]] = counts.get(outcome.split(":")[0], 0) + 1
            if outcome.startswith(("refused", "failed")):  # the study stays online
                log.warning("study %s stays online: %s", study_id, outcome)
        await record_run(hid, counts)
        for key, value in counts.items():
            total[key] += value
    log.info("archive policy: %s", total)
    return total


async def _payload(outbox_id: int) -> dict[str, Any]:
    row = await Outbox.select(Outbox.payload).where(Outbox.id == outbox_id).first()
    if row is None:
        raise PermanentFailure(f"outbox row {outbox_id} does not exist")
    return dict(msgspec.json.decode(row["payload"]))


@retrying
async def payload_of(outbox_id: int) -> dict[str, Any]:
    return await _payload(outbox_id)


@retrying
async def restore_task(retrieval_id: int) -> str:
    return await restore(retrieval_id)


@retrying
async def rearchive_task(retrieval_id: int) -> str:
    return await rearchive(retrieval_id)


@outbox_flow("run-archive-policy")
async def run_archive_policy_now(outbox_id: int) -> None:
    """The archive page's "run the policy now" (outbox ``archive.policy``)."""
    payload = await payload_of(outbox_id)
    await apply_archive_policy(hospital_id=int(payload["hospital_id"]))


@outbox_flow("retrieve-study")
async def retrieve_study(outbox_id: int) -> None:
    """Outbox ``archive.retrieve``: the run is named ``retrieval-<id>``."""
    payload = await payload_of(outbox_id)
    outcome = await restore_task(int(payload["retrieval_id"]))
    get_run_logger().info("retrieval %s: %s", payload["retrieval_id"], outcome)


@outbox_flow("rearchive-study")
async def rearchive_study(outbox_id: int) -> None:
    """Outbox ``archive.rearchive`` (written when the availability ends): ``rearchive-<id>``."""
    payload = await payload_of(outbox_id)
    outcome = await rearchive_task(int(payload["retrieval_id"]))
    get_run_logger().info("retrieval %s: %s", payload["retrieval_id"], outcome)


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


@retrying
async def sweep_step(name: str) -> int:
    steps = {
        "rearchive_timers": fire_rearchive_timers,
        "stuck_requests": queue_stuck_requests,
        "abandoned": fail_abandoned,
    }
    return await steps[name]()


@flow(name="sweep-archive", persist_result=False)
async def sweep_archive() -> dict[str, int]:
    """Scheduled every few minutes (``prefect.yaml``)."""
    use_shared_channel(get_settings().redis.url)
    counts = {
        name: await sweep_step(name) for name in ("rearchive_timers", "stuck_requests", "abandoned")
    }
    get_run_logger().info("archive sweep: %s", counts)
    return counts
