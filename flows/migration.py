"""The migration run's flow (SPEC 9.1), one flow run per run, named ``migration-<id>``.

The ``migration`` outbox row carries the run's id only. The flow checks the files the run
spooled (uploads, zips, ``aimis import``) in batches — each file verified, stored and
indexed by ``api.ingest.steps.ingest_files`` — then walks the machine's pipeline: verify →
store → index → make_thumbnails → bill → match → notify, one task per step, each applied
through the engine (a history row, a live event). Every step is idempotent and skipped when
the run is already past it, so a rerun (the dispatcher delivers at least once, a crashed
worker is retried) continues where the last one stopped and doubles nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from api.dicomweb.rendered import prerender
from api.ingest.steps import (
    Received,
    ingest_files,
    publish_progress,
    record_failure,
    step,
)
from api.patient_archive.matching import match_run, notify_run
from flows.outbox import PermanentFailure, payload_of
from flows.runs import outbox_flow, retrying
from imaging.read import IngestRefused, decode_check
from imaging.render import thumbnail
from kernel.errors import Conflict
from states.migration import PIPELINE, MigrationState, progress
from store import files
from store.db import transaction
from store.examinations import examination_from_study
from store.scoping import study_images
from store.tables import (
    Hospital,
    Instance,
    MigrationItem,
    MigrationLog,
    MigrationRun,
    StoragePolicy,
    Study,
)
from store.uow import Ctx, now, write_audit

log = logging.getLogger(__name__)

BATCH = 25  # files per task run and transaction: a task costs ~3 ms in Prefect, a file 5-50 ms
CTX = Ctx(user_agent="aimis migration flow")

# Hooks for later processes: given (run id, study ids) they return how many they handled.
Hook = Callable[[int, list[int]], Awaitable[int]]


async def record_examinations(run_id: int, study_ids: list[int]) -> int:
    """Each study of the run becomes (once) an examination of the hospital's list."""
    for study_id in study_ids:
        await examination_from_study(study_id)
    return len(study_ids)


# The examination record first, then the patient archives' matcher (SPEC 10.3) ...
PATIENT_MATCHERS: list[Hook] = [record_examinations, match_run]
PATIENT_NOTIFIERS: list[Hook] = [notify_run]  # ... and the notices of what is visible at once


@retrying
async def run_of(outbox_id: int) -> int:
    run_id = int((await payload_of(outbox_id))["migration_id"])
    if not await MigrationRun.exists().where(MigrationRun.id == run_id):
        raise PermanentFailure(f"migration run {run_id} does not exist")
    return run_id


async def check_spooled(run_id: int, batch: int = BATCH) -> int:
    """Ingest up to ``batch`` spooled files still waiting (one ``ingest_files`` batch: one
    transaction); returns how many were checked."""
    items = (
        await MigrationItem.select(MigrationItem.id, MigrationItem.file_name)
        .where(MigrationItem.migration == run_id, MigrationItem.status == "received")
        .order_by(MigrationItem.id)
        .limit(batch)
    )
    folder = files.spool_dir(run_id)
    waiting: list[Received] = []
    for item in items:
        path = folder / f"{item['id']}.dcm"
        if not await asyncio.to_thread(path.exists):
            await record_failure(
                run_id,
                "lost",
                "The received file is missing from the spool (the transfer was interrupted "
                "before it was complete); send it again.",
                file_name=item["file_name"],
                item_id=item["id"],
                ctx=CTX,
                status="failed",
            )
            continue
        waiting.append(Received(path, item["file_name"], item["id"]))
    await ingest_files(run_id, waiting, ctx=CTX)
    for received in waiting:
        assert isinstance(received.data, Path)
        await asyncio.to_thread(received.data.unlink, True)
    if items:
        await publish_progress(run_id, CTX)
    return len(items)


@retrying
async def check_files(run_id: int) -> int:
    return await check_spooled(run_id)


# --- the steps after the files -------------------------------------------------------------


