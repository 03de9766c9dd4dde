"""Transition latency (DESIGN.md "One transition, end to end"): from client A's click to
client B's browser, on SQLite and on PostgreSQL, idle and with 50 pairs of clients at once;
and, for comparison, the same change made by a served Prefect flow through ``run_deployment``.

The transition is the reviewer changing the expert of a department (``adjust_expert``: the
machine's step through ``store.engine.apply`` — version check, history row, notify outbox
row, live events, audit row — then the publish after the commit). Client A (the reviewer,
dr.wang) posts ``/api/consultations/{id}/expert``, alternating dr.wang and dr.li; client B
(the applicant, dr.chen) has ``/ws`` open, subscribed to ``case:consultation:{id}``. One
sample: from A's request leaving to B's event (of that version) arriving.

    uv run python bench/transition_latency.py              # everything, ~5-8 minutes
    uv run python bench/transition_latency.py --db sqlite --iterations 200 --runs 3
    uv run python -m bench.transition_latency --db sqlite --runs 0 --profile /tmp/prof

``--profile DIR``: py-spy (on the PATH) records the app's process during the busy part into
``DIR/<db>.txt`` (collapsed stacks, one line per stack with its sample count).

The app runs as ``aimis serve`` in its own process on a scratch data folder (SQLite) or a
scratch database on the local PostgreSQL (127.0.0.1:5432, user postgres), created and dropped
here. The deployment part starts its own Prefect server (SQLite) and serves this module's
flow; it uses the SQLite app database only (the Prefect round trip dominates) and far fewer
runs, since each takes seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import websockets
from prefect import flow

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PASSWORD = "Demo@2026"  # aimis.demo.DEMO_PASSWORD
FLOW_NAME = "bench-adjust-expert"
APP_PID: list[int] = []  # the app's process, for --profile


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Figures:
    label: str
    samples: list[float]
    seconds: float
    failed: int = 0  # requests answered with an error (not in the samples)

    def line(self) -> str:
        ms = [s * 1000 for s in self.samples]
        return (
            f"{self.label:<44} n={len(ms):>5}  p50 {statistics.median(ms):8.1f} ms  "
            f"p99 {percentile(ms, 99):8.1f} ms  max {max(ms):8.1f} ms  "
            f"({len(ms) / self.seconds:.0f}/s)" + (f"  failed {self.failed}" if self.failed else "")
        )


# --- the app under test -----------------------------------------------------------------------


def run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.stdout


def pg(sql: str) -> None:
    code = (
        "import asyncio, asyncpg, sys\n"
        "async def main():\n"
        f"    c = await asyncpg.connect({PG_ADMIN!r})\n"
        "    await c.execute(sys.argv[1])\n"
        "    await c.close()\n"
        "asyncio.run(main())\n"
    )
    run([sys.executable, "-c", code, sql], dict(os.environ))


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError(f"{url} did not answer:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


IDS = """
import asyncio, json, store
from store.tables import Department, User
async def main():
    users = {r["username"]: r["id"] for r in await User.select(User.id, User.username)}
    dept = await Department.select(Department.id).where(
        Department.hospital.code == "CITY", Department.name.like("Radiology%")).first()
    print(json.dumps({"users": users, "department": dept["id"]}))
