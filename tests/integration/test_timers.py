"""Timers (DESIGN.md): reminders before a consultation's start and report-lock expiry, as
due times in the real database, fired by the real ``sweep-timers`` flow against the real
Prefect server; two sweeps at once fire each timer once; ``prefect.yaml`` registers the
sweep as a scheduled deployment with one run at a time."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import websockets

from store.tables import AuditLog, CaseHistory, Consultation, Outbox, Timer
from store.uow import now
from tests.conftest import ROOT
from tests.fixtures.consultations import (
    create,
    decide,
    simple_case,
    started_case,
    version,
)
from tests.fixtures.hospitals import as_user, department, user_id
from tests.fixtures.prefect import prefect_env
from tests.integration.test_live import cookie_header, recv, subscribe, ws_url

pytestmark = pytest.mark.integration
CASE = "consultation"

SWEEP = (
    "import asyncio, json\n"
    "from flows.timers import sweep_timers\n"
    "print('COUNTS', json.dumps(asyncio.run(sweep_timers())))\n"
)


def counts_of(out: str) -> dict[str, int]:
    line = next(x for x in out.splitlines() if x.startswith("COUNTS "))
    return dict(json.loads(line.removeprefix("COUNTS ")))


async def timers_of(cid: int, kind: str) -> list[dict[str, Any]]:
    return list(
        await Timer.select()
        .where(Timer.case_type == "consultation", Timer.case_id == cid, Timer.kind == kind)
        .order_by(Timer.id)
    )


async def make_due(timer_id: int) -> None:
    await Timer.update({Timer.due_at: now() - timedelta(seconds=1)}).where(Timer.id == timer_id)


async def reminder_rows(cid: int) -> list[dict[str, Any]]:
    rows = await Outbox.select(Outbox.payload).where(
        Outbox.idempotency_key.like(f"notify-consultation-{cid}-reminder-%")
    )
    return [msgspec.json.decode(r["payload"]) for r in rows]


async def west_radiology_decides(new_api: Any, cid: int, decision: str, reason: str = "") -> None:
    liu = await as_user(new_api, "dr.liu")
    await decide(liu, cid, await department("WEST", "Radiology"), decision, reason=reason)


async def test_a_reminder_is_due_the_configured_time_before_the_start(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    [timer] = await timers_of(cid, "reminder")
    starts = (await Consultation.select().where(Consultation.id == cid).first())["scheduled_at"]
    assert timer["due_at"] == starts - timedelta(minutes=30)  # AIMIS_CONSULTATION_REMINDER_MINUTES
    assert timer["fired_at"] is None and not timer["cancelled"]

    res = await li.post(f"/api/consultations/{cid}/withdraw", json={"version": await version(cid)})
    assert res.status_code == 200, res.text
    assert [t["cancelled"] for t in await timers_of(cid, "reminder")] == [True]

    # Rejected by a mandatory department: no reminder either.
    _, rejected = await simple_case(new_api, uniq)
    await west_radiology_decides(new_api, rejected, "deny", reason="no capacity")
    assert [t["cancelled"] for t in await timers_of(rejected, "reminder")] == [True]


async def test_a_start_within_the_lead_time_is_reminded_at_once(new_api, uniq) -> None:
    li = await as_user(new_api, "dr.li")
    soon = (now() + timedelta(minutes=10)).isoformat()
    made = await create(
        li,
        [{"department_id": await department("WEST", "Radiology"), "mandatory": True}],
        uniq("soon "),
        scheduled_at=soon,
    )
    [timer] = await timers_of(made["id"], "reminder")
    assert timer["due_at"] <= now()


async def test_the_sweep_reminds_the_people_taking_part(new_api, uniq, run_flow, flow_runs) -> None:
    _, cid = await simple_case(new_api, uniq)
    await west_radiology_decides(new_api, cid, "agree_join")
    [timer] = await timers_of(cid, "reminder")
    await make_due(timer["id"])
    # A reminder whose consultation ended without cancelling it (an older version wrote it).
    _, over = await simple_case(new_api, uniq)
    await Consultation.update({Consultation.state: "withdrawn"}).where(Consultation.id == over)
    [stale] = await timers_of(over, "reminder")
    await make_due(stale["id"])

    counts = counts_of(run_flow(SWEEP))
    assert counts["fired"] >= 1 and counts["moot"] >= 1 and counts["failed"] == 0

    [payload] = await reminder_rows(cid)
    assert (payload["business_type"], payload["event"], payload["case_id"]) == (
        "consultation",
        "reminder",
        cid,
    )
    assert payload["user_ids"] == sorted([await user_id("dr.li"), await user_id("dr.liu")])
    assert (await timers_of(cid, "reminder"))[0]["fired_at"] is not None
    assert await reminder_rows(over) == []
    assert (await timers_of(over, "reminder"))[0]["fired_at"] is not None  # done with, quietly
    [run] = flow_runs(f"reminder-consultation-{cid}")
    assert run["state_type"] == "COMPLETED" and run["parameters"] == {"timer_id": timer["id"]}

    # Fired once: the next sweep leaves it alone.
    run_flow(SWEEP)
    assert len(await reminder_rows(cid)) == 1


async def test_an_expired_report_lock_is_freed_and_the_room_told_live(
    new_api, app_url, uniq, run_flow, flow_runs
) -> None:
    li, liu, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report/lock"
    assert (await liu.post(url)).status_code == 200
    [timer] = await timers_of(cid, "report_lock_expiry")
    # 30 minutes without a save or keep-alive.
    await Consultation.update({Consultation.report_lock_until: now() - timedelta(seconds=1)}).where(
        Consultation.id == cid
    )
    await make_due(timer["id"])
    async with websockets.connect(ws_url(app_url), additional_headers=cookie_header(li)) as ws:
        await subscribe(ws, [f"case:consultation:{cid}"])
        counts = counts_of(run_flow(SWEEP))
        event = await recv(ws, within=3.0)  # written by the flow's process, tailed by the app
    assert counts["fired"] >= 1 and counts["failed"] == 0
    assert event["type"] == "consultation.report_lock_expired"
    assert event["payload"]["state"] == "in_progress"

    row = await Consultation.select().where(Consultation.id == cid).first()
    assert row["report_lock_user"] is None and row["report_lock_until"] is None
    [step] = await CaseHistory.select().where(
        CaseHistory.case_id == cid, CaseHistory.event == "report_lock_expired"
    )
    assert (step["actor_name"], step["to_state"]) == ("system", "in_progress")
    assert step["id"] == event["payload"]["history_id"]
    assert msgspec.json.decode(step["summary"]) == {"user_id": await user_id("dr.liu")}
    [audit] = await AuditLog.select().where(
        AuditLog.action == "consultation.report_lock_expired", AuditLog.target_id == str(cid)
    )
    assert (audit["ip"], audit["user_agent"]) == ("prefect", "sweep_timers")
    assert flow_runs(f"report-lock-expiry-consultation-{cid}")[0]["state_type"] == "COMPLETED"
    assert (await li.post(url)).status_code == 200  # free for the next editor


async def test_a_lock_kept_alive_is_not_freed(new_api, uniq, run_flow) -> None:
    _, liu, cid = await started_case(new_api, uniq)
    assert (await liu.post(f"/api/consultations/{cid}/report/lock")).status_code == 200
    [timer] = await timers_of(cid, "report_lock_expiry")
    await make_due(timer["id"])  # the sweep finds the timer due, but the lock is still fresh
    run_flow(SWEEP)
    row = await Consultation.select().where(Consultation.id == cid).first()
    assert row["report_lock_user"] == await user_id("dr.liu")
    assert not await CaseHistory.exists().where(
        CaseHistory.case_id == cid, CaseHistory.event == "report_lock_expired"
    )


# A sweep that starts only when told: it says it is ready (Prefect imported: seconds, and
# more on a loaded machine) with a file, then waits for the ``go`` file, so two sweeps
# started together really read the due timers at the same moment.
SWEEP_ON_GO = (
    "import asyncio, json, pathlib, sys, time\n"
    "from flows.timers import sweep_timers\n"
    "gate = pathlib.Path(sys.argv[1])\n"
    "(gate / f'ready-{sys.argv[2]}').touch()\n"
    "while not (gate / 'go').exists(): time.sleep(0.005)\n"
    "print('COUNTS', json.dumps(asyncio.run(sweep_timers())))\n"
)


def start_sweep(api_url: str, home: Path, gate: Path, n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SWEEP_ON_GO, str(gate), str(n)],
        cwd=ROOT,
        env=prefect_env(api_url, home),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


async def test_two_sweeps_at_once_fire_each_timer_once(
    new_api, uniq, prefect_api, prefect_home
) -> None:
    _, cid = await simple_case(new_api, uniq)
    await Timer.delete().where(Timer.case_type == "consultation", Timer.case_id == cid)
    due = now() - timedelta(seconds=1)
    count = 24
    for _ in range(count):
        await Timer.insert(Timer(case_type=CASE, case_id=cid, kind="reminder", due_at=due))
    began = now()
    gate = Path(tempfile.mkdtemp(prefix="aimis-sweeps-"))
    sweeps = [start_sweep(prefect_api, prefect_home, gate, n) for n in range(2)]
    for _ in range(12_000):  # both imported (at most two minutes), or one died
        if all((gate / f"ready-{n}").exists() for n in range(2)):
            break
        if any(p.poll() is not None for p in sweeps):
            break
        await asyncio.sleep(0.01)
    (gate / "go").touch()
    outs = [await asyncio.to_thread(p.communicate, timeout=180) for p in sweeps]
    shutil.rmtree(gate, ignore_errors=True)
    assert all(p.returncode == 0 for p in sweeps), [o[0][-3000:] for o in outs]
    counts = [counts_of(o[0]) for o in outs]

    mine = await timers_of(cid, "reminder")
    assert len(mine) == count and all(t["fired_at"] is not None for t in mine)
    claimed = await Timer.count().where(Timer.fired_at >= began)
    assert sum(c["fired"] + c["moot"] for c in counts) == claimed  # no timer claimed twice
    assert sum(c["taken"] for c in counts) > 0, counts  # the sweeps did overlap
    assert len(await reminder_rows(cid)) == count
    audits = await AuditLog.count().where(
        AuditLog.action == "consultation.reminder", AuditLog.target_id == str(cid)
    )
    assert audits == count


def test_prefect_yaml_registers_the_sweep_every_minute_one_at_a_time(
    prefect_api, prefect_home
) -> None:
    env = prefect_env(prefect_api, prefect_home)
    prefect = [sys.executable, "-m", "prefect"]

    def run(args: list[str]) -> None:
        done = subprocess.run(
            [*prefect, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    if httpx.get(f"{prefect_api}/work_pools/aimis", timeout=10).status_code == 404:
        run(["work-pool", "create", "aimis", "--type", "process"])
    started = time.monotonic()
    run(["--no-prompt", "deploy", "--all", "--prefect-file", str(ROOT / "prefect.yaml")])
    assert time.monotonic() - started < 120
    res = httpx.get(f"{prefect_api}/deployments/name/sweep-timers/sweep-timers", timeout=10)
    assert res.status_code == 200, res.text
    deployment = res.json()
    assert deployment["entrypoint"] == "flows/timers.py:sweep_timers"
    assert deployment["work_pool_name"] == "aimis"
    [schedule] = deployment["schedules"]
    assert schedule["active"] and schedule["schedule"]["interval"] == 60
    assert deployment["concurrency_limit"] == 1 or (
        deployment["global_concurrency_limit"]["limit"] == 1
    )
    assert deployment["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
