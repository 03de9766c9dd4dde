"""Notices (issue 18, point 5): a backlog of case notices delivered by the real dispatcher
and Prefect to a fake WeCom server on loopback; notices per second, lost, doubled.

The real thing, nothing mocked: a Prefect server (temporary home, SQLite), the app's
database (``bench.aimis_app``: migrated, demo data; SQLite, or a fresh PostgreSQL database
with ``--postgres``), the fake WeChat/WeCom API of the tests (``tests/fakes/wechat.py``, a
threaded HTTP server in this process that records every request). City gets a WeCom
application channel pointed at the fake and a "consultation" rule to it (audience
"involved"); dr.wang is bound to a WeCom user id. ``--notices`` outbox rows of kind
``notify`` (one consultation step each, case ids unique, so every message says which
notice it is) are committed at once, then ``aimis dispatcher`` starts
(``AIMIS_DISPATCH_BATCH_SIZE`` as given; ``--batch-size 1`` is the former one flow run per
notice). Printed: the wall time from the dispatcher's start to the last row done, the
window from the first to the last accepted send, notices/s over each, lost (a row not
done, or a notice whose message the fake never accepted), doubled (a notice accepted more
than once), the delivery log's "possible duplicate" count, and the flow runs Prefect
recorded.

    uv run --frozen python -m bench.notifications [--notices 2000] [--batch-size 50]
        [--postgres] [--profile]

``--profile`` runs the dispatcher under py-spy (it has to be on PATH) and writes its raw
stacks (``spy.txt``, collapsed stack counts) next to the logs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench.aimis_app import Aimis
from bench.measure import load_now, stop_on_sigterm
from bench.transition_latency import prefect_server
from tests.fakes.wechat import FakeWeChat

ROOT = Path(__file__).resolve().parent.parent
SEND = "/cgi-bin/message/send"
WECOM_USER = "BenchWang"
CASE_BASE = 700_000


class TimedWeChat(FakeWeChat):
    """The fake, with the time of each accepted application message."""

    def __init__(self) -> None:
        super().__init__()
        self.accepted_at: list[float] = []
        self._times = threading.Lock()

    def _answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        status, answer = super()._answer(path, query)
        if path == SEND and status == 200 and answer.get("errcode", 0) == 0:
            with self._times:
                self.accepted_at.append(time.monotonic())
        return status, answer


async def fill(count: int, base_url: str, tag: str) -> None:
    """In the app's environment: City's channel and rule, dr.wang's binding, the rows."""
    import msgspec

    from store.db import close_pool, start_pool
    from store.tables import Hospital, NotificationChannel, NotificationRule, Outbox, User
    from store.uow import now

    await start_pool()
    try:
        # the demo's own outbox work (its notices, its report DICOM) is not measured
        await Outbox.update(
            {Outbox.status: "failed", Outbox.error: "the demo's; retired before the benchmark"}
        ).where(Outbox.status.is_in(["pending", "running"]))
        city = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
        wang = await User.select(User.id).where(User.username == "dr.wang").first()
        assert city is not None and wang is not None, "the demo data is missing"
        await User.update({User.wecom_userid: WECOM_USER}).where(User.id == wang["id"])
        config = {
            "name": "bench",
            "corp_id": "wwbench",
            "agent_id": "1000002",
            "secret": "BenchSecret",
            "base_url": base_url,
        }
        made = await NotificationChannel.insert(
            NotificationChannel(
                hospital=city["id"],
                kind="wecom_app",
                config=msgspec.json.encode(config).decode(),
                created_at=now(),
            )
        ).returning(NotificationChannel.id)
        await NotificationRule.delete().where(
            NotificationRule.hospital == city["id"],
            NotificationRule.business_type == "consultation",
        )
        await NotificationRule.insert(
            NotificationRule(
                hospital=city["id"],
                business_type="consultation",
                channels=msgspec.json.encode([made[0]["id"]]).decode(),
                audience="involved",
            )
        )
        at = now()
        rows = []
        for i in range(count):
            case_id = CASE_BASE + i
            payload = {
                "business_type": "consultation",
                "event": "agree",
                "case_type": "consultation",
                "case_id": case_id,
                "user_ids": [wang["id"]],
                "link": f"/consultations/{case_id}",
            }
            rows.append(
                Outbox(
                    kind="notify",
                    payload=msgspec.json.encode(payload).decode(),
                    idempotency_key=f"notify-consultation-{case_id}-{tag}",
                    next_at=at,
                    created_at=at,
                )
            )
        for start in range(0, len(rows), 500):
            await Outbox.insert(*rows[start : start + 500])
    finally:
        await close_pool()