asyncio.run(main())
"""


@contextlib.contextmanager
def app(db: str) -> Iterator[tuple[str, dict[str, str], dict[str, Any]]]:
    """A migrated database with the demo, and ``aimis serve`` on it: (url, env, ids)."""
    data = Path(tempfile.mkdtemp(prefix="aimis-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "AIMIS_DATA_DIR": str(data),
        "AIMIS_PORT": str(port),
        "AIMIS_HOST": "127.0.0.1",
        "AIMIS_PREFECT_API_URL": "http://127.0.0.1:9/api",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("AIMIS_REDIS_URL", None)
    name = f"aimis_bench_{uuid.uuid4().hex[:8]}"
    if db == "postgres":
        pg(f'CREATE DATABASE "{name}"')
        env["AIMIS_DATABASE_URL"] = f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    else:
        env.pop("AIMIS_DATABASE_URL", None)
    log = data / "web.log"
    proc = None
    try:
        run([sys.executable, "-m", "aimis.cli", "migrate"], env)
        run([sys.executable, "-m", "aimis.cli", "demo"], env)
        ids = json.loads(run([sys.executable, "-c", IDS], env).splitlines()[-1])
        proc = start([sys.executable, "-m", "aimis.cli", "serve"], env, log)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(f"{url}/health", proc, log, 60)
        APP_PID[:] = [proc.pid]
        try:
            yield url, env, ids
        except Exception:
            print(f"the app's log ends:\n{log.read_text()[-6000:]}", file=sys.stderr)
            raise
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        text = log.read_text(errors="replace") if log.exists() else ""
        errors = [ln for ln in text.splitlines() if "Error" in ln]
        if errors:
            print(f"{db}: {len(errors)} error lines in the app's log, e.g. {errors[-1][:300]}")
        if db == "postgres":
            pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(data, ignore_errors=True)


class Client:
    """An httpx client with a logged-in session and the CSRF header, like the UI."""

    def __init__(self, url: str, cookies: httpx.Cookies | None = None) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=60, cookies=cookies)

    async def login(self, username: str) -> Client:
        await self.http.get("/login")
        res = await self.post("/api/auth/login", {"identifier": username, "password": PASSWORD})
        res.raise_for_status()
        return self

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        token = self.http.cookies.get("csrftoken") or ""
        return await self.http.post(path, json=body, headers={"x-csrftoken": token})

    def cookie_header(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())}


@dataclass
class Pair:
    """A's consultation and B's socket on it."""

    reviewer: Client
    ws: Any
    consultation_id: int
    version: int
    department_id: int
    experts: tuple[int, int]
    turn: int = 0

    def next_expert(self) -> int:
        self.turn += 1
        return self.experts[self.turn % 2]


@contextlib.asynccontextmanager
async def open_pair(
    url: str, ids: dict[str, Any], applicant: Client, reviewer: Client
) -> AsyncIterator[Pair]:
    department = ids["department"]
    made = await applicant.post(
        "/api/consultations",
        {
            "topic": "bench",
            "scheduled_at": (datetime.now(UTC) + timedelta(days=7)).isoformat(),
            "invites": [{"department_id": department, "mandatory": False}],
            "patient": {"name": "bench"},
        },
    )
    made.raise_for_status()
    cid = made.json()["id"]
    async with websockets.connect(
        url.replace("http://", "ws://") + "/ws", additional_headers=applicant.cookie_header()
    ) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": [f"case:consultation:{cid}"]}))
        assert json.loads(await ws.recv())["op"] == "subscribed"
        users = ids["users"]
        yield Pair(
            reviewer,
            ws,
            cid,
            made.json()["version"],
            department,
            (users["dr.wang"], users["dr.li"]),
        )


async def await_version(ws: Any, consultation_id: int, version: int) -> float:
    """Wait for the case's event of ``version``; returns when it arrived."""
    while True:
        event = json.loads(await asyncio.wait_for(ws.recv(), 120))
        payload = event.get("payload", {})
        if payload.get("case_id") == consultation_id and payload.get("version") == version:
            return time.perf_counter()


class Refused(Exception):
    """The app answered the transition with an error."""


async def transition(pair: Pair) -> float:
    started = time.perf_counter()
    res = await pair.reviewer.post(
        f"/api/consultations/{pair.consultation_id}/expert",
        {
            "department_id": pair.department_id,
            "user_id": pair.next_expert(),
            "version": pair.version,
        },
    )
    if res.status_code != 200:  # rolled back: the next try uses the same version
        raise Refused(f"{res.status_code}: {res.text[:200]}")
    pair.version = res.json()["version"]
    await await_version(pair.ws, pair.consultation_id, pair.version)
    return time.perf_counter() - started


