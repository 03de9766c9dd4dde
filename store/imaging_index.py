"""The imaging index: the writes that file verified, stored files under their patient, study,
series and instance rows, one transaction per batch (``Batch``), and the migration items that
say what became of each file. The run's steps around it (verify, store the bytes, hand over to
the flow) are ``api.ingest.steps``; the rows themselves are ``store.index_rows``.

Deduplication is by SOP Instance UID within the hospital: the same dataset again is a no-op
(``duplicate``); another dataset under the same UID becomes a new revision (``new_version``)
and the previous row is marked ``superseded`` (kept, reported in the run). "The same" is the
same bytes, or else the same dataset without its file meta header (group 0002, which the
receiver writes anew on every receipt): ``imaging.read.dataset_digest`` of both files, taken
only when a file arrives under a SOP Instance UID already stored with other bytes (the index
keeps no digest column), before the batch's transaction (``compare_ahead``). A duplicate's
newly written file is removed again.

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
from pathlib import Path
from typing import Any

import msgspec
from pydicom.dataset import Dataset

from imaging.read import ParsedInstance, dataset_digest
from store import files
from store.index_rows import instance_row, patient_key, upsert_patient, upsert_series, upsert_study
from store.tables import Hospital, Instance, MigrationItem, MigrationRun, Series, Study
from store.uow import Ctx, now, write_audit

log = logging.getLogger(__name__)


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


async def add_counts(run_id: int, received_bytes: int = 0, **counts: int) -> None:
    values: dict[Any, Any] = {}
    for name, n in counts.items():
        if n:
            column: Any = MigrationRun._meta.get_column_by_name(f"{name}_count")
            values[column] = column + n
    if received_bytes:
        values[MigrationRun.received_bytes] = MigrationRun.received_bytes + received_bytes
    if values:
        await MigrationRun.update(values).where(MigrationRun.id == run_id)


async def resolve_item(
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
        await add_counts(run_id, received_bytes=received_bytes, **counts)
    else:
        tally.update(counts)
    return item_id


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
@dataclasses.dataclass
class Prepared:
    """A received file after the checks that need no database, and its file once stored."""

    received: Received
    size: int
    parsed: ParsedInstance | None = None
    code: str = ""
    reason: str = ""
    sha: str = ""
    storage_path: str = ""
    created: bool = False
    unused: bool = False  # a duplicate: its file, if written now, is removed again
    # (instance id, same dataset?): compared before the transaction (``compare_ahead``)
    compared: tuple[int, bool] | None = None

    def refuse(self, code: str, reason: str) -> None:
        self.code, self.reason = code, reason


def tier_refusal(study_uid: str, tier: str) -> str:
    if tier in ("", "online"):
        return ""
    return (
        f"The study {study_uid} is in the archive tier ({tier}); new images cannot join it "
        "there. Send them again after the study is back online."
    )


def quota_text(quota: int, in_use: int, size: int) -> str:
    if quota <= 0 or in_use + size <= quota:
        return ""
    return f"The hospital's storage quota ({quota:,} bytes) would be exceeded; {in_use:,} are used."


async def hospital_quota(hospital_id: int) -> tuple[int, int]:
    row = (
        await Hospital.select(Hospital.storage_quota_bytes, Hospital.storage_used_bytes)
        .where(Hospital.id == hospital_id)
        .first()
    )
    if row is None:
        return 0, 0
    return int(row["storage_quota_bytes"]), int(row["storage_used_bytes"])


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
    p: Prepared,
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


class Batch:
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

    async def ingest(self, p: Prepared) -> ItemResult:
        parsed = p.parsed
        if p.code:
            return await self.refuse(p)
        assert parsed is not None
        study_uid = parsed.study_instance_uid
        refusal = tier_refusal(study_uid, await self.tier(study_uid))
        if refusal:
            p.refuse("archived", refusal)
            return await self.refuse(p)
        if self.quota is None:
            self.quota = await hospital_quota(self.hospital_id)
        quota, in_use = self.quota
        if text := quota_text(quota, in_use + self.used, p.size):
            p.refuse("quota", text)
            return await self.refuse(p)
        return await self.index(p, parsed)

    async def refuse(self, p: Prepared) -> ItemResult:
        r, parsed = p.received, p.parsed
        sop = parsed.sop_instance_uid if parsed else ""
        study = parsed.study_instance_uid if parsed else ""
        item = await resolve_item(
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
                    Instance.id,
                    Instance.sha256,
                    Instance.revision,
                    Instance.size_bytes,
                    Instance.storage_path,
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
            series_id = await upsert_series(self.hospital_id, study_id, series_uid, ds, self.at)
            # the UPDATE takes the series row lock (PostgreSQL) before instances are looked up
            await Series.update({Series.num_instances: Series.num_instances}).where(
                Series.id == series_id
            )
            empty = not await Instance.exists().where(Instance.series == series_id)
            self.series[series_uid] = series_id
            self.growth[series_id] = _SeriesGrowth(study_id, empty)
        return self.series[series_uid]

    async def index(self, p: Prepared, parsed: ParsedInstance) -> ItemResult:
        r, ds = p.received, parsed.dataset
        sop, study_uid, series_uid = (
            parsed.sop_instance_uid,
            parsed.study_instance_uid,
            parsed.series_instance_uid,
        )
        pid_key = patient_key(self.hospital_id, ds)
        if pid_key not in self.patients:
            self.patients[pid_key] = await upsert_patient(self.hospital_id, ds, self.at)
        patient_id = self.patients[pid_key]
        study_id = await upsert_study(
            self.hospital_id, patient_id, study_uid, ds, self.at, self.studies
        )
        series_id = await self.series_of(study_id, series_uid, ds)
        current = await self.instance_of(sop)
        if current is not None and await same_dataset(current, p):
            p.unused = True
            header = "" if current["sha256"] == p.sha else " (only the file meta header differs)"
            stored_as = f"revision {current['revision']}"
            reason = f"The same instance is already stored as {stored_as}{header}."
            item = await self.resolve(r, p.size, "duplicate", sop, study_uid, reason)
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
            "storage_path": p.storage_path,
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
            else f"Another dataset under a stored SOP Instance UID: kept as revision {revision}."
        )
        item = await self.resolve(r, p.size, status, sop, study_uid, reason)
        if study_uid not in self.study_uids:
            self.study_uids.append(study_uid)
        return _outcome(status, item, p, study_id, instance_id, reason=reason)

    async def resolve(
        self, r: Received, size: int, status: str, sop: str, study_uid: str, reason: str = ""
    ) -> int:
        return await resolve_item(
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
        await add_counts(self.run_id, received_bytes=received_bytes, **self.tally)
        await _remember_studies(self.run_id, self.study_uids)


async def compare_ahead(hospital_id: int, prepared: list[Prepared]) -> None:
    """Before the batch's transaction: the files that arrive with other bytes under a SOP
    Instance UID already stored are compared with the stored file now, so the transaction
    does not read files (it compares again only if the current revision changed meanwhile)."""
    wanted = {p.parsed.sop_instance_uid: p for p in prepared if not p.code and p.parsed}
    if not wanted:
        return
    rows = await Instance.select(
        Instance.id, Instance.sop_uid, Instance.sha256, Instance.storage_path
    ).where(
        Instance.hospital == hospital_id,
        Instance.sop_uid.is_in(list(wanted)),
        Instance.superseded.eq(False),
    )
    for row in rows:
        p = wanted[row["sop_uid"]]
        if row["sha256"] != p.sha:
            p.compared = (int(row["id"]), await _same_digest(row, p))


async def same_dataset(current: dict[str, Any], p: Prepared) -> bool:
    """The received file holds the dataset of the stored instance ``current``: the same
    bytes, or the same dataset under another file meta header (``compare_ahead``'s answer
    for this revision, else read from both files now)."""
    if current["sha256"] == p.sha:
        return True
    if p.compared is not None and p.compared[0] == current["id"]:
        return p.compared[1]
    return await _same_digest(current, p)


async def _same_digest(current: dict[str, Any], p: Prepared) -> bool:
    """A stored file that cannot be read counts as different, so the arrival is kept."""
    stored = files.online_path(str(current["storage_path"]))
    try:
        theirs, ours = await asyncio.gather(
            asyncio.to_thread(dataset_digest, stored),
            asyncio.to_thread(dataset_digest, p.received.data),
        )
    except Exception as exc:  # the stored copy is gone or damaged: keep the new one
        log.warning("cannot compare with stored instance %s: %s", current["id"], exc)
        return False
    return theirs == ours


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
