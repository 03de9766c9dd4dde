"""Statistics benchmark (issue 17): at 1,000,000 examinations (the examination list's
generator, ``bench.exam_list.generate``: one ``INSERT … SELECT`` per 100,000 rows, so the
rollup triggers run as they would for any write), p50 / p99 of the overview, the stacked
chart of a year by day and by month, the trend (the same series a step coarser: by week),
turnaround and workload, the first drill-down page; then one CSV download of the first
100,000 rows of all time (time, and the peak of Python memory traced while it streams).

Run in a fresh data folder, on the database its environment names (SQLite by default;
``AIMIS_DATABASE_URL=postgresql://…/scratch`` for PostgreSQL):
``AIMIS_DATA_DIR=$(mktemp -d) uv run python -m bench.statistics [--rows N] [--reps N]``.
Timed is what the routes run below HTTP: the services, in process, without the audit row.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import tracemalloc
from datetime import timedelta
from typing import Any

from bench.measure import percentile, table

DOWNLOAD_ROWS = 100_000


async def timed(reps: int, call: Any) -> tuple[float, float]:
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return percentile(samples, 50), percentile(samples, 99)


async def run(rows: int, reps: int) -> str:
    from aimis.demo import load_demo
    from api.statistics import details, service
    from api.statistics.figures import StatQuery
    from bench.exam_list import actors, generate
    from store.db import close_pool, engine, start_pool
    from store.migrate import migrate
    from store.tables import Examination
    from store.uow import Ctx

    await migrate()
    await start_pool()
    try:
        await load_demo()
        seconds = 0.0
        postgres = "postgres" in type(engine()).__name__.lower()
        if await Examination.count() < rows:
            print(f"generating {rows:,} examinations", flush=True)
            seconds, _, _ = await generate(rows, postgres)
        await Examination.raw("ANALYZE")
        who = await actors()
        doctor, alliance = who["doctor"], who["alliance"]
        today = await service.today_of(doctor)
        year = {"start": (today - timedelta(days=364)).isoformat(), "end": today.isoformat()}
        by_day = await service.parse(doctor, StatQuery(**year, step="day"))
        by_month = await service.parse(doctor, StatQuery(**year, step="month"))
        by_week = await service.parse(doctor, StatQuery(**year, step="week"))
        everything = await service.parse(
            doctor, StatQuery(start="2000-01-01", end=today.isoformat(), step="month")
        )
        ctx = Ctx(actor=doctor)
        cases = [
            ("overview (doctor)", lambda: service.overview(doctor, by_day)),
            ("overview (alliance, 3 hospitals)", lambda: service.overview(alliance, by_day)),
            ("stacked chart, a year by day", lambda: service.series(doctor, by_day)),
            ("stacked chart, a year by month", lambda: service.series(doctor, by_month)),
            ("trend, a year by week", lambda: service.series(doctor, by_week)),
            ("turnaround and workload, a year", lambda: service.turnaround(doctor, by_day)),
            ("first drill-down page (a year)", lambda: details.drill_down(ctx, by_day, "", "")),
        ]
        lines = []
        for name, call in cases:
            p50, p99 = await timed(reps, call)
            lines.append([name, f"{p50:.1f}", f"{p99:.1f}"])

        async def download() -> tuple[int, int]:
            body = await details.download(ctx, everything, "csv")
            sent = lines_out = 0
            async for chunk in body:
                sent += len(chunk)
                lines_out += chunk.count(b"\n")
                if lines_out > DOWNLOAD_ROWS:
                    break
            return sent, lines_out

        # timed untraced (tracemalloc slows every allocation two- to threefold), then
        # once more under tracemalloc for the peak of Python memory
        start = time.perf_counter()
        sent, lines_out = await download()
        took = time.perf_counter() - start
        tracemalloc.start()
        await download()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    finally:
        await close_pool()
    kind = "PostgreSQL" if postgres else "SQLite"
    return (
        f"{kind}, {rows:,} examinations (generated in {seconds:.0f} s), {reps} runs "
        "a case, milliseconds:\n\n"
        + table(["case", "p50", "p99"], lines)
        + f"\n\nCSV download: {min(lines_out - 1, DOWNLOAD_ROWS):,} rows, {sent / 1e6:.1f} MB in "
        f"{took:.2f} s; peak traced Python memory {peak / 1e6:.1f} MB\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    print(asyncio.run(run(args.rows, args.reps)))


if __name__ == "__main__":
    main()
