"""Examination list benchmark (issue 5): 1,000,000 examinations on SQLite and on PostgreSQL;
each filter, keyword search and sort, the first page and a deep page (keyset), p50 / p99.

Run: ``uv run python -m bench.exam_list`` (both databases) or ``--db sqlite|postgres``,
``--rows N``, ``--reps N``. Each database is fresh (a temporary data folder; a scratch
PostgreSQL database at AIMIS_BENCH_PG, dropped afterwards), migrated as the app migrates
it (so with the composite indexes of the raw-SQL migration), with the demo hospitals.
``--keep NAME`` fills once and keeps both (``/tmp/aimis-bench-exams-NAME``, database
``aimis_bench_exams_NAME``): a later run with the same name migrates them to the current
schema and measures the current code without the 5–10 minute fill.

The rows are generated inside the database by one ``INSERT … SELECT`` per 100,000 rows over
``generate_series`` (PostgreSQL) or a recursive CTE (SQLite): names, modalities, statuses,
departments and times are picked by arithmetic on the row number, so no row crosses the
wire. Then ``ANALYZE``. Timed is what ``GET /api/exams`` runs below HTTP: the service's
``search`` (visibility clause, filters, keyset query) and ``to_reads`` (hospital, department
and study names), in process, without the audit row and the HTTP layer. A deep page starts
from a cursor at row 100,000 of the filter (or its middle when it has fewer rows).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("AIMIS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
CHUNK = 100_000
DEEP_ROW = 100_000
SHARED = 5_000  # open diagnosis requests to the leading hospital

SURNAMES = [
    ("王", "WANG"), ("李", "LI"), ("张", "ZHANG"), ("刘", "LIU"), ("陈", "CHEN"),
    ("杨", "YANG"), ("黄", "HUANG"), ("赵", "ZHAO"), ("吴", "WU"), ("周", "ZHOU"),
    ("徐", "XU"), ("孙", "SUN"), ("马", "MA"), ("朱", "ZHU"), ("胡", "HU"),
    ("郭", "GUO"), ("何", "HE"), ("高", "GAO"), ("林", "LIN"), ("罗", "LUO"),
]  # fmt: skip
GIVEN = [
    ("伟", "WEI"), ("芳", "FANG"), ("娜", "NA"), ("敏", "MIN"), ("静", "JING"),
    ("丽", "LI"), ("强", "QIANG"), ("磊", "LEI"), ("军", "JUN"), ("洋", "YANG"),
    ("勇", "YONG"), ("艳", "YAN"), ("杰", "JIE"), ("娟", "JUAN"), ("涛", "TAO"),
    ("明", "MING"), ("超", "CHAO"), ("秀英", "XIUYING"), ("霞", "XIA"), ("平", "PING"),
    ("刚", "GANG"), ("桂英", "GUIYING"), ("建华", "JIANHUA"), ("玉兰", "YULAN"), ("鑫", "XIN"),
]  # fmt: skip
MODALITIES = ["CT", "CT", "CT", "DX", "DX", "MR", "US", "MG", "CR", "XA"]
BODY_PARTS = ["CHEST", "HEAD", "ABDOMEN", "SPINE", "KNEE", "PELVIS", "NECK"]
CATEGORIES = ["outpatient"] * 5 + ["inpatient"] * 3 + ["physical", "emergency"]
STATUS_BY_20 = (
    ["images_arrived"] * 2 + ["report_draft"] + ["initial_report"] * 2 + ["reviewed"] * 5
) + ["printed"] * 10


def case(expr: str, values: list[str]) -> str:
    """``CASE expr WHEN 0 THEN v0 …``: a pick by arithmetic, valid on both databases."""
    whens = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"(CASE {expr} {whens} END)"


def insert_sql(postgres: bool, start: int, stop: int, hospitals: list[int], depts: dict) -> str:
    """One INSERT … SELECT of rows start..stop-1. Hospital: n % 4 → 0,1 the first (the
    leading hospital, half of all rows), 2 and 3 the others; every other attribute is
    picked from n / 4, so it is spread alike over the hospitals."""
    h = f"(CASE n % 4 WHEN 0 THEN {hospitals[0]} WHEN 1 THEN {hospitals[0]} "
    h += f"WHEN 2 THEN {hospitals[1]} ELSE {hospitals[2]} END)"
    dept_cases = []
    for i, hid in enumerate((hospitals[0], hospitals[0], hospitals[1], hospitals[2])):
        ids = depts[hid]
        pick = " ".join(f"WHEN {j} THEN {d}" for j, d in enumerate(ids))
        dept_cases.append(f"WHEN {i} THEN (CASE (n / 4) % {len(ids)} {pick} END)")
    dept = f"(CASE WHEN (n / 4) % 5 = 0 THEN NULL ELSE (CASE n % 4 {' '.join(dept_cases)} END) END)"
    s = case(f"((n / 4) * 7) % {len(SURNAMES)}", [z for z, _ in SURNAMES])
    sp = case(f"((n / 4) * 7) % {len(SURNAMES)}", [p for _, p in SURNAMES])
    g = case(f"(n / 12) % {len(GIVEN)}", [z for z, _ in GIVEN])
    gp = case(f"(n / 12) % {len(GIVEN)}", [p for _, p in GIVEN])
    status = case("((n / 4) * 3) % 20", STATUS_BY_20)
    seconds = "(n * 94 + (n * 7919) % 86400 - 43200)"  # ~3 years, jittered ±12 h
    hours = "((n * 31) % 72 + 1)"
    if postgres:
        exam_time = f"(TIMESTAMPTZ '2023-01-01 00:00:00+00' + make_interval(secs => {seconds}))"
        print_time = f"{exam_time} + make_interval(hours => CAST({hours} AS INTEGER))"
        source = f"generate_series(CAST({start} AS BIGINT), {stop - 1}) AS s(n)"
        prefix = ""
    else:
        exam_time = f"(datetime(1672531200 + {seconds}, 'unixepoch') || '+00:00')"
        print_time = f"(datetime(1672531200 + {seconds} + 3600 * {hours}, 'unixepoch') || '+00:00')"
        source = "seq"
        prefix = (
            f"WITH RECURSIVE seq(n) AS (SELECT {start} UNION ALL SELECT n + 1 FROM seq "
            f"WHERE n < {stop - 1}) "
        )
    columns = (
        "hospital, patient_name, patient_name_search, patient_sex, patient_birth_date, "
        "patient_id, patient_id_number, patient_his_number, patient_phone, accession_number, "
        "check_item_name, device_type, device_name, body_part, exam_category, "
        "scanning_method, department, exam_time, status, print_time, created_at, updated_at, "
        "version"
    )
    values = (
        f"{h}, {s} || {g} || ' ' || {sp} || ' ' || {gp}, {sp} || ' ' || {gp}, "
        f"(CASE n % 2 WHEN 0 THEN 'M' ELSE 'F' END), "
        f"CAST(1940 + n % 80 AS TEXT) || '0615', 'P' || CAST(n / 3 AS TEXT), '', "
        f"'H' || CAST(n / 3 AS TEXT), '', 'A' || CAST(n AS TEXT), '', "
        f"{case(f'((n / 4) * 13) % {len(MODALITIES)}', MODALITIES)}, '', "
        f"{case(f'(n / 4) % {len(BODY_PARTS)}', BODY_PARTS)}, "
        f"{case(f'((n / 4) * 7 + 3) % {len(CATEGORIES)}', CATEGORIES)}, "
        f"(CASE WHEN (n / 4) % 7 < 2 THEN 'enhanced' ELSE 'plain' END), {dept}, {exam_time}, "
        f"{status}, (CASE WHEN ((n / 4) * 3) % 20 >= 10 THEN {print_time} ELSE NULL END), "
        f"{exam_time}, {exam_time}, 1"
    )
    return f"INSERT INTO examination ({columns}) {prefix}SELECT {values} FROM {source}"


async def departments_of(hospitals: list[int]) -> dict[int, list[int]]:
    """Each hospital's department ids, in the order they were made."""
    from store.tables import Department

    return {
        h: [
            int(d["id"])
            for d in await Department.select(Department.id)
            .where(Department.hospital == h)
            .order_by(Department.id)
        ]
        for h in hospitals
    }


