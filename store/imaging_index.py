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

The writes are plain parameterised statements (``store.sql``: one module per table), not
Piccolo queries built per call: per file only its instance row and its item; per batch each
patient, study and series once, the stored rows of its SOP UIDs once per series, and one
``UPDATE`` per counted row at the end.

Concurrency: patient/study/series rows are created with ``INSERT … ON CONFLICT DO NOTHING``
on their ``*_key`` column (read again when another sender won); on PostgreSQL the study and
series rows are read ``FOR NO KEY UPDATE`` (the lock an ``UPDATE`` takes, which the foreign
key checks of concurrent inserts do not wait for) before the instances are looked up, which
serialises writers of one series (and the merge of one study's modalities) as SQLite's
``IMMEDIATE`` transactions already do.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
from piccolo.table import Table
from pydicom.dataset import Dataset

from imaging.read import ParsedInstance, dataset_digest
from store import files
from store.index_rows import (
    instance_row,
    merge_values,
    patient_key,
    patient_row,
    priority_of,
    series_row,
    study_row,
    text_of,
)
from store.sql import hospital as sql_hospital
from store.sql import instance as sql_instance
from store.sql import migration_item as sql_item
from store.sql import migration_run as sql_run
from store.sql import patient as sql_patient
from store.sql import series as sql_series
from store.sql import study as sql_study
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
    """Add to the run's counters (``received``, ``stored``, ``duplicate``, ``new_version``,
    ``failed``) in one statement, in the caller's transaction."""
    if not received_bytes and not any(counts.values()):
        return
    await sql_run.COUNT.run(id=run_id, **_counters(received_bytes, counts))


def _counters(received_bytes: int, counts: dict[str, int]) -> dict[str, int]:
    values = {name: counts.get(name, 0) for name in RUN_COUNTERS}
    values["received_bytes"] = received_bytes
    return values


RUN_COUNTERS = ("received", "stored", "duplicate", "new_version", "failed")


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
        row = await sql_item.INSERT.one(
            migration=run_id, file_name=file_name[:255], size_bytes=size, **values
        )
        assert row is not None
        counts = {"received": 1, "received_bytes": size, counter: 1}
        item_id = int(row["id"])
    else:
        await sql_item.RESOLVE.run(id=item_id, **values)
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
    row = await sql_hospital.QUOTA.one(id=hospital_id)
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


def _values(row: Table, columns: tuple[str, ...]) -> dict[str, Any]:
    """A row built by ``store.index_rows`` as the values of an ``INSERT`` statement."""
    return {c: getattr(row, c) for c in columns}


@dataclasses.dataclass
class _StudyRow:
    id: int
    modalities: str
    body_parts: str
    priority: int
    tier: str
    read: tuple[str, str, int]  # as read (or inserted): written back only when changed


class Batch:
    """The index writes of one transaction, as plain statements (``store.sql``): each
    patient, study and series read once per batch (created when new), the stored rows of
    the batch's SOP Instance UIDs read once per series, then per file only its instance
    row (``INSERT … RETURNING``) and its item; the counters (series, study, hospital, run)
    and the study's merged modalities are added up and written once at the end."""

    def __init__(self, run_id: int, hospital_id: int, ctx: Ctx) -> None:
        self.run_id, self.hospital_id, self.ctx = run_id, hospital_id, ctx
        self.at = now()
        self.patients: dict[str, int] = {}
        self.studies: dict[str, _StudyRow | None] = {}
        self.series: dict[str, int] = {}
        self.growth: dict[int, _SeriesGrowth] = {}
        self.current: dict[str, dict[str, Any] | None] = {}
        self.held: set[str] = set()  # storage paths a row holds
        self.looked_up: set[str] = set()  # SOP UIDs whose rows were read
        self.undecodable_gone: Counter[int] = Counter()  # study → flagged rows superseded
        self.quota: tuple[int, int] | None = None
        self.used = 0
        self.tally: Counter[str] = Counter()
        self.study_uids: list[str] = []
        self.pending: list[Prepared] = []

    async def ingest_all(self, prepared: list[Prepared]) -> list[ItemResult]:
        self.pending = [p for p in prepared if not p.code and p.parsed]
        return [await self.ingest(p) for p in prepared]

    async def ingest(self, p: Prepared) -> ItemResult:
        parsed = p.parsed
        if p.code:
            return await self.refuse(p)
        assert parsed is not None
        study_uid = parsed.study_instance_uid
        study = await self.study(study_uid)
        refusal = tier_refusal(study_uid, study.tier if study else "")
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

    async def study(self, study_uid: str) -> _StudyRow | None:
        """The hospital's study with this UID as this batch sees it (None: not yet stored);
        read once (on PostgreSQL locked)."""
        if study_uid not in self.studies:
            row = await sql_study.FOR_INGEST.one(study_key=f"{self.hospital_id}:{study_uid}")
            self.studies[study_uid] = (
                None
                if row is None
                else _StudyRow(
                    int(row["id"]),
                    row["modalities"],
                    row["body_parts"],
                    int(row["priority"]),
                    str(row["tier"]),
                    (row["modalities"], row["body_parts"], int(row["priority"])),
                )
            )
        return self.studies[study_uid]

    async def patient_of(self, ds: Dataset) -> int:
        key = patient_key(self.hospital_id, ds)
        if key not in self.patients:
            row = await sql_patient.BY_KEY.one(patient_key=key)
            if row is None:
                new = patient_row(self.hospital_id, ds, self.at)
                row = await sql_patient.INSERT.one(**_values(new, sql_patient.INSERT.names))
                row = row or await sql_patient.BY_KEY.one(patient_key=key)  # another won
            assert row is not None
            self.patients[key] = int(row["id"])
        return self.patients[key]

    async def study_of(self, parsed: ParsedInstance) -> _StudyRow:
        """The file's study: created when new, its modalities, body parts and priority
        merged with the file's (written back by ``finish``)."""
        ds, study_uid = parsed.dataset, parsed.study_instance_uid
        study = await self.study(study_uid)
        if study is None:
            patient_id = await self.patient_of(ds)
            new = study_row(self.hospital_id, patient_id, study_uid, ds, self.at)
            row = await sql_study.INSERT.one(**_values(new, sql_study.INSERT_COLUMNS))
            if row is None:  # another sender created it meanwhile: read it (and lock it)
                del self.studies[study_uid]
                study = await self.study(study_uid)
                assert study is not None
                return self.merge(study, ds)
            read = (str(new.modalities), str(new.body_parts), int(new.priority))
            study = _StudyRow(int(row["id"]), *read, "online", read)
            self.studies[study_uid] = study
            return study
        return self.merge(study, ds)

    @staticmethod
    def merge(study: _StudyRow, ds: Dataset) -> _StudyRow:
        study.modalities = merge_values(study.modalities, text_of(ds, "Modality", 16), 100)
        study.body_parts = merge_values(study.body_parts, text_of(ds, "BodyPartExamined", 64), 200)
        study.priority = max(study.priority, priority_of(ds))  # the highest a file states
        return study

    async def series_of(self, study_id: int, series_uid: str, ds: Dataset) -> int:
        """The series' id, read (and on PostgreSQL locked) or created once per batch; then
        the stored rows of the batch's SOP UIDs are read, after the lock."""
        if series_uid not in self.series:
            key = f"{self.hospital_id}:{series_uid}"
            row = await sql_series.FOR_INGEST.one(series_key=key)
            empty = row is None or not row["filled"]
            if row is None:
                new = series_row(self.hospital_id, study_id, series_uid, ds, self.at)
                row = await sql_series.INSERT.one(**_values(new, sql_series.INSERT_COLUMNS))
                if row is None:  # another sender created it meanwhile
                    row = await sql_series.FOR_INGEST.one(series_key=key)
                    assert row is not None
                    empty = not row["filled"]
            series_id = int(row["id"])
            self.series[series_uid] = series_id
            self.growth[series_id] = _SeriesGrowth(study_id, empty)
            await self.look_up(series_uid)
        return self.series[series_uid]

    async def look_up(self, series_uid: str) -> None:
        """The stored rows (every revision) of the batch's SOP UIDs of this series, in one
        query: the current revision of each, and which files a row already holds."""
        sops = [
            p.parsed.sop_instance_uid
            for p in self.pending
            if p.parsed
            and p.parsed.series_instance_uid == series_uid
            and p.parsed.sop_instance_uid not in self.looked_up
        ]
        if not sops:
            return
        self.looked_up.update(sops)
        rows = await sql_instance.OF_SOPS.fetch(
            hospital=self.hospital_id, sops=msgspec.json.encode(sorted(set(sops))).decode()
        )
        for sop in sops:
            self.current.setdefault(sop, None)
        for row in rows:
            self.held.add(row["storage_path"])
            if not row["superseded"]:
                self.current[row["sop_uid"]] = row

    async def instance_of(self, sop: str) -> dict[str, Any] | None:
        if sop not in self.current:  # a SOP UID of another series than the batch expected
            rows = await sql_instance.OF_SOPS.fetch(
                hospital=self.hospital_id, sops=msgspec.json.encode([sop]).decode()
            )
            self.looked_up.add(sop)
            self.current[sop] = None
            for row in rows:
                self.held.add(row["storage_path"])
                if not row["superseded"]:
                    self.current[sop] = row
        return self.current[sop]

    async def index(self, p: Prepared, parsed: ParsedInstance) -> ItemResult:
        r, ds = p.received, parsed.dataset
        sop, study_uid, series_uid = (
            parsed.sop_instance_uid,
            parsed.study_instance_uid,
            parsed.series_instance_uid,
        )
        study = await self.study_of(parsed)
        study_id = study.id
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
            await sql_instance.SUPERSEDE.run(id=current["id"])
            if current.get("decode_state") == "undecodable":
                self.undecodable_gone[study_id] += 1
        file_is_new = p.storage_path not in self.held
        new = instance_row(
            self.hospital_id,
            study_id,
            series_id,
            parsed,
            p,
            revision=revision,
            run_id=self.run_id,
            at=self.at,
        )
        row = await sql_instance.INSERT.one(**_values(new, sql_instance.INSERT_COLUMNS))
        assert row is not None
        instance_id = int(row["id"])
        self.current[sop] = {
            "id": instance_id,
            "sha256": p.sha,
            "revision": revision,
            "size_bytes": p.size,
            "storage_path": p.storage_path,
            "decode_state": new.decode_state,
        }
        self.held.add(p.storage_path)
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
        """The counters and the studies' merged values, one statement per row."""
        by_study: dict[int, tuple[int, int, int]] = {}
        for series_id, g in self.growth.items():
            if g.count or g.size:
                await sql_series.GROW.run(id=series_id, count=g.count, size=g.size)
            count, new_series, size = by_study.get(g.study_id, (0, 0, 0))
            gained = 1 if g.was_empty and g.new_instances else 0
            by_study[g.study_id] = (count + g.count, new_series + gained, size + g.size)
        for study in self.studies.values():
            if study is None:
                continue
            count, new_series, size = by_study.get(study.id, (0, 0, 0))
            gone = self.undecodable_gone[study.id]
            merged = (study.modalities, study.body_parts, study.priority)
            touched = bool(count or new_series or size)
            if touched or gone or merged != study.read:
                await sql_study.GROW.run(
                    id=study.id,
                    modalities=study.modalities,
                    body_parts=study.body_parts,
                    priority=study.priority,
                    count=count,
                    new_series=new_series,
                    size=size,
                    undecodable=-gone,
                    touched=1 if touched else 0,
                    at=self.at,
                )
        if self.used:
            await sql_hospital.ADD_USED.run(id=self.hospital_id, bytes=self.used)
        received_bytes = self.tally.pop("received_bytes", 0)
        counters = _counters(received_bytes, dict(self.tally))
        for uid in self.study_uids:  # the counters with the first, each study added once
            await sql_run.COUNT_AND_STUDY.run(id=self.run_id, study_uid=uid, **counters)
            counters = _counters(0, {})
        if not self.study_uids and (received_bytes or any(self.tally.values())):
            await sql_run.COUNT.run(id=self.run_id, **counters)


async def stored_rows(hospital_id: int, prepared: list[Prepared]) -> list[dict[str, Any]]:
    """The current rows of the checked files' SOP Instance UIDs (read before the files are
    written, beside the tier pre-check; ``compare_ahead`` uses them)."""
    wanted = sorted({p.parsed.sop_instance_uid for p in prepared if not p.code and p.parsed})
    if not wanted:
        return []
    found = await sql_instance.OF_SOPS.fetch(
        hospital=hospital_id, sops=msgspec.json.encode(wanted).decode()
    )
    return [row for row in found if not row["superseded"]]


async def compare_ahead(
    hospital_id: int, prepared: list[Prepared], rows: list[dict[str, Any]] | None = None
) -> None:
    """Before the batch's transaction: the files that arrive with other bytes under a SOP
    Instance UID already stored are compared with the stored file now, so the transaction
    does not read files (it compares again only if the current revision changed meanwhile).
    ``rows``: ``stored_rows`` as read before the files were written (else read now)."""
    wanted = {p.parsed.sop_instance_uid: p for p in prepared if not p.code and p.parsed}
    if not wanted:
        return
    if rows is None:
        rows = await stored_rows(hospital_id, prepared)
    for row in rows:
        p = wanted.get(row["sop_uid"])
        if p is not None and row["sha256"] != p.sha:
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
