"""In-process set-up steps for a benchmark's AIMIS, run as a child process in the app's
environment (``Aimis.cli("-m", "bench.aimis_setup", ...)``) so the benchmark process never
imports the app's settings or database:

- ``populate PACK``: file every DICOM file of a pack through ``store.imaging_index.
  ingest_files`` — the function STOW-RS, C-STORE and imports all call — in migration
  runs of ``--per-run`` files (source ``import``), ``--batch`` files a transaction as a
  STOW-RS request is; an interrupted fill resumes after what is indexed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from pathlib import Path

import store  # noqa: F401  (PICCOLO_CONF before any table)

HOSPITAL = "CITY"


async def _hospital_id(code: str) -> int:
    from store.tables import Hospital

    row = await Hospital.select(Hospital.id).where(Hospital.code == code).first()
    if row is None:
        raise SystemExit(f"no hospital {code}: load the demo first")
    return int(row["id"])


async def populate(pack: Path, per_run: int, concurrency: int, batch: int) -> None:
    from bench.datasets import read_pack
    from store.imaging_index import Received, create_run, ingest_files
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
    args = parser.parse_args(argv)
    from store.db import close_pool, start_pool

    async def run() -> None:
        await start_pool()
        try:
            await populate(args.pack, args.per_run, args.concurrency, args.batch)
        finally:
            await close_pool()

    asyncio.run(run())


if __name__ == "__main__":
    main(sys.argv[1:])
