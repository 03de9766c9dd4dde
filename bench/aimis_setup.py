"""In-process set-up steps for a benchmark's AIMIS, run as a child process in the app's
environment (``Aimis.cli("-m", "bench.aimis_setup", ...)``) so the benchmark process never
imports the app's settings or database:

- ``populate PACK``: file every DICOM file of a pack through ``api.ingest.steps.
  ingest_files`` — the function STOW-RS, C-STORE and imports all call — in migration
  runs of ``--per-run`` files (source ``import``), ``--batch`` files a transaction as a
  STOW-RS request is; an interrupted fill resumes after what is indexed.
- ``bulk PACK``: the same rows (``store.index_rows``'s row builders, after the same
  checks of each file) written in bulk, thousands a transaction, the files written without
  fsync — for the 100,000-study QIDO set, which ingest fills at ~20-60 files/s on this
  shared machine. Only for packs of new single-instance studies (the QIDO set).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import io
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

HOSPITAL = "CITY"


async def _hospital_id(code: str) -> int:
    from store.tables import Hospital

    row = await Hospital.select(Hospital.id).where(Hospital.code == code).first()
    if row is None:
        raise SystemExit(f"no hospital {code}: load the demo first")
    return int(row["id"])


async def populate(pack: Path, per_run: int, concurrency: int, batch: int) -> None:
    from api.ingest.steps import Received, create_run, ingest_files
    from bench.datasets import read_pack
    from store.tables import Instance
    from store.uow import Ctx

    hospital = await _hospital_id(HOSPITAL)
    ctx = Ctx(ip="127.0.0.1", user_agent="aimis bench populate")
    # resumable: an interrupted fill files only what is not indexed yet (by SOP UID)
    known = {r["sop_uid"] for r in await Instance.select(Instance.sop_uid)}
    start, done, skipped, refused = time.perf_counter(), 0, 0, 0
    run_id = 0
    pending: set[asyncio.Task[int]] = set()
    chunk: list[Received] = []

    async def send(run: int, files: list[Received]) -> int:
        results = await ingest_files(run, files, ctx=ctx)
        return sum(0 if r.ok else 1 for r in results)

    async def flush() -> None:
        nonlocal pending, refused
        if len(pending) >= concurrency:
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            refused += sum(task.result() for task in finished)
        pending.add(asyncio.create_task(send(run_id, list(chunk))))
        chunk.clear()

    for n, data in enumerate(read_pack(pack)):
        if known and _sop_uid(data) in known:
            skipped += 1
            continue
        if run_id == 0 or n % per_run == 0:
            if chunk:
                await flush()
            refused += sum(await asyncio.gather(*pending))
            pending.clear()
            run_id = await create_run(ctx, hospital, "import", f"bench {pack.name}")
        chunk.append(Received(data, f"{n}.dcm"))
        if len(chunk) >= batch:
            await flush()
        done += 1
        if done % 5000 == 0:
            rate = done / (time.perf_counter() - start)
            print(f"  AIMIS: {done} filed, {rate:.0f}/s", flush=True)
    if chunk:
        await flush()
    refused += sum(await asyncio.gather(*pending))
    seconds = time.perf_counter() - start
    rate = done / seconds
    print(
        f"filed {done} files in {seconds:.0f} s ({rate:.0f}/s), {refused} refused, "
        f"{skipped} already there"
    )
    if refused:
        raise SystemExit(1)


async def bulk(pack: Path, chunk: int) -> None:
    from api.ingest import steps as ii
    from bench.datasets import read_pack
    from store import files
    from store import index_rows as ir
    from store.db import transaction
    from store.tables import Hospital, Instance, MigrationItem, MigrationRun, Patient, Series, Study
    from store.uow import Ctx, now

    hospital = await _hospital_id(HOSPITAL)
    ctx = Ctx(ip="127.0.0.1", user_agent="aimis bench bulk fill")
    known = {r["sop_uid"] for r in await Instance.select(Instance.sop_uid)}
    patients = {
        r["patient_key"]: r["id"] for r in await Patient.select(Patient.patient_key, Patient.id)
    }
    next_id = {}
    for table in (Patient, Study, Series, Instance):
        row = await table.select(table.id).order_by(table.id, ascending=False).first()
        next_id[table] = (row["id"] if row else 0) + 1
    run_id = await ii.create_run(ctx, hospital, "import", f"bench bulk {pack.name}")
    # the checks ingest makes, but the 8x8 pixels are not decoded (the set is generated here)
    policy, at = dataclasses.replace(ii.ingest_policy(), decode_check=False), now()
    rows: dict[Any, list[Any]] = {t: [] for t in (Patient, Study, Series, Instance, MigrationItem)}
    start, done, used = time.perf_counter(), 0, 0

    def new_id(table: Any, row: Any) -> int:
        row.id, next_id[table] = next_id[table], next_id[table] + 1
        rows[table].append(row)
        return int(row.id)

    async def flush() -> None:
        async with transaction():
            for table, pending in rows.items():
                for i in range(0, len(pending), 200):
                    await table.insert(*pending[i : i + 200])
                pending.clear()

    def checked(group: list[tuple[int, bytes]]) -> list[tuple[int, bytes, ii.Prepared]]:
        return [
            (n, data, ii._check(ii.Received(data, f"{n}.dcm"), policy, "")) for n, data in group
        ]

    async def files_of() -> AsyncIterator[tuple[int, bytes, ii.Prepared]]:
        group: list[tuple[int, bytes]] = []
        for n, data in enumerate(read_pack(pack)):
            group.append((n, data))
            if len(group) == 500:
                for item in await asyncio.to_thread(checked, group):
                    yield item
                group = []
        for item in await asyncio.to_thread(checked, group):
            yield item

    async for n, data, prepared in files_of():
        parsed = prepared.parsed
        if prepared.code or parsed is None:
            raise SystemExit(f"file {n} refused: {prepared.code}: {prepared.reason}")
        if parsed.sop_instance_uid in known:
            continue
        prepared.sha = files.sha256_of(data)
        prepared.storage_path = files.storage_path_for(hospital, prepared.sha)
        path = files.online_path(prepared.storage_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        ds, size = parsed.dataset, prepared.size
        key = ir.patient_key(hospital, ds)
        if key not in patients:
            patients[key] = new_id(Patient, ir.patient_row(hospital, ds, at))
        study = ir.study_row(hospital, patients[key], parsed.study_instance_uid, ds, at)
        study.num_instances, study.num_series, study.size_bytes = 1, 1, size
        study_id = new_id(Study, study)
        series = ir.series_row(hospital, study_id, parsed.series_instance_uid, ds, at)
        series.num_instances, series.size_bytes = 1, size
        series_id = new_id(Series, series)
        new_id(
            Instance,
            ir.instance_row(
                hospital, study_id, series_id, parsed, prepared, revision=1, run_id=run_id, at=at
            ),
        )
        rows[MigrationItem].append(
            MigrationItem(
                migration=run_id,
                file_name=f"{n}.dcm",
                size_bytes=size,
                status="stored",
                sop_uid=parsed.sop_instance_uid,
                study_uid=parsed.study_instance_uid,
            )
        )
        done, used = done + 1, used + size
        if len(rows[Instance]) >= chunk:
            await flush()
        if done % 10000 == 0:
            rate = done / (time.perf_counter() - start)
            print(f"  AIMIS (bulk): {done} filed, {rate:.0f}/s", flush=True)
    await flush()
    async with transaction():
        await MigrationRun.update(
            {
                MigrationRun.received_count: MigrationRun.received_count + done,
                MigrationRun.stored_count: MigrationRun.stored_count + done,
                MigrationRun.received_bytes: MigrationRun.received_bytes + used,
            }
        ).where(MigrationRun.id == run_id)
        await Hospital.update(
            {Hospital.storage_used_bytes: Hospital.storage_used_bytes + used}
        ).where(Hospital.id == hospital)
    seconds = time.perf_counter() - start
    print(f"filed {done} files in bulk in {seconds:.0f} s ({done / seconds:.0f}/s)")


def _sop_uid(data: bytes) -> str:
    from pydicom import dcmread

    return str(dcmread(io.BytesIO(data), specific_tags=["SOPInstanceUID"]).SOPInstanceUID)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="bench.aimis_setup")
    sub = parser.add_subparsers(dest="command", required=True)
    pop = sub.add_parser("populate")
    pop.add_argument("pack", type=Path)
    pop.add_argument("--per-run", type=int, default=1000)
    pop.add_argument("--concurrency", type=int, default=2, help="batches at once")
    pop.add_argument("--batch", type=int, default=32, help="files per transaction")
    fill = sub.add_parser("bulk")
    fill.add_argument("pack", type=Path)
    fill.add_argument("--chunk", type=int, default=5000, help="instances a transaction")
    args = parser.parse_args(argv)
    from store.db import close_pool, start_pool

    async def run() -> None:
        await start_pool()
        try:
            if args.command == "bulk":
                await bulk(args.pack, args.chunk)
            else:
                await populate(args.pack, args.per_run, args.concurrency, args.batch)
        finally:
            await close_pool()

    asyncio.run(run())


if __name__ == "__main__":
    main(sys.argv[1:])