async def run_studies(run_id: int) -> list[int]:
    """Studies that received a new instance (stored or new version) in this run."""
    rows = await Instance.select(Instance.study).where(Instance.migration == run_id).distinct()
    return sorted(int(r["study"]) for r in rows)


PIXEL_BATCH = 16  # instances decoded at once (each in a worker thread), then written


async def check_pixels(run_id: int) -> int:
    """The decode check ingest no longer does before it answers: the first and last frame
    of each of the run's instances still ``pending`` are decoded now (in worker threads).
    One that cannot be decoded is kept (it was acknowledged) but flagged, never counted as
    good: its instance becomes ``undecodable`` with the reason, its run's item gets the
    code ``undecodable`` and the reason (the run's detail shows it), its study counts it in
    ``undecodable``, and an audit row ``migration.flag_file`` names it. Idempotent: a rerun
    decodes only what is still pending. Returns how many were flagged."""
    flagged = 0
    while True:
        rows = (
            await Instance.select(
                Instance.id,
                Instance.study,
                Instance.sop_uid,
                Instance.revision,
                Instance.storage_path,
                Instance.superseded,
            )
            .where(Instance.migration == run_id, Instance.decode_state == "pending")
            .order_by(Instance.id)
            .limit(PIXEL_BATCH)
        )
        if not rows:
            return flagged
        outcomes = await asyncio.gather(
            *(asyncio.to_thread(_decode_problem, r["storage_path"]) for r in rows)
        )
        bad = [(r, why) for r, why in zip(rows, outcomes, strict=True) if why]
        good = [int(r["id"]) for r, why in zip(rows, outcomes, strict=True) if not why]
        async with transaction():
            if good:
                await Instance.update({Instance.decode_state: "ok"}).where(Instance.id.is_in(good))
            for row, why in bad:
                await _flag_undecodable(run_id, row, why)
        flagged += len(bad)


def _decode_problem(storage_path: str) -> str:
    """Why the stored file's pixels cannot be decoded ("" when they can)."""
    try:
        decode_check(files.online_path(storage_path))
    except IngestRefused as refused:
        return refused.reason
    except Exception as exc:  # a decoder's own failure, a file gone: the same, said plainly
        return f"The pixel data cannot be decoded ({type(exc).__name__}: {exc})."[:2000]
    return ""


async def _flag_undecodable(run_id: int, row: dict[str, Any], why: str) -> None:
    reason = (
        f"Stored, but the pixel data cannot be decoded (found after it was acknowledged, "
        f"when the thumbnails were made): {why}"
    )[:2000]
    await Instance.update(
        {Instance.decode_state: "undecodable", Instance.decode_error: why[:2000]}
    ).where(Instance.id == row["id"])
    if not row["superseded"]:
        await Study.update({Study.undecodable: Study.undecodable + 1}).where(
            Study.id == row["study"]
        )
    items = (
        await MigrationItem.update(
            {MigrationItem.code: "undecodable", MigrationItem.reason: reason}
        )
        .where(
            MigrationItem.migration == run_id,
            MigrationItem.sop_uid == row["sop_uid"],
            MigrationItem.status.is_in(["stored", "new_version"]),
        )
        .returning(MigrationItem.file_name)
    )
    run = await MigrationRun.select(MigrationRun.hospital).where(MigrationRun.id == run_id).first()
    name = items[0]["file_name"] if items else ""
    await write_audit(
        CTX,
        "migration.flag_file",
        "migration",
        run_id,
        outcome="failure",
        detail=f"{name or row['sop_uid']}: undecodable: {why}"[:2000],
        hospital_id=int(run["hospital"]) if run else None,
    )
    log.warning("run %s: instance %s cannot be decoded: %s", run_id, row["id"], why)


