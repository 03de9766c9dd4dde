"""QC sampling benchmark (issue 17, SPEC 7.1): a task sampling 5 % of 200,000 examinations.

Run: ``uv run --frozen python -m bench.qc_sampling`` (``--rows N``, ``--percent P``,
``--reps N``, ``--db sqlite|postgres``). A fresh database (SQLite in a temporary data folder,
or a scratch database on the local PostgreSQL, 127.0.0.1:5432 user postgres, created and
dropped here), migrated as the app
migrates it, with the demo; the examinations are generated inside the database by
``bench.exam_list.generate`` (the examination-list benchmark's generator) and then all given
to City, the leading hospital, so the task's population is every one of them. Timed, in
process, for each of ``--reps`` new tasks: ``service.sample`` (the manager's "draw the
sample": the population counted, the step and its outbox row) and ``sampling.draw_sample``
(what the ``qc-sample`` flow runs: the population read, the seeded draw, the cases looked up
and inserted, the step ``sampled``).
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


async def run_one(rows: int, percent: int, reps: int) -> dict[str, Any]:
    from aimis.demo import demo_actor, load_demo
    from api.quality import service
    from api.quality.sampling import draw_sample
    from api.quality.schemas import StepIn, TaskCreate
    from bench.exam_list import generate
    from store.db import close_pool, start_pool, transaction
    from store.migrate import migrate
    from store.tables import Department, Examination, Hospital, QcCase, User

    await migrate()
    await start_pool()
    try:
        await load_demo()
        print(f"generating {rows:,} examinations", flush=True)
        postgres = "AIMIS_DATABASE_URL" in os.environ
        seconds, _, _ = await generate(rows, postgres=postgres)
        city = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
        assert city is not None
        dept = await Department.select(Department.id).where(Department.hospital == city["id"])
        async with transaction():
            if postgres:
                # the bench's own shortcut: every row moved to City in one statement, its
                # row triggers off (the status chips' and statistics' rollups of this
                # scratch database go stale; sampling reads neither). A row trigger's
                # upsert of the same rollup rows 200,000 times in one statement takes
                # many minutes on PostgreSQL.
                await Examination.raw("SET LOCAL session_replication_role = replica")
            await Examination.update(
                {Examination.hospital: city["id"], Examination.department: dept[0]["id"]},
                force=True,
            )
        await Examination.raw("ANALYZE")
        population = await Examination.count().where(Examination.hospital == city["id"])
        manager = await demo_actor("dr.wang")
        evaluators = await User.select(User.id).where(User.username.is_in(["dr.li", "dr.zhang"]))
        timings = []
        for rep in range(reps):
            task = await service.create_task(
                manager,
                TaskCreate(
                    name=f"bench {rep}",
                    sample_percent=percent,
                    objects=["images"],
                    evaluators=[e["id"] for e in evaluators],
                ),
            )
            start = time.perf_counter()
            await service.sample(manager, task.id, StepIn(version=task.version))
            started = time.perf_counter()
            drawn = await draw_sample(task.id)
            done = time.perf_counter()
            assert drawn.sampled == await QcCase.count().where(QcCase.task == task.id)
            timings.append((started - start, done - started, drawn.sampled))
            print(f"  run {rep + 1}: {timings[-1]}", flush=True)
    finally:
        await close_pool()
    kind = "PostgreSQL" if "AIMIS_DATABASE_URL" in os.environ else "SQLite"
    return {
        "db": kind,
        "rows": rows,
        "population": population,
        "generate_s": seconds,
        "runs": timings,
    }


def report(result: dict[str, Any], percent: int) -> str:
    start = statistics.median(r[0] for r in result["runs"])
    draw = statistics.median(r[1] for r in result["runs"])
    return (
        f"{result['db']}, population {result['population']:,} (generated in "
        f"{result['generate_s']:.0f} s), {percent} % = {result['runs'][0][2]:,} cases; "
        f"median of {len(result['runs'])}: start the sampling {start:.2f} s, "
        f"draw_sample {draw:.2f} s (worst {max(r[1] for r in result['runs']):.2f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--percent", type=int, default=5)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.out:
        result = asyncio.run(run_one(args.rows, args.percent, args.reps))
        Path(args.out).write_text(json.dumps(result))
        return
    from bench.measure import load_now, machine

    print(machine())
    data = Path(tempfile.mkdtemp(prefix="aimis-bench-qc-"))
    env = {**os.environ, "AIMIS_DATA_DIR": str(data)}
    env.pop("AIMIS_DATABASE_URL", None)
    scratch = f"bench_qc_{os.getpid()}"
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
    if args.db == "postgres":
        subprocess.run([*psql, f"CREATE DATABASE {scratch}"], check=True)
        env["AIMIS_DATABASE_URL"] = f"postgresql://postgres@127.0.0.1:5432/{scratch}"
    out = data / "result.json"
    try:
        subprocess.run(
            [sys.executable, "-m", "bench.qc_sampling", "--rows", str(args.rows),
             "--percent", str(args.percent), "--reps", str(args.reps), "--out", str(out)],
            env=env,
            check=True,
        )  # fmt: skip
        result = json.loads(out.read_text())
    finally:
        shutil.rmtree(data, ignore_errors=True)
        if args.db == "postgres":
            subprocess.run([*psql, f"DROP DATABASE IF EXISTS {scratch}"], check=False)
    print(f"\nload after: {load_now()}\n")
    print(report(result, args.percent))


if __name__ == "__main__":
    main()
