"""The migration run's steps: a run is created (``receive``), its files are verified, stored
and indexed (``ingest_files``: the one way a DICOM file enters the platform; STOW-RS, C-STORE,
uploads, ``aimis import`` and the demo all call it), spooled for its flow (``spool_file``;
the flow's outbox row is queued, held, with the run and released by ``hand_over``; a run
stranded in ``received`` is queued again by ``requeue_stale``), and walked through the
migration machine (``step``; what its end and a retry leave is bound here to the names
``states.migration.MIGRATION_STEPS`` declares).

``ingest_file(run_id, data)`` never raises for a bad file: a refusal becomes a
``MigrationItem`` with the reason and an audit row, and nothing is stored. Other exceptions
(the database went away) propagate so the caller can retry; the file written before the
failed transaction is removed again unless a row points at it. The index writes themselves
are ``store.imaging_index``; the ingest policy (strict or lenient) is ``ingest_policy``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Count

from imaging.read import LENIENT, STRICT, IngestPolicy, IngestRefused, ParsedInstance
from imaging.read import validate_for_ingest as _validate
from kernel.errors import Conflict
from kernel.settings import get_settings
from states.migration import (
    MIGRATION,
    PIPELINE,
    FileOutcome,
    MigrationFacts,
    MigrationState,
    progress,
)
from store import files
from store.db import transaction
from store.engine import Applied, Done, apply, bind, create
from store.imaging_index import (
    Batch,
    ItemResult,
    Prepared,
    Received,
    add_counts,
    compare_ahead,
    hospital_quota,
    quota_text,
    resolve_item,
    stored_rows,
    tier_refusal,
)
from store.sql import instance as sql_instance
from store.sql import migration_run as sql_run
from store.sql import study as sql_study
from store.tables import CaseHistory, MigrationItem, MigrationRun, Outbox
from store.uow import Ctx, now, unit_of_work, write_audit

log = logging.getLogger(__name__)

SOURCES = ("cstore", "stow", "upload", "import")


def ingest_policy() -> IngestPolicy:
    """The checks before a file is acknowledged: every structural one (a parse, UIDs, the
    pixel module, a syntax that can be decoded here, what each frame's own header claims),
    but no decode of the pixels. That runs after the acknowledgement, in the run's
    thumbnail step (``flows.migration.check_pixels``), which flags a file that turns out
    undecodable (its instance, its item, its study, an audit row)."""
    settings = get_settings()
    base = LENIENT if settings.ingest.policy.strip().lower() == "lenient" else STRICT
    return dataclasses.replace(base, max_bytes=settings.ingest.max_file_bytes, decode_check=False)


# --- runs ----------------------------------------------------------------------------------


async def create_run(
    ctx: Ctx,
    hospital_id: int,
    source: str,
    source_detail: str = "",
    *,
    spool: bool = False,
    follow_up: bool = False,
) -> int:
    """A new migration run (state ``received``) for ``hospital_id``, created on the engine
    (its ``create`` step); returns its id.

    ``follow_up``: the run's flow is queued in the same transaction, held (not due) while
    the files arrive: the receiver renews the hold as they do (in a batch's transaction, at
    most every tenth of the hold) and ``hand_over`` releases it at the end. A receiver
    killed in between (``kill -9``, a power cut) leaves a row that falls due by itself once
    the hold runs out, so the run is never stranded in ``received``. Without it (inline
    runs: ``aimis import --now``, the demo) the caller runs the steps itself."""
    if source not in SOURCES:
        raise ValueError(f"unknown migration source {source!r}")
    actor = ctx.actor
    values = {
        "hospital": hospital_id,
        "source": source,
        "source_detail": source_detail[:200],
        "created_by": actor.user_id if actor else None,
        "created_at": now(),
    }
    async with unit_of_work(ctx) as uow:
        created = await create(
            ctx,
            MIGRATION,
            MigrationRun,
            values,
            summary={"source": source},
            topics=topics_of(hospital_id),
        )
        if spool:
            await MigrationRun.update({MigrationRun.spool_dir: f"run-{created.case_id}"}).where(
                MigrationRun.id == created.case_id
            )
        if follow_up:
            await uow.outbox(
                OUTBOX_KIND,
                {"migration_id": created.case_id},
                follow_up_key(created.case_id),
                delay_seconds=hold_seconds(),
            )
    return created.case_id


async def _describe(done: Done) -> str:
    """The audit detail of a run's creation: where its files come from."""
    row = (
        await MigrationRun.select(MigrationRun.source, MigrationRun.source_detail)
        .where(MigrationRun.id == done.case_id)
        .first()
    )
    return f"{row['source']} {row['source_detail']}".strip()[:300] if row else ""


async def add_received_item(run_id: int, file_name: str, size: int) -> int:
    """Record a spooled file waiting for the flow; returns the item id."""
    async with transaction():
        row = await MigrationItem.insert(
            MigrationItem(migration=run_id, file_name=file_name[:255], size_bytes=size)
        ).returning(MigrationItem.id)
        await add_counts(run_id, received=1, received_bytes=size)
        await keep_held(run_id)
    return int(row[0]["id"])


async def _run_hospital(run_id: int) -> int:
    row = await sql_run.HOSPITAL.one(id=run_id)
    if row is None:
        raise LookupError(f"migration run {run_id} does not exist")
    return int(row["hospital"])


async def record_failure(
    run_id: int,
    code: str,
    reason: str,
    *,
    file_name: str = "",
    size: int = 0,
    item_id: int | None = None,
    ctx: Ctx | None = None,
    status: str = "refused",
    parsed: ParsedInstance | None = None,
) -> ItemResult:
    """A file that will not be stored: its item says why; the refusal is audited."""
    ctx = ctx or Ctx()
    hospital_id = await _run_hospital(run_id)
    sop = parsed.sop_instance_uid if parsed else ""
    study = parsed.study_instance_uid if parsed else ""
    async with transaction():
        item = await resolve_item(
            run_id,
            item_id,
            file_name,
            size,
            status=status,
            code=code,
            reason=reason,
            sop_uid=sop,
            study_uid=study,
        )
        await write_audit(
            ctx,
            "migration.refuse_file" if status == "refused" else "migration.fail_file",
            "migration",
            run_id,
            outcome="denied" if status == "refused" else "failure",
            detail=f"{file_name or 'file'}: {code}: {reason}"[:2000],
            hospital_id=hospital_id,
        )
    return ItemResult(
        status,
        item,
        file_name,
        sop_uid=sop,
        sop_class_uid=parsed.sop_class_uid if parsed else "",
        study_uid=study,
        series_uid=parsed.series_instance_uid if parsed else "",
        size_bytes=size,
        code=code,
        reason=reason,
    )


# --- files ---------------------------------------------------------------------------------

BATCH = 32  # files per transaction: a STOW-RS request's parts, a spooled batch


def _check(received: Received, policy: IngestPolicy, study_uid: str) -> Prepared:
    """Parse and verify one file (blocking: run it in a worker thread)."""
    data = received.data
    size = len(data) if not isinstance(data, Path) else data.stat().st_size
    prepared = Prepared(received, size)
    if received.refused:
        prepared.refuse(*received.refused)
        return prepared
    try:
        parsed = prepared.parsed = _validate(data, policy)
    except IngestRefused as refused:
        prepared.refuse(str(refused.code), refused.reason)
        return prepared
    missing = [
        what
        for what, value in (
            ("SOP Instance UID", parsed.sop_instance_uid),
            ("Study Instance UID", parsed.study_instance_uid),
            ("Series Instance UID", parsed.series_instance_uid),
        )
        if not value
    ]
    if missing:
        prepared.refuse(
            "missing-uid",
            f"The file has no {', '.join(missing)}; it cannot be filed under a study.",
        )
    elif study_uid and parsed.study_instance_uid != study_uid:
        prepared.refuse(
            "study-mismatch",
            f"The file belongs to study {parsed.study_instance_uid}, not to the study "
            f"{study_uid} it was sent to.",
        )
    return prepared


async def _precheck(
    hospital_id: int, prepared: list[Prepared], quota: tuple[int, int] | None = None
) -> None:
    """Tier and quota before any byte is written (read again in the transaction, which
    decides), so a refused file is never stored. ``quota``: (quota, in use) as just read."""
    wanted = [p for p in prepared if not p.code and p.parsed]
    if not wanted:
        return
    keys = sorted({f"{hospital_id}:{p.parsed.study_instance_uid}" for p in wanted if p.parsed})
    rows = await sql_study.TIERS.fetch(keys=msgspec.json.encode(keys).decode())
    tiers = {r["study_key"]: str(r["tier"]) for r in rows}
    limit, in_use = quota if quota is not None else await hospital_quota(hospital_id)
    for p in wanted:
        assert p.parsed is not None
        study_uid = p.parsed.study_instance_uid
        refusal = tier_refusal(study_uid, tiers.get(f"{hospital_id}:{study_uid}", ""))
        if refusal:
            p.refuse("archived", refusal)
        elif text := quota_text(limit, in_use, p.size):
            p.refuse("quota", text)


def _store_one(hospital_id: int, p: Prepared) -> Path | None:
    """Write one accepted file (blocking): fsynced and renamed into place; the folder it
    went into when it is new there (fsynced by the caller)."""
    p.sha = files.sha256_of(p.received.data)
    p.storage_path, p.created = files.store_online(
        hospital_id, p.sha, p.received.data, sync_folder=False
    )
    return files.online_path(p.storage_path).parent if p.created else None


async def _store(hospital_id: int, prepared: list[Prepared]) -> None:
    """Write the accepted files, each in a worker thread at once (their fsyncs overlap, so
    the file system can commit them together), then fsync each folder that got one, once,
    before any row points at them."""
    accepted = [p for p in prepared if not p.code]
    folders = await asyncio.gather(
        *(asyncio.to_thread(_store_one, hospital_id, p) for p in accepted)
    )
    await asyncio.gather(
        *(asyncio.to_thread(files.sync_folders, [f]) for f in {f for f in folders if f})
    )


async def _remove_unreferenced(prepared: list[Prepared]) -> None:
    """Files this attempt wrote that no row holds (a refusal or a duplicate in the
    transaction, or the transaction failed)."""
    for p in prepared:
        if p.created and not await sql_instance.HOLDS_FILE.one(storage_path=p.storage_path):
            await asyncio.to_thread(files.remove_online, p.storage_path)


async def ingest_files(
    run_id: int,
    received: list[Received],
    *,
    ctx: Ctx | None = None,
    policy: IngestPolicy | None = None,
    study_uid: str = "",
    keep_going: bool = False,
) -> list[ItemResult]:
    """Verify, store and index files into migration run ``run_id``; one result per file, in
    order.

    The files are checked in worker threads, written (one fsync per file, one per folder),
    then indexed ``BATCH`` at a time in one transaction each. If a batch's transaction
    fails, its files are removed again (unless a row holds them) and each is ingested
    alone, so one bad moment costs that file only; ``keep_going``: a file that fails alone
    too becomes a ``failed`` item instead of raising. ``study_uid``: the study the sender
    addressed (STOW-RS ``/studies/{study}``); a file of another study is refused.
    """
    ctx = ctx or Ctx()
    policy = policy or ingest_policy()
    run = await sql_run.HOSPITAL_QUOTA.one(id=run_id)
    if run is None:
        raise LookupError(f"migration run {run_id} does not exist")
    hospital_id = int(run["hospital"])
    quota: tuple[int, int] | None = (
        int(run["storage_quota_bytes"]),
        int(run["storage_used_bytes"]),
    )
    results: list[ItemResult] = []
    for start in range(0, len(received), BATCH):
        chunk = received[start : start + BATCH]
        prepared = list(
            await asyncio.gather(*(asyncio.to_thread(_check, r, policy, study_uid) for r in chunk))
        )
        stored, _ = await asyncio.gather(
            stored_rows(hospital_id, prepared), _precheck(hospital_id, prepared, quota)
        )
        quota = None  # a later batch reads it again
        renew = _hold_due(run_id)
        try:
            await _store(hospital_id, prepared)
            await compare_ahead(hospital_id, prepared, stored)
            async with transaction():
                batch = Batch(run_id, hospital_id, ctx)
                done = await batch.ingest_all(prepared)
                await batch.finish()
                if renew:
                    await keep_held(run_id)
            if renew:
                _held_at(run_id)
        except Exception:
            await _remove_unreferenced(prepared)
            if len(chunk) == 1 and not keep_going:
                raise
            log.exception("a batch of %d file(s) of run %d failed; each alone", len(chunk), run_id)
            done = [await _alone(run_id, r, ctx, policy, study_uid, keep_going) for r in chunk]
        else:
            await _remove_unreferenced([p for p in prepared if p.code or p.unused])
        results.extend(done)
    return results


async def _alone(
    run_id: int, r: Received, ctx: Ctx, policy: IngestPolicy, study_uid: str, keep_going: bool
) -> ItemResult:
    try:
        return (await ingest_files(run_id, [r], ctx=ctx, policy=policy, study_uid=study_uid))[0]
    except Exception as exc:
        if not keep_going:
            raise
        log.exception("%s of run %d could not be stored", r.file_name or "a file", run_id)
        size = len(r.data) if not isinstance(r.data, Path) else 0
        return await record_failure(
            run_id,
            "failed",
            f"The instance could not be stored ({type(exc).__name__}); send it again.",
            file_name=r.file_name,
            size=size,
            item_id=r.item_id,
            ctx=ctx,
            status="failed",
        )


async def ingest_file(
    run_id: int,
    data: bytes | Path,
    *,
    file_name: str = "",
    item_id: int | None = None,
    ctx: Ctx | None = None,
    policy: IngestPolicy | None = None,
    study_uid: str = "",
) -> ItemResult:
    """Verify, store and index one file into migration run ``run_id`` (see ``ingest_files``).

    ``item_id``: the item recorded when the file was spooled (else a new item is written).
    Returns the outcome; a bad file is ``refused`` with a code and a reason, nothing stored.
    Database failures raise, after the file written for it is removed again.
    """
    received = Received(data, file_name, item_id)
    return (await ingest_files(run_id, [received], ctx=ctx, policy=policy, study_uid=study_uid))[0]


OUTBOX_KIND = "migration"
PENDING, RUNNING = "pending", "running"  # the outbox row's states that are still to come


async def item_counts(run_ids: list[int]) -> dict[int, Counter[str]]:
    """Each run's files still waiting and refused, from its items (the run's columns count
    the other outcomes; ``failed_count`` counts refused and failed files together)."""
    if not run_ids:
        return {}
    rows = (
        await MigrationItem.select(MigrationItem.migration, MigrationItem.status, Count(alias="n"))
        .where(
            MigrationItem.migration.is_in(run_ids),
            MigrationItem.status.is_in([FileOutcome.received, FileOutcome.refused]),
        )
        .group_by(MigrationItem.migration, MigrationItem.status)
    )
    counts: dict[int, Counter[str]] = {}
    for r in rows:
        counts.setdefault(int(r["migration"]), Counter())[str(r["status"])] = int(r["n"])
    return counts


def facts_of(
    row: dict[str, Any], counts: Counter[str] | None, *, queued: bool = False
) -> MigrationFacts:
    """A run's files by outcome: its row and its ``item_counts`` (``queued``: see
    ``queued_runs``)."""
    counts = counts or Counter()
    refused = counts[FileOutcome.refused]
    return MigrationFacts(
        received=int(row["received_count"]),
        pending=counts[FileOutcome.received],
        stored=int(row["stored_count"]),
        duplicates=int(row["duplicate_count"]),
        new_versions=int(row["new_version_count"]),
        refused=refused,
        failed=max(0, int(row["failed_count"]) - refused),
        queued=queued,
    )


async def run_facts(run_id: int, *, queued: bool = False) -> MigrationFacts:
    """The run's facts; ``queued``: also whether a follow-up is pending or running."""
    row = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    if row is None:
        raise LookupError(f"migration run {run_id} does not exist")
    waiting = queued and run_id in await queued_runs([run_id])
    return facts_of(row, (await item_counts([run_id])).get(run_id), queued=waiting)


async def progress_payload(run_id: int) -> dict[str, Any]:
    row = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    if row is None:
        raise LookupError(f"migration run {run_id} does not exist")
    facts = facts_of(row, (await item_counts([run_id])).get(run_id))  # the row read once
    done = facts.received - facts.pending
    return {
        "case_type": "migration",
        "case_id": run_id,
        "state": row["state"],
        "step": progress(MigrationState(row["state"])),
        "steps": len(PIPELINE),
        "received": facts.received,
        "checked": done,
        "stored": facts.stored,
        "duplicates": facts.duplicates,
        "new_versions": facts.new_versions,
        "refused": facts.refused,
        "failed": facts.failed,
        "percent": percent_of(row["state"], done, facts.received),
    }


def percent_of(state: str, checked: int, received: int) -> int:
    """Half the bar is the files, the other half the steps after them."""
    if state == MigrationState.notified:
        return 100
    files_part = 50 * checked // received if received else 0
    return min(99, files_part + 50 * progress(MigrationState(state)) // len(PIPELINE))


def topics_of(hospital_id: int) -> list[str]:
    return [f"hospital:{hospital_id}"]


async def publish_progress(run_id: int, ctx: Ctx | None = None) -> None:
    """A ``migration.progress`` event (counts for the progress bar) on the run's topics.

    The counts are read in the event's own write transaction, the run's row locked first on
    PostgreSQL (SQLite has one writer at a time), so of two batches publishing at once the
    one committed later carries the later counts."""
    hospital_id = await _run_hospital(run_id)
    async with unit_of_work(ctx or Ctx()) as uow:
        if get_settings().is_postgres:
            await MigrationRun.select(MigrationRun.id).where(MigrationRun.id == run_id).lock_rows()
        payload = await progress_payload(run_id)
        for topic in (f"case:migration:{run_id}", *topics_of(hospital_id)):
            await uow.event(topic, "migration.progress", payload)


# --- the follow-up: the run's flow as an outbox row ------------------------------------------


def follow_up_key(run_id: int) -> str:
    """The key of the follow-up queued with the run (a retry's is ``migration-<id>-retry-<n>``)."""
    return f"{OUTBOX_KIND}-{run_id}"


def hold_seconds() -> float:
    return get_settings().ingest.stale_minutes * 60


def _held(run_id: int) -> Any:
    """The run's own follow-up while it is still held (pending, not yet due)."""
    return (
        (Outbox.idempotency_key == follow_up_key(run_id))
        & (Outbox.status == PENDING)
        & (Outbox.next_at > now())
    )


_HELD_AT: dict[int, float] = {}  # run → when this process last renewed its hold


def _hold_due(run_id: int) -> bool:
    """The run's hold was renewed by this process less than a tenth of the hold ago? Then a
    batch need not renew it again (it cannot run out before the next renewal is due)."""
    last = _HELD_AT.get(run_id)
    return last is None or time.monotonic() - last >= hold_seconds() / 10


def _held_at(run_id: int) -> None:
    if len(_HELD_AT) > 10_000:
        _HELD_AT.clear()
    _HELD_AT[run_id] = time.monotonic()


async def keep_held(run_id: int) -> None:
    """A file arrived: the hold of the run's follow-up starts again (in the caller's
    transaction). A released, claimed or finished row is left alone."""
    await Outbox.update({Outbox.next_at: now() + timedelta(seconds=hold_seconds())}).where(
        _held(run_id)
    )


async def hand_over(ctx: Ctx, run_id: int) -> None:
    """Every file is in: the follow-up queued with the run (``create_run(follow_up=True)``)
    falls due now instead of when its hold runs out. Nothing is queued here; a run created
    without one (a caller that meant to run it inline, and did not) gets it now."""
    async with unit_of_work(ctx) as uow:
        released = (
            await Outbox.update({Outbox.next_at: now()}).where(_held(run_id)).returning(Outbox.id)
        )
        if not released:
            await uow.outbox(OUTBOX_KIND, {"migration_id": run_id}, follow_up_key(run_id))
    await publish_progress(run_id, ctx)


_KEY = re.compile(rf"^{OUTBOX_KIND}-(\d+)(?:-retry-\d+)?$")


async def queued_runs(run_ids: Iterable[int]) -> set[int]:
    """Those of ``run_ids`` whose follow-up (first or a retry's) is pending or running."""
    wanted = set(run_ids)
    if not wanted:
        return set()
    rows = await Outbox.select(Outbox.idempotency_key).where(
        Outbox.kind == OUTBOX_KIND, Outbox.status.is_in([PENDING, RUNNING])
    )
    found = {int(m.group(1)) for r in rows if (m := _KEY.match(r["idempotency_key"]))}
    return found & wanted


SWEEP_CTX = Ctx(user_agent="aimis stale-run sweep")
PAGE = 500  # runs the sweep reads at a time


async def requeue_stale(older_than_seconds: float, limit: int = 200) -> list[int]:
    """Runs waiting in ``received`` with no follow-up pending or running, their last step
    (the ``receive`` or a retry) older than ``older_than_seconds``: each (at most ``limit``)
    is retried through the engine (a history row, its follow-up queued under a new key).
    Idempotent: a run with a follow-up is skipped, and two sweeps at once cannot both retry
    one run (the step names the version it read; the loser's is stale). Returns the runs
    queued."""
    cutoff = now() - timedelta(seconds=older_than_seconds)
    minutes = round(older_than_seconds / 60)
    requeued: list[int] = []
    after = 0
    while len(requeued) < limit:  # page by id: a backlog of queued runs starves no other
        rows = (
            await MigrationRun.select(MigrationRun.id)
            .where(
                MigrationRun.state == MigrationState.received,
                MigrationRun.created_at < cutoff,
                MigrationRun.id > after,
            )
            .order_by(MigrationRun.id)
            .limit(PAGE)
        )
        if not rows:
            break
        candidates = [int(r["id"]) for r in rows]
        after = candidates[-1]
        busy = await queued_runs(candidates)
        for run_id in candidates:
            if run_id in busy or len(requeued) >= limit or await _stepped_since(run_id, cutoff):
                continue
            try:
                await step(
                    run_id,
                    "retry",
                    ctx=SWEEP_CTX,
                    reason=f"waited in received for over {minutes} min without a follow-up",
                )
            except Conflict:  # queued or stepped meanwhile (another sweep, an admin, its flow)
                continue
            requeued.append(run_id)
    return requeued


async def _stepped_since(run_id: int, cutoff: Any) -> bool:
    """The run's last step is younger than ``cutoff`` (a retry whose follow-up already gave
    up is not retried again at once: once per stale period, not in a loop)."""
    return bool(
        await CaseHistory.exists().where(
            CaseHistory.case_type == MIGRATION.name,
            CaseHistory.case_id == run_id,
            CaseHistory.at >= cutoff,
        )
    )


async def step(
    run_id: int,
    trigger: str,
    *,
    ctx: Ctx | None = None,
    reason: str = "",
    summary: dict[str, Any] | None = None,
    version: int | None = None,
) -> Applied:
    """Apply one trigger of the migration machine to the run (a history row, an event)."""
    hospital_id = await _run_hospital(run_id)
    facts = await run_facts(run_id, queued=trigger == "retry")
    return await apply(
        ctx or Ctx(user_agent="aimis migration"),
        MIGRATION,
        MigrationRun,
        run_id,
        trigger,
        facts,
        reason=reason,
        summary={**(summary or {}), **_counts(facts)},
        topics=topics_of(hospital_id),
        version=version,
    )


def _counts(facts: MigrationFacts) -> dict[str, int]:
    return {
        "received": facts.received,
        "stored": facts.stored,
        "duplicates": facts.duplicates,
        "new_versions": facts.new_versions,
        "refused": facts.refused,
        "failed": facts.failed,
    }


async def _finished(done: Done) -> None:
    """A run's end (notify or fail): when, and a failure's reason."""
    values: dict[Any, Any] = {MigrationRun.finished_at: now()}
    if done.reason:
        values[MigrationRun.error] = done.reason[:2000]
    await MigrationRun.update(values).where(MigrationRun.id == done.case_id)


async def _requeued(done: Done) -> None:
    """A retry: the run is open again and its flow queued under a new key (one per retry)."""
    await MigrationRun.update({MigrationRun.finished_at: None, MigrationRun.error: ""}).where(
        MigrationRun.id == done.case_id
    )
    attempt = await CaseHistory.count().where(
        CaseHistory.case_type == MIGRATION.name,
        CaseHistory.case_id == done.case_id,
        CaseHistory.event == "retry",
    )
    run_id = done.case_id
    await done.uow.outbox(
        OUTBOX_KIND, {"migration_id": run_id}, f"migration-{run_id}-retry-{attempt}"
    )


bind(MIGRATION, effects={"finished": _finished, "requeued": _requeued}, describe=_describe)


async def spool_file(
    run_id: int, data: bytes | Path | Iterable[bytes], file_name: str, *, move: bool = False
) -> int:
    """Keep a received file durably for the run's flow (uploads, zips, imports); returns
    the item id. The item is written first: a crash before the file is complete leaves an
    item the flow reports as lost, never a file nobody knows about. ``move``: ``data`` is a
    temp file under the data folder, renamed into the spool instead of copied."""
    item_id = await add_received_item(run_id, file_name, 0)
    dest = files.spool_dir(run_id) / f"{item_id}.dcm"
    if move and isinstance(data, Path):
        size = await asyncio.to_thread(files.move_atomic, data, dest)
    else:
        size = await asyncio.to_thread(files.write_atomic, dest, data)
    async with transaction():
        await MigrationItem.update({MigrationItem.size_bytes: size}).where(
            MigrationItem.id == item_id
        )
        await add_counts(run_id, received_bytes=size)
    return item_id