async def generate(rows: int, postgres: bool) -> tuple[float, list[int], dict[int, list[int]]]:
    from store.tables import Examination, Hospital

    hospitals = [
        int((await Hospital.select(Hospital.id).where(Hospital.code == c).first())["id"])  # type: ignore[index]
        for c in ("CITY", "EAST", "WEST")
    ]
    depts = await departments_of(hospitals)
    start = time.perf_counter()
    for first in range(1, rows + 1, CHUNK):
        await Examination.raw(
            insert_sql(postgres, first, min(first + CHUNK, rows + 1), hospitals, depts)
        )
        print(f"  {min(first + CHUNK - 1, rows):>9,} rows", flush=True)
    await share_with_leading(hospitals)
    await set_priorities()
    await Examination.raw("ANALYZE")
    return time.perf_counter() - start, hospitals, depts


PRIORITY_SQL = (
    "UPDATE examination SET priority = "
    "(CASE WHEN id % 97 = 0 THEN 2 WHEN id % 23 = 0 THEN 1 ELSE 0 END) "
    "WHERE id % 97 = 0 OR id % 23 = 0"
)


async def set_priorities() -> bool:
    """About 1 % emergency and 4 % urgent examinations, spread over the years and
    statuses (a quarter of them wait for their report), once: a database kept from before
    priorities (``--keep``) gets them on its first run with them. True when it set them."""
    from store.tables import Examination

    if await Examination.exists().where(Examination.priority > 0):
        return False
    await Examination.raw(PRIORITY_SQL)
    return True


