"""The imaging index: one received file → verified → stored (atomically) → indexed.

``ingest_file(run_id, data)`` is the one way a DICOM file enters the platform; STOW-RS,
C-STORE, uploads, ``aimis import`` and the demo all call it. It never raises for a bad file:
a refusal becomes a ``MigrationItem`` with the reason and an audit row, and nothing is
stored. Other exceptions (the database went away) propagate so the caller can retry; the
file written before the failed transaction is removed again unless a row points at it.

Deduplication is by SOP Instance UID within the hospital: the same bytes again is a no-op
(``duplicate``); other bytes under the same UID become a new revision (``new_version``)
and the previous row is marked ``superseded`` (kept, reported in the run).

Concurrency: patient/study/series rows are created with ``INSERT … ON CONFLICT DO NOTHING``
on their ``*_key`` column, then the series row is touched with an ``UPDATE`` before the
instance is looked up, which serialises writers of one series on PostgreSQL (row lock) as
SQLite's ``IMMEDIATE`` transactions already do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec
from pydicom.dataset import Dataset

from imaging.read import LENIENT, STRICT, IngestPolicy, IngestRefused, ParsedInstance
from imaging.read import validate_for_ingest as _validate
from kernel.settings import get_settings
from states.machine import Decision
from states.migration import MIGRATION, PIPELINE, MigrationFacts, MigrationState, progress
from store import files
from store.db import transaction
from store.engine import Applied, Effects, apply
from store.tables import (
    CaseHistory,
    Hospital,
    Instance,
    MigrationItem,
    MigrationRun,
    Patient,
    Series,
    Study,
)
from store.uow import Ctx, UnitOfWork, now, unit_of_work, write_audit

log = logging.getLogger(__name__)

SOURCES = ("cstore", "stow", "upload", "import")


class ItemResult(msgspec.Struct, frozen=True):
    """What became of one received file. ``status``: stored | duplicate | new_version |
    refused | failed; ``code``/``reason`` say why for the last two."""

    status: str
    item_id: int
    file_name: str = ""
    sop_uid: str = ""
    sop_class_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    study_id: int | None = None
    instance_id: int | None = None
    size_bytes: int = 0
    code: str = ""
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("stored", "duplicate", "new_version")


def ingest_policy() -> IngestPolicy:
    settings = get_settings()
    base = LENIENT if settings.ingest.policy.strip().lower() == "lenient" else STRICT
    return dataclasses.replace(base, max_bytes=settings.ingest.max_file_bytes)


# --- runs ----------------------------------------------------------------------------------


async def create_run(
    ctx: Ctx,
    hospital_id: int,
    source: str,
    source_detail: str = "",
    *,
    spool: bool = False,
) -> int:
    """A new migration run (state ``received``) for ``hospital_id``; returns its id."""
    if source not in SOURCES:
        raise ValueError(f"unknown migration source {source!r}")
    actor = ctx.actor
    async with unit_of_work(ctx) as uow:
        row = await MigrationRun.insert(
            MigrationRun(
                hospital=hospital_id,
                source=source,
                source_detail=source_detail[:200],
                state="received",
                created_by=actor.user_id if actor else None,
                created_at=now(),
            )
        ).returning(MigrationRun.id)
        run_id = int(row[0]["id"])
        if spool:
            await MigrationRun.update({MigrationRun.spool_dir: f"run-{run_id}"}).where(
                MigrationRun.id == run_id
            )
        await CaseHistory.insert(
            CaseHistory(
                case_type="migration",
                case_id=run_id,
                actor_id=actor.user_id if actor else None,
                actor_name=actor.username if actor else "system",
                event="receive",
                from_state="",
                to_state="received",
                summary=msgspec.json.encode({"source": source}).decode(),
                at=now(),
                ip=ctx.ip[:64],
            )
        )
        payload = {"case_type": "migration", "case_id": run_id, "to": "received"}
        await uow.event(f"hospital:{hospital_id}", "migration.created", payload)
        await uow.audit(
            "migration.create",
            "migration",
            run_id,
            detail=f"{source} {source_detail}".strip()[:300],
            hospital_id=hospital_id,
        )
    return run_id


async def add_received_item(run_id: int, file_name: str, size: int) -> int:
    """Record a spooled file waiting for the flow; returns the item id."""
    async with transaction():
        row = await MigrationItem.insert(
            MigrationItem(migration=run_id, file_name=file_name[:255], size_bytes=size)
        ).returning(MigrationItem.id)
        await _count(run_id, received=1, received_bytes=size)
    return int(row[0]["id"])


async def _run_hospital(run_id: int) -> int:
    row = await MigrationRun.select(MigrationRun.hospital).where(MigrationRun.id == run_id).first()
    if row is None:
        raise LookupError(f"migration run {run_id} does not exist")
    return int(row["hospital"])


async def _count(run_id: int, received_bytes: int = 0, **counts: int) -> None:
    values: dict[Any, Any] = {}
    for name, n in counts.items():
        if n:
            column: Any = MigrationRun._meta.get_column_by_name(f"{name}_count")
            values[column] = column + n
    if received_bytes:
        values[MigrationRun.received_bytes] = MigrationRun.received_bytes + received_bytes
    if values:
        await MigrationRun.update(values).where(MigrationRun.id == run_id)


async def _resolve_item(
    run_id: int,
    item_id: int | None,
    file_name: str,
    size: int,
    *,
    status: str,
    code: str = "",
    reason: str = "",
    sop_uid: str = "",
    study_uid: str = "",
    tally: Counter[str] | None = None,
) -> int:
    """Write the item's outcome (a new row for inline ingest, an update for spooled files).
    The run's counters are updated now, or added to ``tally`` for the caller to write."""
    values = {
        "status": status,
        "code": code[:40],
        "reason": reason[:2000],
        "sop_uid": sop_uid[:64],
        "study_uid": study_uid[:64],
    }
    counter = {
        "stored": "stored",
        "duplicate": "duplicate",
        "new_version": "new_version",
    }.get(status, "failed")
    if item_id is None:
        new_item = MigrationItem(migration=run_id, file_name=file_name[:255], size_bytes=size)
        for name, value in values.items():
            setattr(new_item, name, value)
        row = await MigrationItem.insert(new_item).returning(MigrationItem.id)
        counts = {"received": 1, "received_bytes": size, counter: 1}
        item_id = int(row[0]["id"])
    else:
        await MigrationItem.update(
            {MigrationItem._meta.get_column_by_name(k): v for k, v in values.items()}
        ).where(MigrationItem.id == item_id)
        counts = {counter: 1}
    if tally is None:
        received_bytes = counts.pop("received_bytes", 0)
        await _count(run_id, received_bytes=received_bytes, **counts)
    else:
        tally.update(counts)
    return item_id


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
        item = await _resolve_item(
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


@dataclasses.dataclass(frozen=True)
class Received:
    """A file to ingest: its bytes or path, the name it came with, and the item recorded
    when it was spooled (``None``: a new item is written). ``refused``: (code, reason) when
    the caller already refuses it (a STOW-RS part of another media type), so its item
    keeps its place among the others."""

    data: bytes | Path
    file_name: str = ""
    item_id: int | None = None
    refused: tuple[str, str] | None = None


@dataclasses.dataclass
class _Prepared:
    """A received file after the checks that need no database, and its file once stored."""

    received: Received
    size: int
    parsed: ParsedInstance | None = None
    code: str = ""
    reason: str = ""
    sha: str = ""
    storage_path: str = ""
    created: bool = False

    def refuse(self, code: str, reason: str) -> None:
        self.code, self.reason = code, reason


def _check(received: Received, policy: IngestPolicy, study_uid: str) -> _Prepared:
    """Parse and verify one file (blocking: run it in a worker thread)."""
    data = received.data
    size = len(data) if not isinstance(data, Path) else data.stat().st_size
    prepared = _Prepared(received, size)
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


def _tier_refusal(study_uid: str, tier: str) -> str:
    if tier in ("", "online"):
        return ""
    return (
        f"The study {study_uid} is in the archive tier ({tier}); new images cannot join it "
        "there. Send them again after the study is back online."
    )


def _quota_text(quota: int, in_use: int, size: int) -> str:
    if quota <= 0 or in_use + size <= quota:
        return ""
    return f"The hospital's storage quota ({quota:,} bytes) would be exceeded; {in_use:,} are used."


async def _precheck(hospital_id: int, prepared: list[_Prepared]) -> None:
    """Tier and quota before any byte is written (read again in the transaction, which
    decides), so a refused file is never stored."""
    wanted = [p for p in prepared if not p.code and p.parsed]
    if not wanted:
        return
    keys = list({f"{hospital_id}:{p.parsed.study_instance_uid}" for p in wanted if p.parsed})
    rows = await Study.select(Study.study_key, Study.tier).where(Study.study_key.is_in(keys))
    tiers = {r["study_key"]: str(r["tier"]) for r in rows}
    quota, in_use = await _quota(hospital_id)
    for p in wanted:
        assert p.parsed is not None
        study_uid = p.parsed.study_instance_uid
        refusal = _tier_refusal(study_uid, tiers.get(f"{hospital_id}:{study_uid}", ""))
        if refusal:
            p.refuse("archived", refusal)
        elif text := _quota_text(quota, in_use, p.size):
            p.refuse("quota", text)


def _store(hospital_id: int, prepared: list[_Prepared]) -> None:
    """Write the accepted files (blocking): each fsynced and renamed into place, then each
    folder that got one fsynced once, before any row points at them."""
    folders: set[Path] = set()
    for p in prepared:
        if p.code:
            continue
        p.sha = files.sha256_of(p.received.data)
        p.storage_path, p.created = files.store_online(
            hospital_id, p.sha, p.received.data, sync_folder=False
        )
        if p.created:
            folders.add(files.online_path(p.storage_path).parent)
    files.sync_folders(folders)


async def _remove_unreferenced(prepared: list[_Prepared]) -> None:
    """Files this attempt wrote that no row holds (a refusal in the transaction, or the
    transaction failed)."""
    for p in prepared:
        if p.created and not await Instance.exists().where(Instance.storage_path == p.storage_path):
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
    hospital_id = await _run_hospital(run_id)
    results: list[ItemResult] = []
    for start in range(0, len(received), BATCH):
        chunk = received[start : start + BATCH]
        prepared = list(
            await asyncio.gather(*(asyncio.to_thread(_check, r, policy, study_uid) for r in chunk))
        )
        await _precheck(hospital_id, prepared)
        try:
            await asyncio.to_thread(_store, hospital_id, prepared)
            async with transaction():
                batch = _Batch(run_id, hospital_id, ctx)
                done = [await batch.ingest(p) for p in prepared]
                await batch.finish()
        except Exception:
            await _remove_unreferenced(prepared)
            if len(chunk) == 1 and not keep_going:
                raise
            log.exception("a batch of %d file(s) of run %d failed; each alone", len(chunk), run_id)
            done = [await _alone(run_id, r, ctx, policy, study_uid, keep_going) for r in chunk]
        else:
            await _remove_unreferenced([p for p in prepared if p.code])
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


async def _quota(hospital_id: int) -> tuple[int, int]:
    row = (
        await Hospital.select(Hospital.storage_quota_bytes, Hospital.storage_used_bytes)
        .where(Hospital.id == hospital_id)
        .first()
    )
    if row is None:
        return 0, 0
    return int(row["storage_quota_bytes"]), int(row["storage_used_bytes"])


def _text(ds: Dataset, keyword: str, limit: int) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:limit]


