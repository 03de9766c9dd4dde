"""Reading an attached examination's images as the invited expert (issue 15): the scoped
study lookup at 200,000 ``case_history`` rows and 10,000 attachments, before and after
``consultation_examination``; and a consultation's timeline with and without the
``case_history (case_type, case_id)`` index.

Run: ``uv run python -m bench.consultation_exams`` (both databases) or ``--db sqlite|postgres``,
``--reps N``. Each database is fresh (a temporary data folder; a scratch PostgreSQL database
at AIMIS_BENCH_PG, dropped afterwards), migrated as the app migrates it, with the demo
alliance. Generated inside the database (one ``INSERT … SELECT`` over a recursive CTE each):
10,000 studies with their examinations at City, 5,000 consultations of dr.li inviting
Xishan's radiology (dr.liu the named expert of 50 of them), two examinations attached to each
(10,000 rows, and their 10,000 ``exam_attach`` steps), 190,000 more timeline steps of
consultations and remote diagnosis requests; then ``ANALYZE``.

Timed, in process: ``api.viewer.studies.study_id_of`` (the ``visible_images`` lookup of one
study by its UID, what the mobile viewer and the DICOMweb paths run per request) for dr.liu
and an attached study, and for dr.zhao (Xishan, in no consultation) and the same study (not
found). "before" is main's grant before this change, the subquery over ``case_history``
(main's ``images_clause`` frozen here, swapped in for ``store.scoping.images_clause``) on
main's schema (the ``case_history`` index dropped; once more with it); "after" is the code
as it is. The before rows run ``BEFORE_REPS`` times (each takes up to seconds).
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
from pathlib import Path
from typing import Any

PG_ADMIN = os.environ.get("AIMIS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
STUDIES = 10_000
CONSULTATIONS = STUDIES // 2
HISTORY = 200_000
BEFORE_REPS = 5
INDEX = 'CREATE INDEX ix_case_history_case ON "case_history" ("case_type", "case_id")'

# main's grant before issue 15 (store/scoping.py at efa753d), verbatim
BEFORE = (
    "SELECT CAST({a} AS INTEGER) FROM case_history h "
    'WHERE EXISTS (SELECT 1 FROM consultation_participant p0 WHERE p0."user" = {{}} '
    "UNION ALL SELECT 1 FROM consultation_invite i0 WHERE i0.expert = {{}}) "
    "AND h.case_type = 'consultation' AND h.event = 'exam_attach' "
    "AND h.case_id IN ("
    'SELECT p.consultation FROM consultation_participant p WHERE p."user" = {{}} '
    "UNION SELECT i.consultation FROM consultation_invite i "
    "WHERE i.expert = {{}} AND i.decision <> 'deny') "
    "AND h.case_id IN (SELECT c.id FROM consultation c "
    "WHERE c.state NOT IN ('withdrawn', 'rejected', 'cancelled')) "
    "AND NOT EXISTS (SELECT 1 FROM case_history d WHERE d.case_type = 'consultation' "
    "AND d.case_id = h.case_id AND d.event = 'exam_detach' AND d.id > h.id AND {d} = {a})"
)
EXAM_ID_OF = {
    "postgres": "({alias}.summary->>'examination_id')",
    "sqlite": "json_extract({alias}.summary, '$.examination_id')",
}
SERIES = "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {count}) "


def before_images_clause(kind: str) -> Any:
    """main's ``store.scoping.images_clause`` with main's grant (at efa753d), verbatim."""
    from piccolo.columns.combination import WhereRaw

    from store.scoping import (
        _SHARED_STUDIES,
        _STUDY_COLUMN,
        DELETED_BY,
        hospital_ids_clause,
        not_deleted,
        sees_patient_data,
    )

    of = EXAM_ID_OF[kind]
    subquery = BEFORE.format(a=of.format(alias="h"), d=of.format(alias="d"))

    def images_clause(table: Any, actor: Any) -> Any:
        own = hospital_ids_clause(table, actor)
        if sees_patient_data(actor) and table in _STUDY_COLUMN:
            own = own | WhereRaw(
                f"{_STUDY_COLUMN[table]} IN ({_SHARED_STUDIES})", actor.hospital_id
            )
            if actor.kind == "doctor":
                own = own | WhereRaw(
                    f"{_STUDY_COLUMN[table]} IN (SELECT examination.study FROM examination "
                    f"WHERE examination.deleted_at IS NULL AND examination.id IN ({subquery}))",
                    *(actor.user_id,) * 4,
                )
        return own & not_deleted(table) if table in DELETED_BY else own

    return images_clause


async def fill(kind: str) -> dict[str, Any]:
    """The rows of the docstring; the ids the measurements need."""
    from store.db import engine
    from store.tables import Department, Hospital, User

    db = engine()

    async def one(sql: str) -> Any:
        rows = await db.run_ddl(sql)
        return next(iter(rows[0].values())) if rows else None

    city = (await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first())["id"]  # type: ignore[index]
    ids = {
        u["username"]: u["id"]
        for u in await User.select(User.id, User.username).where(
            User.username.is_in(["dr.li", "dr.liu", "dr.zhao"])
        )
    }
    west = await Department.select(Department.id, Department.hospital).where(
        Department.name.like("Radiology%"),
        Department.hospital.is_in(
            Hospital.select(Hospital.id).where(Hospital.code == "WEST")  # type: ignore[arg-type]
        ),
    )
    dept, west_id = west[0]["id"], west[0]["hospital"]
    await db.run_ddl(
        SERIES.format(count=STUDIES) + "INSERT INTO study (hospital, study_key, study_uid) "
        f"SELECT {city}, 'bench:' || n, '1.2.826.0.1.99.' || n FROM s"
    )
    first_study = await one("SELECT min(id) AS m FROM study WHERE study_key LIKE 'bench:%'")
    await db.run_ddl(
        "INSERT INTO examination (hospital, study, patient_name) "
        "SELECT hospital, id, 'BENCH' FROM study WHERE study_key LIKE 'bench:%' ORDER BY id"
    )
    first_exam = await one(f"SELECT min(id) AS m FROM examination WHERE study = {first_study}")
    await db.run_ddl(
        SERIES.format(count=CONSULTATIONS)
        + "INSERT INTO consultation (hospital, applicant, topic, state) "
        f"SELECT {city}, {ids['dr.li']}, 'bench ' || n, 'scheduled' FROM s"
    )
    first_case = await one("SELECT min(id) AS m FROM consultation WHERE topic LIKE 'bench %'")
    cases = "FROM consultation c WHERE c.topic LIKE 'bench %'"
    await db.run_ddl(
        'INSERT INTO consultation_participant (consultation, "user", role) '
        f"SELECT c.id, {ids['dr.li']}, 'applicant' {cases}"
    )
    await db.run_ddl(
        "INSERT INTO consultation_invite (consultation, hospital, department, expert, decision) "
        f"SELECT c.id, {west_id}, {dept}, CASE WHEN (c.id - {first_case}) % 100 = 0 "
        f"THEN {ids['dr.liu']} ELSE NULL END, 'agree' {cases}"
    )
    pair = (  # consultation i gets examinations 2i and 2i + 1 (ids counted from the first)
        f"SELECT c.id AS consultation, {first_exam} + 2 * (c.id - {first_case}) + k.k AS exam "
        "FROM consultation c, (SELECT 0 AS k UNION ALL SELECT 1 AS k) k "
        "WHERE c.topic LIKE 'bench %'"
    )
    await db.run_ddl(
        "INSERT INTO consultation_examination (consultation, examination, added_by) "
        f"SELECT p.consultation, p.exam, {ids['dr.li']} FROM ({pair}) p ORDER BY p.exam"
    )
    summary = "'{\"examination_id\": ' || p.exam || '}'"
    if kind == "postgres":
        summary = f"CAST({summary} AS json)"
    await db.run_ddl(
        "INSERT INTO case_history (case_type, case_id, actor_id, event, from_state, to_state, "
        f"summary) SELECT 'consultation', p.consultation, {ids['dr.li']}, 'exam_attach', "
        f"'scheduled', 'scheduled', {summary} FROM ({pair}) p ORDER BY p.exam"
    )
    others = HISTORY - STUDIES
    await db.run_ddl(
        SERIES.format(count=others)
        + "INSERT INTO case_history (case_type, case_id, event, from_state, to_state) "
        "SELECT CASE WHEN n % 2 = 0 THEN 'consultation' ELSE 'diagnosis_request' END, "
        f"{first_case} + n % {CONSULTATIONS}, 'report_saved', 'in_progress', 'in_progress' FROM s"
    )
    await db.run_ddl("ANALYZE")
    liu_case = first_case  # (c.id - first_case) % 100 == 0: dr.liu is its expert
    study_uid = "1.2.826.0.1.99.1"  # the first study: the first case's first examination
    return {"users": ids, "case": liu_case, "study_uid": study_uid}


async def actor(user_id: int) -> Any:
    from store.uow import actor_for

    return await actor_for(user_id)


async def timed(reps: int, fn: Any) -> tuple[float, float]:
    from bench.measure import percentile

    await fn()
    samples = []
    for _ in range(reps):
        start = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - start) * 1000)
    return percentile(samples, 50), percentile(samples, 99)


async def measure(kind: str, made: dict[str, Any], reps: int) -> dict[str, Any]:
    from api.viewer.studies import study_id_of
    from kernel.errors import NotFound
    from store import engine as process_engine
    from store import scoping
    from store.db import engine

    liu = await actor(made["users"]["dr.liu"])
    zhao = await actor(made["users"]["dr.zhao"])
    uid = made["study_uid"]

    async def expert() -> None:
        assert await study_id_of(liu, uid) > 0

    async def outsider() -> None:
        try:
            await study_id_of(zhao, uid)
        except NotFound:
            return
        raise AssertionError("dr.zhao read a study he takes no part in")

    async def timeline() -> None:
        assert len(await process_engine.timeline("consultation", made["case"])) >= 2

    out: dict[str, Any] = {}
    out["after expert"] = await timed(reps, expert)
    out["after outsider"] = await timed(reps, outsider)
    out["timeline, index"] = await timed(reps, timeline)
    await engine().run_ddl("DROP INDEX ix_case_history_case")
    slow = BEFORE_REPS  # a before run takes up to seconds each
    out["timeline, no index"] = await timed(slow, timeline)
    now = scoping.images_clause
    scoping.images_clause = before_images_clause(kind)
    try:
        out["before expert"] = await timed(slow, expert)
        out["before outsider"] = await timed(slow, outsider)
        await engine().run_ddl(INDEX)
        out["before expert, index"] = await timed(slow, expert)
    finally:
        scoping.images_clause = now
    return out


async def run_one(kind: str, reps: int) -> dict[str, Any]:
    from aimis.demo import load_demo
    from store.db import close_pool, start_pool
    from store.migrate import migrate

    await migrate()
    await start_pool()
    try:
        await load_demo()
        start = time.perf_counter()
        made = await fill(kind)
        print(f"{kind}: filled in {time.perf_counter() - start:.0f} s; measuring", flush=True)
        return {"db": kind, "results": await measure(kind, made, reps)}
    finally:
        await close_pool()


def psql(sql: str) -> None:
    subprocess.run(["psql", f"{PG_ADMIN}/postgres", "-qc", sql], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        result = asyncio.run(run_one(args.one, args.reps))
        Path(args.out).write_text(json.dumps(result))
        return
    from bench.measure import load_now, machine, table

    print(machine())
    print(f"load before: {load_now()}")
    runs = []
    for kind in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        data = Path(tempfile.mkdtemp(prefix="aimis-bench-cexams-"))
        env = {**os.environ, "AIMIS_DATA_DIR": str(data)}
        env.pop("AIMIS_DATABASE_URL", None)
        name = f"aimis_bench_cexams_{uuid.uuid4().hex[:8]}"
        if kind == "postgres":
            psql(f'CREATE DATABASE "{name}"')
            env["AIMIS_DATABASE_URL"] = f"{PG_ADMIN}/{name}"
        out = data / "result.json"
        try:
            command = [sys.executable, "-m", "bench.consultation_exams", "--one", kind]
            command += ["--reps", str(args.reps), "--out", str(out)]
            subprocess.run(command, env=env, check=True)
            runs.append(json.loads(out.read_text()))
        finally:
            if kind == "postgres":
                psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            shutil.rmtree(data, ignore_errors=True)
    print(f"load after: {load_now()}\n")
    rows = [
        [what, *(f"{r['results'][what][0]:.2f} / {r['results'][what][1]:.2f}" for r in runs)]
        for what in runs[0]["results"]
    ]
    print(table(["ms, p50 / p99", *(r["db"] for r in runs)], rows))


if __name__ == "__main__":
    main()