async def share_with_leading(hospitals: list[int]) -> None:
    """The leading hospital diagnoses for the others: SHARED open diagnosis requests (and
    a fifth as many rejected ones) of the other hospitals' examinations target it, so its
    doctors' list has two branches (own examinations + shared ones), as in real use."""
    from store.tables import DiagnosisRequest, Examination, User

    user = await User.select(User.id).where(User.username == "dr.chen").first()
    assert user is not None
    others = await Examination.count().where(Examination.hospital.is_in(hospitals[1:]))
    step = max(1, others // (SHARED + SHARED // 5))
    candidates = (
        await Examination.select(Examination.id, Examination.hospital)
        .where(Examination.hospital.is_in(hospitals[1:]))
        .order_by(Examination.id)
    )
    rows = candidates[::step][: SHARED + SHARED // 5]  # spread over the years
    at = datetime.now(UTC)
    requests = [
        DiagnosisRequest(
            examination=r["id"],
            hospital=r["hospital"],
            target_hospital=hospitals[0],
            state="requested" if i < SHARED else "rejected",
            requested_by=user["id"],
            created_at=at,
            updated_at=at,
        )
        for i, r in enumerate(rows)
    ]
    for i in range(0, len(requests), 1000):  # PostgreSQL takes at most 32767 parameters
        await DiagnosisRequest.insert(*requests[i : i + 1000])


def cases(hospitals: list[int], depts: dict[int, list[int]]) -> list[tuple[str, str, dict]]:
    """(name, who, query parameters). ``doctor``: a doctor of the leading hospital (500,000
    examinations of its own and 5,000 shared by diagnosis requests); ``alliance``: the
    alliance admin (all 1,000,000, three hospitals)."""
    return [
        ("default (exam time, newest first)", "doctor", {}),
        ("exam time, oldest first", "doctor", {"order": "asc"}),
        ("print time, newest first", "doctor", {"sort": "print_time"}),
        ("print time, oldest first", "doctor", {"sort": "print_time", "order": "asc"}),
        ("status = reviewed", "doctor", {"status": "reviewed"}),
        ("status = report_draft (5 %)", "doctor", {"status": "report_draft"}),
        ("device type = MR", "doctor", {"device_type": "MR"}),
        ("exam category = emergency", "doctor", {"exam_category": "emergency"}),
        ("scanning method = enhanced", "doctor", {"scanning_method": "enhanced"}),
        ("department", "doctor", {"department_id": str(depts[hospitals[0]][1])}),
        ("priority = urgent (4 %)", "doctor", {"priority": "urgent"}),
        ("priority = emergency (1 %)", "doctor", {"priority": "emergency"}),
        ("status = images_arrived (urgent first)", "doctor", {"status": "images_arrived"}),
        ("date range (one month)", "doctor", {"date_from": "2024-03-01", "date_to": "2024-03-31"}),
        (
            "status + device + date range",
            "doctor",
            {
                "status": "printed",
                "device_type": "CT",
                "date_from": "2024-01-01",
                "date_to": "2024-06-30",
            },
        ),
        ("keyword: pinyin name prefix 'wang'", "doctor", {"q": "wang"}),
        ("keyword: pinyin full name 'zhao min'", "doctor", {"q": "zhao min"}),
        ("keyword: Chinese name prefix '王'", "doctor", {"q": "王"}),
        ("keyword: patient ID", "doctor", {"q": "P100001"}),
        ("keyword: accession number", "doctor", {"q": "A400000"}),
        ("keyword: HIS number", "doctor", {"q": "H100000"}),
        ("shared with me: one requesting hospital", "doctor", {"hospital_id": str(hospitals[1])}),
        ("alliance admin: all hospitals", "alliance", {}),
        ("alliance admin: print time", "alliance", {"sort": "print_time"}),
        ("alliance admin: status = initial_report", "alliance", {"status": "initial_report"}),
        ("alliance admin: one hospital", "alliance", {"hospital_id": str(hospitals[1])}),
    ]


async def actors() -> dict[str, Any]:
    from store.tables import User
    from store.uow import Actor

    out = {}
    for who, username in (("doctor", "dr.wang"), ("alliance", "alliance.admin")):
        u = await User.select().where(User.username == username).first()
        assert u is not None
        out[who] = Actor(
            user_id=u["id"],
            username=username,
            kind=u["kind"],
            alliance_id=u["alliance"],
            hospital_id=u["hospital"],
            department_id=u["department"],
            permissions=frozenset(),
            session_id=0,
            realm="admin" if u["kind"] != "doctor" else "app",
        )
    return out


async def deep_cursor(actor: Any, f: Any, total: int) -> str | None:
    """A cursor at row DEEP_ROW of the filter (its middle when shorter), found with an
    offset query once, untimed."""
    from api.exams.filters import filter_clauses
    from api.exams.search import encode_cursor
    from store.examinations import examination_clause
    from store.tables import Examination

    clauses = [await examination_clause(actor), *await filter_clauses(actor, f)]
    column = Examination.exam_time if f.sort == "exam_time" else Examination.print_time
    if f.sort == "print_time":
        clauses.append(Examination.print_time.is_not_null())
        total = await Examination.count().where(*clauses)
    at = min(DEEP_ROW, total // 2)
    if at < 1:
        return None
    row = (
        await Examination.select(column, Examination.id)
        .where(*clauses)
        .order_by(column, Examination.id, ascending=f.order == "asc")
        .offset(at - 1)
        .first()
    )
    if row is None:
        return None
    return encode_cursor(f, "v", row[column._meta.name], row["id"])


async def measure(reps: int) -> list[dict[str, Any]]:
    from dataclasses import replace

    from api.exams.counts import status_counts
    from api.exams.filters import ExamQuery, filter_clauses
    from api.exams.search import search, to_reads
    from bench.measure import percentile
    from store.examinations import examination_clause

    who = await actors()
    from store.tables import Examination, Hospital

    hospitals = [
        int(h["id"])
        for h in await Hospital.select(Hospital.id)
        .where(Hospital.code.is_in(["CITY", "EAST", "WEST"]))
        .order_by(Hospital.code)
    ]
    city = int((await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first())["id"])  # type: ignore[index]
    hospitals = [city, *[h for h in hospitals if h != city]]
    depts = await departments_of(hospitals)
    results = []
    for name, actor_key, params in cases(hospitals, depts):
        actor = who[actor_key]
        base = ExamQuery(**params).parse()
        visible = await examination_clause(actor)
        total = await Examination.count().where(visible, *await filter_clauses(actor, base))
        deep = await deep_cursor(actor, base, total)
        row: dict[str, Any] = {"case": name, "matches": total}
        for page, cursor in (("first", ""), ("deep", deep)):
            if cursor is None:
                row[page] = None
                continue
            f = replace(base, cursor=cursor)
            samples = []
            for _ in range(reps):
                t0 = time.perf_counter()
                rows, _next, urgent, _more = await search(actor, f)
                await to_reads(actor, [*urgent, *rows])
                samples.append((time.perf_counter() - t0) * 1000)
            row[page] = (percentile(samples, 50), percentile(samples, 99), len(rows))
        samples = []
        for _ in range(max(3, reps // 5)):
            t0 = time.perf_counter()
            await status_counts(actor, ExamQuery(**params))
            samples.append((time.perf_counter() - t0) * 1000)
        row["counts"] = (percentile(samples, 50), percentile(samples, 99))
        results.append(row)
        print(f"  {name}: {row}", flush=True)
    return results


async def run_one(db: str, rows: int, reps: int) -> dict[str, Any]:
    """In a child process whose environment already names the database. A kept database
    (``--keep``) that already holds the examinations is measured as it is."""
    from aimis.demo import load_demo
    from store.db import close_pool, start_pool
    from store.migrate import migrate
    from store.tables import Examination

    await migrate()
    await start_pool()
    try:
        await load_demo()
        seconds = 0.0
        if await Examination.count() < rows:
            print(f"{db}: generating {rows:,} examinations", flush=True)
            seconds, _, _ = await generate(rows, db == "postgres")
            print(f"{db}: generated in {seconds:.1f} s; measuring", flush=True)
        else:
            print(f"{db}: reusing the kept {rows:,} examinations; measuring", flush=True)
            if await set_priorities():
                print(f"{db}: gave the kept examinations their priorities", flush=True)
        if db == "sqlite":  # measure reads with the fill's write-ahead log folded in
            await Examination.raw("PRAGMA wal_checkpoint(TRUNCATE)")
        await Examination.raw("ANALYZE")
        results = await measure(reps)
    finally:
        await close_pool()
    return {"db": db, "rows": rows, "generate_s": seconds, "results": results}


def ms(value: float) -> str:
    return f"{value:.1f}"


def report(runs: list[dict[str, Any]], reps: int) -> str:
    from bench.measure import table

    header = ["case", "matches"]
    for run in runs:
        header += [
            f"{run['db']} first p50/p99",
            f"{run['db']} deep p50/p99",
            f"{run['db']} counts p50/p99",
        ]
    lines = []
    for i, first in enumerate(runs[0]["results"]):
        cells = [first["case"], f"{first['matches']:,}"]
        for run in runs:
            r = run["results"][i]
            for page in ("first", "deep"):
                cells.append(f"{ms(r[page][0])} / {ms(r[page][1])}" if r[page] else "–")
            cells.append(f"{ms(r['counts'][0])} / {ms(r['counts'][1])}")
        lines.append(cells)
    gen = ", ".join(f"{r['db']} {r['generate_s']:.0f} s" for r in runs)
    return (
        f"{runs[0]['rows']:,} examinations; generated in {gen}; page size 50; {reps} runs a "
        f"page (counts: {max(3, reps // 5)}); milliseconds.\n\n" + table(header, lines)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=50)
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="fill once and keep: the data folder /tmp/aimis-bench-exams-NAME and the "
        "PostgreSQL database aimis_bench_exams_NAME stay for the next run with this name",
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = asyncio.run(run_one(args.one, args.rows, args.reps))
        Path(args.out).write_text(json.dumps(result))
        return
    from bench.measure import load_now, machine

    print(machine())
    runs = []
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        if args.keep:
            data = Path(tempfile.gettempdir()) / f"aimis-bench-exams-{args.keep}"
            data.mkdir(exist_ok=True)
            name = f"aimis_bench_exams_{args.keep}"
        else:
            data = Path(tempfile.mkdtemp(prefix="aimis-bench-exams-"))
            name = f"aimis_bench_exams_{uuid.uuid4().hex[:8]}"
        env = {**os.environ, "AIMIS_DATA_DIR": str(data)}
        env.pop("AIMIS_DATABASE_URL", None)
        if db == "postgres":
            known = subprocess.run(
                ["psql", f"{PG_ADMIN}/postgres", "-tAc",
                 f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                capture_output=True, text=True, check=True,
            ).stdout.strip()  # fmt: skip
            if not known:
                create = f'CREATE DATABASE "{name}"'
                subprocess.run(["psql", f"{PG_ADMIN}/postgres", "-qc", create], check=True)
            env["AIMIS_DATABASE_URL"] = f"{PG_ADMIN}/{name}"
        out = data / f"result-{db}.json"
        try:
            subprocess.run(
                [sys.executable, "-m", "bench.exam_list", "--one", db, "--rows", str(args.rows),
                 "--reps", str(args.reps), "--out", str(out)],
                env=env,
                check=True,
            )  # fmt: skip
            runs.append(json.loads(out.read_text()))
        finally:
            if db == "postgres" and not args.keep:
                drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
                subprocess.run(["psql", f"{PG_ADMIN}/postgres", "-qc", drop])
            if not args.keep:
                shutil.rmtree(data, ignore_errors=True)
    print(f"\nload after: {load_now()}\n")
    print(report(runs, args.reps))


if __name__ == "__main__":
    main()