def _int(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


def _merge(existing: str, new: str, limit: int) -> str:
    values = {v for v in existing.split("\\") if v}
    if new:
        values.add(new)
    return "\\".join(sorted(values))[:limit]


@dataclasses.dataclass
class _SeriesGrowth:
    study_id: int
    was_empty: bool
    count: int = 0
    size: int = 0
    new_instances: int = 0


def _outcome(
    status: str,
    item: int,
    p: _Prepared,
    study_id: int | None = None,
    instance_id: int | None = None,
    *,
    code: str = "",
    reason: str = "",
) -> ItemResult:
    parsed = p.parsed
    return ItemResult(
        status,
        item,
        p.received.file_name,
        sop_uid=parsed.sop_instance_uid if parsed else "",
        sop_class_uid=parsed.sop_class_uid if parsed else "",
        study_uid=parsed.study_instance_uid if parsed else "",
        series_uid=parsed.series_instance_uid if parsed else "",
        study_id=study_id,
        instance_id=instance_id,
        size_bytes=p.size,
        code=code,
        reason=reason,
    )


class _Batch:
    """The index writes of one transaction: patient, study and series rows looked up once
    per batch, the current instances of the batch's SOP UIDs in one query, and the counters
    (series, study, hospital, run) added up and written once at the end."""

    def __init__(self, run_id: int, hospital_id: int, ctx: Ctx) -> None:
        self.run_id, self.hospital_id, self.ctx = run_id, hospital_id, ctx
        self.at = now()
        self.patients: dict[str, int] = {}
        self.studies: dict[str, int] = {}
        self.tiers: dict[str, str] = {}
        self.series: dict[str, int] = {}
        self.growth: dict[int, _SeriesGrowth] = {}
        self.current: dict[str, dict[str, Any] | None] = {}
        self.paths: dict[str, bool] = {}
        self.quota: tuple[int, int] | None = None
        self.used = 0
        self.tally: Counter[str] = Counter()
        self.study_uids: list[str] = []

    async def ingest(self, p: _Prepared) -> ItemResult:
        parsed = p.parsed
        if p.code:
            return await self.refuse(p)
        assert parsed is not None
        study_uid = parsed.study_instance_uid
        refusal = _tier_refusal(study_uid, await self.tier(study_uid))
        if refusal:
            p.refuse("archived", refusal)
            return await self.refuse(p)
        if self.quota is None:
            self.quota = await _quota(self.hospital_id)
        quota, in_use = self.quota
        if text := _quota_text(quota, in_use + self.used, p.size):
            p.refuse("quota", text)
            return await self.refuse(p)
        return await self.index(p, parsed)

    async def refuse(self, p: _Prepared) -> ItemResult:
        r, parsed = p.received, p.parsed
        sop = parsed.sop_instance_uid if parsed else ""
        study = parsed.study_instance_uid if parsed else ""
        item = await _resolve_item(
            self.run_id,
            r.item_id,
            r.file_name,
            p.size,
            status="refused",
            code=p.code,
            reason=p.reason,
            sop_uid=sop,
            study_uid=study,
            tally=self.tally,
        )
        await write_audit(
            self.ctx,
            "migration.refuse_file",
            "migration",
            self.run_id,
            outcome="denied",
            detail=f"{r.file_name or 'file'}: {p.code}: {p.reason}"[:2000],
            hospital_id=self.hospital_id,
        )
        return _outcome("refused", item, p, code=p.code, reason=p.reason)

    async def tier(self, study_uid: str) -> str:
        """The tier of the hospital's study with this UID ("" when it is new)."""
        if study_uid not in self.tiers:
            row = (
                await Study.select(Study.tier)
                .where(Study.study_key == f"{self.hospital_id}:{study_uid}")
                .first()
            )
            self.tiers[study_uid] = str(row["tier"]) if row else ""
        return self.tiers[study_uid]

    async def instance_of(self, sop: str) -> dict[str, Any] | None:
        if sop not in self.current:
            row = (
                await Instance.select(
                    Instance.id, Instance.sha256, Instance.revision, Instance.size_bytes
                )
                .where(
                    Instance.hospital == self.hospital_id,
                    Instance.sop_uid == sop,
                    Instance.superseded.eq(False),
                )
                .first()
            )
            self.current[sop] = row
        return self.current[sop]

    async def file_is_new(self, storage_path: str) -> bool:
        """No row holds this file yet: its bytes count once in the hospital's storage (a
        file a crashed attempt left behind is on disk but not yet counted)."""
        if storage_path not in self.paths:
            self.paths[storage_path] = not await Instance.exists().where(
                Instance.storage_path == storage_path
            )
        return self.paths[storage_path]

    async def series_of(self, study_id: int, series_uid: str, ds: Dataset) -> int:
        if series_uid not in self.series:
            series_id = await _upsert_series(self.hospital_id, study_id, series_uid, ds, self.at)
            # the UPDATE takes the series row lock (PostgreSQL) before instances are looked up
            await Series.update({Series.num_instances: Series.num_instances}).where(
                Series.id == series_id
            )
            empty = not await Instance.exists().where(Instance.series == series_id)
            self.series[series_uid] = series_id
            self.growth[series_id] = _SeriesGrowth(study_id, empty)
        return self.series[series_uid]

    async def index(self, p: _Prepared, parsed: ParsedInstance) -> ItemResult:
        r, ds = p.received, parsed.dataset
        sop, study_uid, series_uid = (
            parsed.sop_instance_uid,
            parsed.study_instance_uid,
            parsed.series_instance_uid,
        )
        pid_key = _patient_key(self.hospital_id, ds)
        if pid_key not in self.patients:
            self.patients[pid_key] = await _upsert_patient(self.hospital_id, ds, self.at)
        patient_id = self.patients[pid_key]
        study_id = await _upsert_study(
            self.hospital_id, patient_id, study_uid, ds, self.at, self.studies
        )
        series_id = await self.series_of(study_id, series_uid, ds)
        current = await self.instance_of(sop)
        if current is not None and current["sha256"] == p.sha:
            item = await self.resolve(r, p.size, "duplicate", sop, study_uid)
            reason = "The same instance with the same bytes is already stored."
            return _outcome("duplicate", item, p, study_id, int(current["id"]), reason=reason)
        revision = 1
        grow_count, grow_size = 1, p.size
        if current is not None:
            revision = int(current["revision"]) + 1
            grow_count, grow_size = 0, p.size - int(current["size_bytes"])
            await Instance.update({Instance.superseded: True}).where(Instance.id == current["id"])
        file_is_new = await self.file_is_new(p.storage_path)
        row = await Instance.insert(
            instance_row(
                self.hospital_id,
                study_id,
                series_id,
                parsed,
                p,
                revision=revision,
                run_id=self.run_id,
                at=self.at,
            )
        ).returning(Instance.id)
        instance_id = int(row[0]["id"])
        self.current[sop] = {
            "id": instance_id,
            "sha256": p.sha,
            "revision": revision,
            "size_bytes": p.size,
        }
        self.paths[p.storage_path] = False
        growth = self.growth[series_id]
        growth.count += grow_count
        growth.size += grow_size
        growth.new_instances += 1
        if file_is_new:
            self.used += p.size
        status = "stored" if current is None else "new_version"
        reason = (
            ""
            if current is None
            else f"Different bytes under a stored SOP Instance UID: kept as revision {revision}."
        )
        item = await self.resolve(r, p.size, status, sop, study_uid, reason)
        if study_uid not in self.study_uids:
            self.study_uids.append(study_uid)
        return _outcome(status, item, p, study_id, instance_id, reason=reason)

    async def resolve(
        self, r: Received, size: int, status: str, sop: str, study_uid: str, reason: str = ""
    ) -> int:
        return await _resolve_item(
            self.run_id,
            r.item_id,
            r.file_name,
            size,
            status=status,
            reason=reason,
            sop_uid=sop,
            study_uid=study_uid,
            tally=self.tally,
        )

    async def finish(self) -> None:
        """The counters, once per batch."""
        by_study: dict[int, tuple[int, int, int]] = {}
        for series_id, g in self.growth.items():
            if g.count or g.size:
                await Series.update(
                    {
                        Series.num_instances: Series.num_instances + g.count,
                        Series.size_bytes: Series.size_bytes + g.size,
                    }
                ).where(Series.id == series_id)
            count, new_series, size = by_study.get(g.study_id, (0, 0, 0))
            gained = 1 if g.was_empty and g.new_instances else 0
            by_study[g.study_id] = (count + g.count, new_series + gained, size + g.size)
        for study_id, (count, new_series, size) in by_study.items():
            if count or new_series or size:
                await Study.update(
                    {
                        Study.num_instances: Study.num_instances + count,
                        Study.num_series: Study.num_series + new_series,
                        Study.size_bytes: Study.size_bytes + size,
                        Study.updated_at: self.at,
                    }
                ).where(Study.id == study_id)
        if self.used:
            await Hospital.update(
                {Hospital.storage_used_bytes: Hospital.storage_used_bytes + self.used}
            ).where(Hospital.id == self.hospital_id)
        received_bytes = self.tally.pop("received_bytes", 0)
        await _count(self.run_id, received_bytes=received_bytes, **self.tally)
        await _remember_studies(self.run_id, self.study_uids)


async def _remember_studies(run_id: int, study_uids: list[str]) -> None:
    """Add the batch's studies to the run's list (once per batch, not per file)."""
    if not study_uids:
        return
    row = (
        await MigrationRun.select(MigrationRun.study_uids).where(MigrationRun.id == run_id).first()
    )
    uids = msgspec.json.decode(row["study_uids"] or "[]") if row else []
    new = [uid for uid in study_uids if uid not in uids]
    if new:
        await MigrationRun.update(
            {MigrationRun.study_uids: msgspec.json.encode(uids + new).decode()}
        ).where(MigrationRun.id == run_id)


async def _insert_or_get(table: Any, key_column: Any, key: str, row: Any) -> int:
    await table.insert(row).on_conflict(target=key_column, action="DO NOTHING")
    found = await table.select(table._meta.primary_key).where(key_column == key).first()
    return int(found["id"])


def _patient_key(hospital_id: int, ds: Dataset) -> str:
    pid = _text(ds, "PatientID", 64)
    issuer = _text(ds, "IssuerOfPatientID", 64)
    return f"{hospital_id}:{issuer}:{pid}"[:200]


async def _upsert_patient(hospital_id: int, ds: Dataset, at: Any) -> int:
    key = _patient_key(hospital_id, ds)
    existing = await Patient.select(Patient.id).where(Patient.patient_key == key).first()
    if existing:
        return int(existing["id"])
    return await _insert_or_get(Patient, Patient.patient_key, key, patient_row(hospital_id, ds, at))


async def _upsert_study(
    hospital_id: int,
    patient_id: int,
    study_uid: str,
    ds: Dataset,
    at: Any,
    known: dict[str, Any],
) -> int:
    """The study's id; its modalities and body parts gain this file's. ``known``: the rows
    this batch has seen (key → id, modalities, body parts), so a batch reads each once."""
    key = f"{hospital_id}:{study_uid}"
    modality = _text(ds, "Modality", 16)
    body_part = _text(ds, "BodyPartExamined", 64)
    existing = known.get(key)
    if existing is None:
        existing = (
            await Study.select(Study.id, Study.modalities, Study.body_parts)
            .where(Study.study_key == key)
            .first()
        )
    if existing:
        modalities = _merge(existing["modalities"], modality, 100)
        body_parts = _merge(existing["body_parts"], body_part, 200)
        if (modalities, body_parts) != (existing["modalities"], existing["body_parts"]):
            await Study.update({Study.modalities: modalities, Study.body_parts: body_parts}).where(
                Study.id == existing["id"]
            )
        known[key] = {"id": existing["id"], "modalities": modalities, "body_parts": body_parts}
        return int(existing["id"])
    study_id = await _insert_or_get(
        Study, Study.study_key, key, study_row(hospital_id, patient_id, study_uid, ds, at)
    )
    return study_id  # read again by the batch's next file (another sender may have won)


async def _upsert_series(
    hospital_id: int, study_id: int, series_uid: str, ds: Dataset, at: Any
) -> int:
    key = f"{hospital_id}:{series_uid}"
    existing = await Series.select(Series.id).where(Series.series_key == key).first()
    if existing:
        return int(existing["id"])
    return await _insert_or_get(
        Series, Series.series_key, key, series_row(hospital_id, study_id, series_uid, ds, at)
    )


# --- the rows ingest writes (also used by bench.aimis_setup's bulk fill) ---------------------


def patient_row(hospital_id: int, ds: Dataset, at: Any) -> Patient:
    return Patient(
        hospital=hospital_id,
        patient_key=_patient_key(hospital_id, ds),
        patient_id=_text(ds, "PatientID", 64),
        issuer=_text(ds, "IssuerOfPatientID", 64),
        name=_text(ds, "PatientName", 200),
        birth_date=_text(ds, "PatientBirthDate", 8),
        sex=_text(ds, "PatientSex", 4),
        created_at=at,
    )


def study_row(hospital_id: int, patient_id: int, study_uid: str, ds: Dataset, at: Any) -> Study:
    """A new study row: the patient's attributes are copied onto it (QIDO answers from it)."""
    name = _text(ds, "PatientName", 200)
    return Study(
        hospital=hospital_id,
        patient=patient_id,
        study_key=f"{hospital_id}:{study_uid}",
        study_uid=study_uid,
        study_date=_text(ds, "StudyDate", 8),
        study_time=_text(ds, "StudyTime", 16),
        accession_number=_text(ds, "AccessionNumber", 64),
        study_id=_text(ds, "StudyID", 16),
        description=_text(ds, "StudyDescription", 200),
        referring_physician=_text(ds, "ReferringPhysicianName", 200),
        institution=_text(ds, "InstitutionName", 200),
        modalities=_text(ds, "Modality", 16),
        body_parts=_text(ds, "BodyPartExamined", 64),
        patient_id=_text(ds, "PatientID", 64),
        patient_name=name,
        patient_name_search=name.upper(),
        patient_birth_date=_text(ds, "PatientBirthDate", 8),
        patient_sex=_text(ds, "PatientSex", 4),
        created_at=at,
        updated_at=at,
    )


def series_row(hospital_id: int, study_id: int, series_uid: str, ds: Dataset, at: Any) -> Series:
    return Series(
        hospital=hospital_id,
        study=study_id,
        series_key=f"{hospital_id}:{series_uid}",
        series_uid=series_uid,
        modality=_text(ds, "Modality", 16),
        series_number=_int(ds, "SeriesNumber"),
        description=_text(ds, "SeriesDescription", 200),
        body_part=_text(ds, "BodyPartExamined", 64),
        performed_start_date=(
            _text(ds, "PerformedProcedureStepStartDate", 8) or _text(ds, "SeriesDate", 8)
        ),
        created_at=at,
    )


def instance_row(
    hospital_id: int,
    study_id: int,
    series_id: int,
    parsed: ParsedInstance,
    stored: _Prepared,
    *,
    revision: int,
    run_id: int,
    at: Any,
) -> Instance:
    sop, pixels = parsed.sop_instance_uid, parsed.pixels
    return Instance(
        hospital=hospital_id,
        study=study_id,
        series=series_id,
        sop_uid=sop,
        instance_key=f"{hospital_id}:{sop}:{revision}",
        sop_class_uid=parsed.sop_class_uid[:64],
        instance_number=_int(parsed.dataset, "InstanceNumber"),
        transfer_syntax=str(parsed.transfer_syntax_uid)[:64],
        rows=pixels.rows if pixels else None,
        columns=pixels.columns if pixels else None,
        frames=pixels.frames if pixels else 0,
        bits_allocated=pixels.bits_allocated if pixels else None,
        photometric=(pixels.photometric_interpretation if pixels else "")[:20],
        size_bytes=stored.size,
        sha256=stored.sha,
        storage_path=stored.storage_path,
        revision=revision,
        superseded=False,
        migration=run_id,
        created_at=at,
    )


# --- the run as a case ---------------------------------------------------------------------

OUTBOX_KIND = "migration"


async def run_facts(run_id: int) -> MigrationFacts:
    row = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    if row is None:
        raise LookupError(f"migration run {run_id} does not exist")
    pending = await MigrationItem.count().where(
        MigrationItem.migration == run_id, MigrationItem.status == "received"
    )
    return MigrationFacts(
        received=int(row["received_count"]),
        pending=int(pending),
        stored=int(row["stored_count"]),
        duplicates=int(row["duplicate_count"]),
        new_versions=int(row["new_version_count"]),
        failed=int(row["failed_count"]),
    )


async def progress_payload(run_id: int) -> dict[str, Any]:
    row = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    if row is None:
        raise LookupError(f"migration run {run_id} does not exist")
    facts = await run_facts(run_id)
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
    """A ``migration.progress`` event (counts for the progress bar) on the run's topics."""
    payload = await progress_payload(run_id)
    hospital_id = await _run_hospital(run_id)
    async with unit_of_work(ctx or Ctx()) as uow:
        for topic in (f"case:migration:{run_id}", *topics_of(hospital_id)):
            await uow.event(topic, "migration.progress", payload)


async def hand_over(ctx: Ctx, run_id: int, attempt: int = 0) -> None:
    """Queue the run's flow (``migration-<id>``): an outbox row, dispatched at least once."""
    key = f"migration-{run_id}" + (f"-retry-{attempt}" if attempt else "")
    async with unit_of_work(ctx) as uow:
        await uow.outbox(OUTBOX_KIND, {"migration_id": run_id}, key)
    await publish_progress(run_id, ctx)


async def step(
    run_id: int,
    trigger: str,
    *,
    ctx: Ctx | None = None,
    reason: str = "",
    summary: dict[str, Any] | None = None,
    effects: Effects | None = None,
    version: int | None = None,
) -> Applied:
    """Apply one trigger of the migration machine to the run (a history row, an event)."""
    hospital_id = await _run_hospital(run_id)
    facts = await run_facts(run_id)
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
        effects=effects,
        version=version,
    )


def _counts(facts: MigrationFacts) -> dict[str, int]:
    return {
        "received": facts.received,
        "stored": facts.stored,
        "duplicates": facts.duplicates,
        "new_versions": facts.new_versions,
        "failed": facts.failed,
    }


def finishing(run_id: int, error: str = "") -> Effects:
    """Effects of the last step (notify or fail): the run's end, in the step's transaction."""

    async def effects(uow: UnitOfWork, decision: Decision[Any]) -> None:
        values: dict[Any, Any] = {MigrationRun.finished_at: now()}
        if error:
            values[MigrationRun.error] = error[:2000]
        await MigrationRun.update(values).where(MigrationRun.id == run_id)

    return effects


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
        await _count(run_id, received_bytes=size)
    return item_id
