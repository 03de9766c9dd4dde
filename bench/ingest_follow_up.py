"""What queueing a migration run's follow-up with the run costs (issue 18, point 6).

Run: ``uv run --frozen python -m bench.ingest_follow_up`` (``--files N``, ``--reps N``). A
fresh SQLite database in a temporary data folder, migrated as the app migrates it, with the
demo's hospitals (no studies). Timed in process, each ``--reps`` times, with the follow-up
(``create_run(follow_up=True)``: the held outbox row renewed in every item's and batch's
transaction, released by ``hand_over``) and without it (the old way: the row written by
``hand_over`` afterwards):

- spooling ``--files`` files of 4 KiB (``spool_file``: the upload's path), then ``hand_over``;
- ingesting ``--files`` small synthetic DICOM files (``ingest_files``: STOW-RS's path);
- ``queued_runs`` for a page of 50 runs with 1,000 follow-ups pending (the run list's cost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


async def run_one(n_files: int, reps: int, folder: Path) -> dict[str, Any]:
    from aimis.demo import load_demo
    from api.ingest.steps import (
        Received,
        create_run,
        hand_over,
        ingest_files,
        queued_runs,
        spool_file,
    )
    from imaging.synth import Sizes, synth
    from store.db import close_pool, start_pool
    from store.migrate import migrate
    from store.tables import Hospital
    from store.uow import Ctx, unit_of_work

    await migrate()
    await start_pool()
    out: dict[str, Any] = {"spool": {}, "ingest": {}}
    try:
        await load_demo()
        hospital = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
        assert hospital is not None
        blob = os.urandom(4096)
        for rep in range(reps):
            for follow_up in (False, True):
                key = "held" if follow_up else "after"
                started = time.perf_counter()
                run_id = await create_run(
                    Ctx(), hospital["id"], "upload", "bench", spool=True, follow_up=follow_up
                )
                for i in range(n_files):
                    await spool_file(run_id, blob, f"f{i}.dcm")
                await hand_over(Ctx(), run_id)
                out["spool"].setdefault(key, []).append(time.perf_counter() - started)

                made = synth(
                    folder / f"s{rep}{key}",
                    patients=1,
                    sizes=Sizes(64, n_files, 48, 1, (64, 64), (64, 64), (64, 64), (64, 64), 1),
                )
                received = [Received(p, p.name) for p in made]
                started = time.perf_counter()
                run_id = await create_run(Ctx(), hospital["id"], "stow", "b", follow_up=follow_up)
                await ingest_files(run_id, received)
                await hand_over(Ctx(), run_id)
                out["ingest"].setdefault(key, []).append(
                    (time.perf_counter() - started, len(received))
                )
        async with unit_of_work(Ctx()) as uow:
            for i in range(1000):
                await uow.outbox(
                    "migration", {"migration_id": 10_000 + i}, f"migration-{10_000 + i}"
                )
        runs = list(range(10_000, 10_050))
        started = time.perf_counter()
        for _ in range(20):
            await queued_runs(runs)
        out["queued_ms"] = (time.perf_counter() - started) / 20 * 1000
    finally:
        await close_pool()
    return out


def report(result: dict[str, Any], n_files: int) -> str:
    lines = []
    for key, label in (("after", "row written afterwards (before)"), ("held", "held row (now)")):
        spool = statistics.median(result["spool"][key])
        ingest = statistics.median(t for t, _ in result["ingest"][key])
        files = result["ingest"][key][0][1]
        lines.append(
            f"{label}: spool {n_files} files + hand_over {spool:.2f} s "
            f"({spool / n_files * 1000:.1f} ms a file); ingest_files of {files} files "
            f"{ingest:.2f} s ({ingest / files * 1000:.1f} ms a file)"
        )
    lines.append(f"queued_runs, a page of 50 runs, 1,000 pending: {result['queued_ms']:.1f} ms")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.out:
        folder = Path(args.out).parent / "synth"
        result = asyncio.run(run_one(args.files, args.reps, folder))
        Path(args.out).write_text(json.dumps(result))
        return
    from bench.measure import load_now, machine

    print(machine())
    data = Path(tempfile.mkdtemp(prefix="aimis-bench-follow-up-"))
    env = {
        **os.environ,
        "AIMIS_DATA_DIR": str(data),
        "AIMIS_DEMO_STUDY_PATIENTS": "0",
        "AIMIS_DEMO_HISTORY_DAYS": "0",
    }
    env.pop("AIMIS_DATABASE_URL", None)
    out = data / "result.json"
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.ingest_follow_up", "--files", str(args.files),
             "--reps", str(args.reps), "--out", str(out)],
            env=env,
            check=True,
        )  # fmt: skip
        result = json.loads(out.read_text())
    finally:
        shutil.rmtree(data, ignore_errors=True)
    print(f"\nload after: {load_now()}\n")
    print(report(result, args.files))


if __name__ == "__main__":
    main()