async def outcome(tag: str) -> dict[str, Any]:
    """In the app's environment: the rows by status and the delivery log's duplicates."""
    from store.db import close_pool, start_pool
    from store.tables import Notification, Outbox

    await start_pool()
    try:
        rows = await Outbox.select(Outbox.status).where(
            Outbox.kind == "notify", Outbox.idempotency_key.like(f"%-{tag}")
        )
        notes = await Notification.select(Notification.error).where(
            Notification.channel == "wecom_app"
        )
        return {
            "status": dict(Counter(r["status"] for r in rows)),
            "duplicates": sum(n["error"].startswith("possible duplicate") for n in notes),
        }
    finally:
        await close_pool()


def in_app(app: Aimis, code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=app.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode:
        raise RuntimeError(done.stdout[-2000:] + done.stderr[-4000:])
    return done.stdout


def flow_runs(api: str) -> Counter[str]:
    res = httpx.post(f"{api}/flow_runs/count", json={}, timeout=30)
    res.raise_for_status()
    tasks = httpx.post(f"{api}/task_runs/count", json={}, timeout=30)
    tasks.raise_for_status()
    return Counter({"flow runs": int(res.json()), "task runs": int(tasks.json())})


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its waited-for children so far."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(f) for f in fields[11:15]) / ticks


def pids_of(*needles: str) -> list[int]:
    """Processes whose command line holds all of ``needles`` (the Prefect server's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if all(n in cmd for n in needles):
                found.append(int(entry.name))
    return found


def run(args: argparse.Namespace) -> None:
    stop_on_sigterm()
    home = Path(tempfile.mkdtemp(prefix="aimis-bench-prefect-"))
    data = Path(tempfile.mkdtemp(prefix="aimis-bench-notices-"))
    fake = TimedWeChat()
    fake.start()
    app = Aimis(data, postgres=args.postgres, keep_data=args.keep)
    dispatcher: subprocess.Popen[bytes] | None = None
    try:
        app.prepare()
        tag = str(int(time.time()))
        in_app(
            app,
            "import asyncio, bench.notifications as b\n"
            f"asyncio.run(b.fill({args.notices}, {fake.base_url!r}, {tag!r}))\n",
        )
        with prefect_server(home) as penv:
            api = penv["PREFECT_API_URL"]
            env = {
                **app.env,
                "PREFECT_HOME": penv["PREFECT_HOME"],
                "PREFECT_API_URL": api,
                "AIMIS_PREFECT_API_URL": api,
                "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                "AIMIS_NOTIFY_ALLOWED_HOSTS": "127.0.0.1",
                "AIMIS_DISPATCH_BATCH_SIZE": str(args.batch_size),
                "PYTHONUNBUFFERED": "1",
            }
            log = data / "dispatcher.log"
            cmd = [sys.executable, "-m", "aimis.cli", "dispatcher"]
            if args.profile:
                spy = shutil.which("py-spy")
                if spy is None:
                    raise SystemExit("--profile needs py-spy on PATH")
                cmd = [
                    spy,
                    "record",
                    "--gil",
                    "-r",
                    "50",
                    "-f",
                    "raw",
                    "-o",
                    str(data / "spy.txt"),
                    "--",
                    *cmd,
                ]
            print(
                f"{args.notices} notices, batch size {args.batch_size}, "
                f"{'PostgreSQL' if args.postgres else 'SQLite'}, load {load_now()}",
                flush=True,
            )
            port = api.rsplit(":", 1)[1].split("/")[0]
            servers = pids_of("prefect", "server", "start", f"--port {port}")
            cpu_before = {pid: cpu_seconds(pid) for pid in servers}
            own_before = time.process_time()
            started = time.monotonic()
            dispatcher = subprocess.Popen(
                cmd,
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            code = (
                "import asyncio, json, bench.notifications as b\n"
                f"print(json.dumps(asyncio.run(b.outcome({tag!r}))))\n"
            )
            deadline = started + args.timeout
            last = -1
            while time.monotonic() < deadline:
                time.sleep(2)
                if dispatcher.poll() is not None:
                    raise RuntimeError(log.read_text()[-4000:])
                seen = len(fake.accepted_at)
                if seen >= args.notices and seen == last:
                    status = json.loads(in_app(app, code))["status"]
                    if status.get("done", 0) + status.get("failed", 0) >= args.notices:
                        break
                last = seen
                print(f"  {time.monotonic() - started:6.1f} s: {seen} accepted", flush=True)
            ended = time.monotonic()
            cpu = {
                "dispatcher": sum(
                    cpu_seconds(pid) for pid in [dispatcher.pid, *child_pids(dispatcher.pid)]
                ),
                "Prefect server": sum(cpu_seconds(p) - c for p, c in cpu_before.items()),
                "fake WeCom (this process)": time.process_time() - own_before,
            }
            state = json.loads(in_app(app, code))
            runs = flow_runs(api)
        report(args, fake, state, runs, started, ended, cpu)
    finally:
        if dispatcher is not None and dispatcher.poll() is None:
            os.killpg(dispatcher.pid, 2)
            try:
                dispatcher.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(dispatcher.pid, 9)
        fake.stop()
        app.stop()
        if args.keep:
            print(f"logs: {data}", flush=True)
        shutil.rmtree(home, ignore_errors=True)


def child_pids(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []
    return [int(c) for c in children] + [g for c in children for g in child_pids(int(c))]


def report(
    args: argparse.Namespace,
    fake: TimedWeChat,
    state: dict[str, Any],
    runs: Counter[str],
    started: float,
    ended: float,
    cpu: dict[str, float],
) -> None:
    sends = [r for r in fake.requests if r.path == SEND and r.accepted]
    per_case = Counter(
        int(r.body["text"]["content"].split("#", 1)[1].split("：", 1)[0]) for r in sends
    )
    expected = set(range(CASE_BASE, CASE_BASE + args.notices))
    lost = len(expected - set(per_case))  # never accepted by the fake
    not_done = sum(n for s, n in state["status"].items() if s != "done")
    doubled = sum(n - 1 for n in per_case.values() if n > 1)
    times = sorted(fake.accepted_at)
    window = (times[-1] - times[0]) if len(times) > 1 else 0.0
    wall = ended - started
    print(
        f"rows {state['status']} ({not_done} not done); accepted sends {len(sends)}; "
        f"lost {lost}; doubled "
        f"{doubled} (delivery log: {state['duplicates']} possible duplicate(s))\n"
        f"dispatcher start → last row done {wall:.1f} s: {args.notices / wall:.1f} notices/s; "
        f"first → last send {window:.1f} s: "
        f"{(len(times) - 1) / window if window else 0:.1f} notices/s\n"
        f"Prefect: {runs['flow runs']} flow runs, {runs['task runs']} task runs; "
        f"load {load_now()}\n"
        "CPU per notice: "
        + ", ".join(f"{name} {1000 * sec / args.notices:.1f} ms" for name, sec in cpu.items())
        + f"; together {1000 * sum(cpu.values()) / args.notices:.1f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--notices", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument("--timeout", type=float, default=1800)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