async def make_thumbnails(run_id: int) -> int:
    """The run's decode check (``check_pixels``), then each study's thumbnail from its first
    decodable image and its pre-rendered middle slices."""
    made = 0
    for study_id in await run_studies(run_id):
        first = (
            await Instance.select(Instance.storage_path, Instance.series.series_number)
            .where(
                Instance.study == study_id,
                Instance.superseded.eq(False),
                Instance.rows.is_not_null(),
                Instance.decode_state != "undecodable",
            )
            .order_by(Instance.series.series_number)
            .order_by(Instance.instance_number)
            .order_by(Instance.id)
            .first()
        )
        if first is None:  # no image in the study (e.g. reports only)
            continue
        try:
            jpeg = await asyncio.to_thread(thumbnail, files.online_path(first["storage_path"]))
        except Exception as exc:  # a study whose first image cannot be drawn keeps none
            log.warning("no thumbnail for study %s: %s", study_id, exc)
            continue
        name = files.thumbnail_name(study_id)
        await asyncio.to_thread(files.write_atomic, files.thumbnail_path(name), jpeg)
        await Study.update({Study.thumbnail: name}).where(Study.id == study_id)
        made += 1
        await prerender_study(study_id)
    return made


def middle_slices(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The instance each series' and the study's ``/thumbnail`` draws (the middle one, in
    the display order of ``api.dicomweb.lookup.stored_instances``), each once."""
    by_series: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_series.setdefault(int(row["series"]), []).append(row)
    chosen = [items[len(items) // 2] for items in by_series.values()]
    if rows:
        chosen.append(rows[len(rows) // 2])
    return list({int(r["id"]): r for r in chosen}.values())


async def prerender_study(study_id: int) -> int:
    """Pre-render the middle slice of each series of the study (and the study's own middle
    slice) as the viewers first ask for it, so that the first view is served from disk
    (``api.dicomweb.rendered.prerender``); how many slices got new pictures. A slice that
    cannot be drawn is logged and skipped: the viewer then draws it, or says why not."""
    rows = (
        await study_images(
            Instance,
            study_id,
            Instance.id,
            Instance.series,
            Instance.sha256,
            Instance.storage_path,
        )
        .where(Instance.superseded.eq(False), Instance.decode_state != "undecodable")
        .order_by(Instance.series.series_number, Instance.series)
        .order_by(Instance.instance_number, Instance.id)
    )
    done = 0
    for row in middle_slices(rows):
        try:
            path = files.online_path(row["storage_path"])
            written = await asyncio.to_thread(prerender, row["sha256"], path)
        except Exception as exc:  # one slice that cannot be drawn stops nothing
            log.warning("no pre-rendered picture for instance %s: %s", row["id"], exc)
            continue
        done += bool(written)
    return done


async def policy_of(hospital_id: int) -> dict[str, Any]:
    """The hospital's storage policy; a default one is created when it has none."""
    await StoragePolicy.insert(StoragePolicy(hospital=hospital_id)).on_conflict(
        target=StoragePolicy.hospital, action="DO NOTHING"
    )
    row = await StoragePolicy.select().where(StoragePolicy.hospital == hospital_id).first()
    assert row is not None
    return row


def _quantity(unit: str, size: int) -> str:
    return f"{size / 1024**3:.3f}" if unit.upper() == "GB" else "1"


async def bill(run_id: int) -> int:
    """One migration-log row per study that got new bytes in this run (SPEC 8.10)."""
    run = await MigrationRun.select(MigrationRun.hospital).where(MigrationRun.id == run_id).first()
    assert run is not None
    hospital_id = int(run["hospital"])
    policy = await policy_of(hospital_id)
    hospital = await Hospital.select(Hospital.name).where(Hospital.id == hospital_id).first()
    billed = 0
    for study_id in await run_studies(run_id):
        if await MigrationLog.exists().where(
            MigrationLog.migration == run_id, MigrationLog.study == study_id
        ):
            continue
        study = await Study.select().where(Study.id == study_id).first()
        assert study is not None
        sizes = await Instance.select(Instance.size_bytes).where(
            Instance.migration == run_id, Instance.study == study_id
        )
        size = sum(int(r["size_bytes"]) for r in sizes)
        until = now() + timedelta(days=int(policy["validity_days"]))
        label = " · ".join(
            x for x in (study["accession_number"], study["modalities"], study["description"]) if x
        )
        await MigrationLog.insert(
            MigrationLog(
                hospital=hospital_id,
                migration=run_id,
                study=study_id,
                examination=(label or study["study_uid"])[:300],
                size_bytes=size,
                billing_unit=policy["billing_unit"],
                billing_quantity=_quantity(policy["billing_unit"], size),
                billing_entity=hospital["name"] if hospital else "",
                resource_package=policy["resource_package"],
                validity_until=until,
                created_at=now(),
            )
        )
        await Study.update({Study.validity_until: until}).where(Study.id == study_id)
        billed += 1
    return billed


async def run_hooks(hooks: list[Hook], run_id: int) -> int:
    studies = await run_studies(run_id)
    return sum([await hook(run_id, studies) for hook in hooks])


async def clean_spool(run_id: int) -> None:
    await asyncio.to_thread(shutil.rmtree, files.spool_dir(run_id), True)


async def thumbnails_step(run_id: int) -> dict[str, int]:
    """The make_thumbnails step's work and its summary (the run's history shows both)."""
    undecodable = await check_pixels(run_id)
    summary = {"thumbnails": await make_thumbnails(run_id)}
    if undecodable:
        summary["undecodable"] = undecodable
    return summary


WORK: dict[str, Callable[[int], Awaitable[dict[str, int]]]] = {
    "make_thumbnails": thumbnails_step,
    "bill": lambda run_id: _as("billed", bill(run_id)),
    "match": lambda run_id: _as("matched", run_hooks(PATIENT_MATCHERS, run_id)),
    "notify": lambda run_id: _as("notified", run_hooks(PATIENT_NOTIFIERS, run_id)),
}


async def _as(name: str, work: Awaitable[int]) -> dict[str, int]:
    return {name: await work}


async def advance(run_id: int, trigger: str, reached: MigrationState) -> bool:
    """Do the step's work and apply its trigger; False when the run failed (stop)."""
    row = await MigrationRun.select(MigrationRun.state).where(MigrationRun.id == run_id).first()
    assert row is not None
    state = MigrationState(row["state"])
    if state == MigrationState.failed:
        return False
    if progress(state) >= progress(reached):
        return True  # a rerun: this step is done
    summary = await WORK[trigger](run_id) if trigger in WORK else {}
    last = reached == MigrationState.notified
    try:
        await step(run_id, trigger, ctx=CTX, summary=summary)
    except Conflict as refused:  # a guard said no: the run cannot go on
        reason = refused.message
        await step(run_id, "fail", ctx=CTX, reason=reason)
        await clean_spool(run_id)
        return False
    if last:
        await clean_spool(run_id)
    return True


@retrying
async def run_step(run_id: int, trigger: str) -> bool:
    reached = dict(PIPELINE)[trigger]
    return await advance(run_id, trigger, reached)


async def migrate(run_id: int) -> str:
    """Everything after the files arrived; returns the run's final state."""
    while await check_files(run_id):
        pass
    for trigger, _ in PIPELINE:
        if not await run_step.with_options(name=f"migration-{trigger}")(run_id, trigger):
            break
    row = await MigrationRun.select(MigrationRun.state).where(MigrationRun.id == run_id).first()
    with contextlib.suppress(Exception):
        await publish_progress(run_id, CTX)
    return str(row["state"]) if row else ""


async def migrate_inline(run_id: int) -> str:
    """The same steps without Prefect, in this process: ``aimis import --now``, the demo
    data and tests, for a run that was not handed to the dispatcher."""
    while await check_spooled(run_id):
        pass
    for trigger, reached in PIPELINE:
        if not await advance(run_id, trigger, reached):
            break
    row = await MigrationRun.select(MigrationRun.state).where(MigrationRun.id == run_id).first()
    return str(row["state"]) if row else ""


@outbox_flow("migration")
async def migration_flow(outbox_id: int) -> None:
    await migrate(await run_of(outbox_id))