@contextlib.contextmanager
def profiled(out: Path | None) -> Iterator[None]:
    """py-spy records the app's process while the block runs (nothing when ``out`` is None)."""
    if out is None:
        yield
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen(
        [
            *("py-spy", "record", "--pid", str(APP_PID[0]), "--format", "raw"),
            *("--rate", "250", "--output", str(out), "--nonblocking", "--subprocesses"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            spy.wait(30)
        if spy.poll() is None:
            spy.kill()


async def measure_app(
    db: str, iterations: int, clients: int, per_client: int, profile: Path | None = None
) -> list[Figures]:
    figures = []
    with app(db) as (url, _env, ids):
        applicant = await Client(url).login("dr.chen")
        reviewer = await Client(url).login("dr.wang")
        # Idle: one pair, one transition after another.
        async with contextlib.AsyncExitStack() as stack:
            pair = await stack.enter_async_context(open_pair(url, ids, applicant, reviewer))
            for _ in range(20):  # warm-up
                await transition(pair)
            began = time.perf_counter()
            samples = [await transition(pair) for _ in range(iterations)]
            figures.append(Figures(f"{db}: idle, 1 pair", samples, time.perf_counter() - began))
        # Busy: `clients` pairs at once, each on its own consultation and its own connections.
        async with contextlib.AsyncExitStack() as stack:
            pairs = []
            for _ in range(clients):
                a = Client(url, reviewer.http.cookies)
                b = Client(url, applicant.http.cookies)
                stack.push_async_callback(a.http.aclose)
                stack.push_async_callback(b.http.aclose)
                pairs.append(await stack.enter_async_context(open_pair(url, ids, b, a)))

            failures: list[str] = []

            async def loop(pair: Pair) -> list[float]:
                samples = []
                for _ in range(per_client):
                    try:
                        samples.append(await transition(pair))
                    except Refused as exc:
                        failures.append(str(exc))
                return samples

            with profiled(profile / f"{db}.txt" if profile else None):
                began = time.perf_counter()
                results = await asyncio.gather(*(loop(p) for p in pairs))
                spent = time.perf_counter() - began
            samples = [s for r in results for s in r]
            figures.append(Figures(f"{db}: {clients} pairs at once", samples, spent, len(failures)))
            if failures:
                print(f"{len(failures)} failed, e.g. {failures[0]}", file=sys.stderr)
        await applicant.http.aclose()
        await reviewer.http.aclose()
    return figures


# --- the same change through run_deployment ----------------------------------------------------


@flow(name=FLOW_NAME, persist_result=False)
async def adjust_expert_by_flow(
    consultation_id: int, department_id: int, expert_id: int, reviewer_id: int
) -> int:
    """The reviewer's expert change, made by a flow run: same service, same transaction."""
    from api.consultations.actions import adjust_expert
    from api.consultations.schemas import ExpertIn
    from store.tables import Consultation
    from store.uow import Ctx, actor_for

    actor = await actor_for(reviewer_id, realm="doctor")
    row = (
        await Consultation.select(Consultation.version)
        .where(Consultation.id == consultation_id)
        .first()
    )
    assert row is not None
    done = await adjust_expert(
        Ctx(actor=actor, ip="prefect", user_agent="bench"),
        consultation_id,
        ExpertIn(department_id=department_id, user_id=expert_id, version=row["version"]),
    )
    assert done.version is not None
    return done.version


def serve_flow() -> None:
    """``--serve``: serve the flow above (runs in its own process, like a worker)."""
    sys.path.insert(0, str(ROOT))

    adjust_expert_by_flow.serve(name="bench", print_starting_message=False)


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[dict[str, str]]:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api,
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
    }
    log = home / "server.log"
    proc = start(
        [sys.executable, "-m", "prefect", "server", "start", "--port", str(port)], env, log
    )
    try:
        wait_healthy(f"{api}/health", proc, log, 120)
        yield env
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)


@contextlib.contextmanager
def served(env: dict[str, str], poll_seconds: int | None) -> Iterator[None]:
    env = {**env, "PYTHONPATH": str(ROOT)}
    if poll_seconds is not None:
        env["PREFECT_RUNNER_POLL_FREQUENCY"] = str(poll_seconds)
    log = Path(env["PREFECT_HOME"]) / f"serve-{poll_seconds}.log"
    proc = start([sys.executable, str(Path(__file__).resolve()), "--serve"], env, log)
    try:
        deadline = time.monotonic() + 60
        while b"bench" not in log.read_bytes() and time.monotonic() < deadline:
            # serve() registers the deployment, then polls; give it its first poll
            time.sleep(0.5)
            with contextlib.suppress(httpx.HTTPError):
                res = httpx.get(
                    f"{env['PREFECT_API_URL']}/deployments/name/{FLOW_NAME}/bench", timeout=2
                )
                if res.status_code == 200:
                    break
        time.sleep(2)
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(15)


async def measure_deployment(runs: int) -> list[Figures]:
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    figures = []
    with app("sqlite") as (url, app_env, ids):
        home = Path(tempfile.mkdtemp(prefix="aimis-bench-prefect-"))
        applicant = await Client(url).login("dr.chen")
        reviewer = await Client(url).login("dr.wang")
        try:
            with (
                prefect_server(home) as prefect_env,
                temporary_settings({PREFECT_API_URL: prefect_env["PREFECT_API_URL"]}),
            ):
                env = {**app_env, **prefect_env}
                for poll in (None, 1):
                    with served(env, poll):
                        async with open_pair(url, ids, applicant, reviewer) as pair:
                            done, seen = [], []
                            began = time.perf_counter()
                            for _ in range(runs):
                                started = time.perf_counter()
                                arrival = asyncio.create_task(
                                    await_version(pair.ws, pair.consultation_id, pair.version + 1)
                                )
                                run_ = await run_deployment(  # type: ignore[misc]
                                    f"{FLOW_NAME}/bench",
                                    parameters={
                                        "consultation_id": pair.consultation_id,
                                        "department_id": pair.department_id,
                                        "expert_id": pair.next_expert(),
                                        "reviewer_id": ids["users"]["dr.wang"],
                                    },
                                    timeout=120,
                                    poll_interval=0.2,  # its default, 5 s, would dominate
                                )
                                done.append(time.perf_counter() - started)
                                if run_.state is None or not run_.state.is_completed():
                                    raise RuntimeError(f"flow run ended {run_.state}")
                                seen.append(await arrival - started)
                                pair.version += 1
                            spent = time.perf_counter() - began
                            what = "default 10 s" if poll is None else f"{poll} s"
                            figures.append(
                                Figures(f"run_deployment, runner poll {what}: done", done, spent)
                            )
                            figures.append(
                                Figures(f"run_deployment, runner poll {what}: at B", seen, spent)
                            )
        finally:
            await applicant.http.aclose()
            await reviewer.http.aclose()
            shutil.rmtree(home, ignore_errors=True)
    return figures


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


async def main(args: argparse.Namespace) -> None:
    print(f"machine: {machine()}", flush=True)
    print("load average before: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()), flush=True)
    began = time.monotonic()
    for db in args.db.split(","):
        figures = await measure_app(
            db, args.iterations, args.clients, args.per_client, args.profile
        )
        for f in figures:
            print(f.line(), flush=True)
    if args.runs:
        for f in await measure_deployment(args.runs):
            print(f.line(), flush=True)
    print("load average after: {:.1f} {:.1f} {:.1f}".format(*os.getloadavg()))
    print(f"total {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--iterations", type=int, default=1000, help="idle transitions")
    parser.add_argument("--clients", type=int, default=50, help="pairs at once")
    parser.add_argument("--per-client", type=int, default=20, help="transitions per pair")
    parser.add_argument("--runs", type=int, default=5, help="run_deployment runs per setting")
    parser.add_argument("--profile", type=Path, help="py-spy the busy part into this folder")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.serve:
        serve_flow()
    else:
        asyncio.run(main(ns))
