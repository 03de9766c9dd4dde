"""Session fixtures for the flow tests: a real Prefect server (SQLite, temporary home, free
port, started once), a real SMTP server and a webhook recorder on loopback, a TCP proxy in
front of Prefect that a test can switch off, and the real dispatcher as a subprocess.

Use it from a test module with ``pytest_plugins = ["tests.prefect_fixtures"]`` (one plugin,
so the session fixtures are shared, not started once per module). Subprocesses inherit
``os.environ``, where ``tests/conftest.py`` put the test database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, free_port, wait_http
from tests.fakes.http import FakeHttp
from tests.fakes.proxy import TcpProxy
from tests.fakes.smtp import FakeSmtp

# Short waits so that a test sees retries, backoff and final failure in seconds.
FAST_DISPATCH = {
    "AIMIS_DISPATCH_POLL_SECONDS": "0.2",
    "AIMIS_DISPATCH_RETRY_DELAYS": "[0.2, 0.2]",
    "AIMIS_DISPATCH_BACKOFF_SECONDS": "0.5",
    "AIMIS_DISPATCH_MAX_ATTEMPTS": "3",
    "AIMIS_DISPATCH_LEASE_SECONDS": "3",
    "AIMIS_DISPATCH_PREFECT_WAIT_SECONDS": "0.5",
    "AIMIS_DISPATCH_RUN_TIMEOUT_SECONDS": "10",
}


def prefect_env(api_url: str, home: Path) -> dict[str, str]:
    """The environment of a process that talks to the test Prefect server."""
    return {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,
        "AIMIS_PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 10) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture(scope="session")
def prefect_home() -> Iterator[Path]:
    """PREFECT_HOME of the server and its clients: its database, the processes' logs."""
    home = Path(tempfile.mkdtemp(prefix="aimis-test-prefect-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_api(prefect_home: Path) -> Iterator[str]:
    """``prefect server start`` on a free port with a temporary home and SQLite database."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    env = {
        **prefect_env(url, prefect_home),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home}/prefect.db",
        "PREFECT_UI_ENABLED": "false",
    }
    log = prefect_home / "server.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_http(f"{url}/health", proc, log, timeout=120)
    yield url
    stop_group(proc)


@pytest.fixture(scope="session")
def prefect_proxy(prefect_api: str) -> Iterator[TcpProxy]:
    """The dispatcher reaches Prefect through this; ``down()`` is a Prefect outage."""
    proxy = TcpProxy(int(prefect_api.rsplit(":", 1)[1].split("/")[0]), free_port())
    proxy.up()
    yield proxy
    proxy.close()


@pytest.fixture(scope="session")
def smtp() -> Iterator[FakeSmtp]:
    server = FakeSmtp(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ops_http() -> Iterator[FakeHttp]:
    server = FakeHttp()
    server.start()
    yield server
    server.stop()


async def retire_leftovers() -> int:
    """Mark the outbox work earlier test modules left (no dispatcher ran there) failed, so a
    new dispatcher starts idle instead of running hundreds of unrelated flows first."""
    from flows.dispatcher import KINDS
    from store.tables import Outbox
    from store.uow import now

    retired = (
        await Outbox.update(
            {
                Outbox.status: "failed",
                Outbox.error: "left by an earlier test module; retired before a dispatcher started",
                Outbox.done_at: now(),
            }
        )
        .where(Outbox.kind.is_in(KINDS), Outbox.status.is_in(["pending", "running"]))
        .returning(Outbox.id)
    )
    return len(retired)


async def wait_until_idle(process: DispatcherProcess, within: float = 180) -> None:
    from flows.dispatcher import KINDS
    from store.tables import Outbox
    from store.uow import now

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        busy = await Outbox.count().where(
            Outbox.kind.is_in(KINDS),
            (Outbox.status == "running")
            | ((Outbox.status == "pending") & (Outbox.next_at <= now())),
        )
        if not busy:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError(f"the dispatcher did not catch up:\n{process.output()[-4000:]}")


class DispatcherProcess:
    """``aimis dispatcher`` in its own process group; ``kill()`` is a crash (SIGKILL)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aimis.cli", "dispatcher"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"dispatcher: polling" in self.log.read_bytes()[offset:]:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"the dispatcher did not start:\n{self.output()[-4000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        stop_group(self.proc, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def start_idle(process: DispatcherProcess) -> None:
    """Start a module's dispatcher with no earlier module's work waiting (see retire_leftovers;
    a restart inside a test calls ``process.start()``: its rows must survive)."""
    asyncio.run(retire_leftovers())
    process.start()
    asyncio.run(wait_until_idle(process))


@pytest.fixture(scope="module")
def dispatcher(
    database: str,
    prefect_home: Path,
    prefect_proxy: TcpProxy,
    smtp: FakeSmtp,
    ops_http: FakeHttp,
) -> Iterator[DispatcherProcess]:
    api = f"http://127.0.0.1:{prefect_proxy.port}/api"
    env = {
        **prefect_env(api, prefect_home),
        **FAST_DISPATCH,
        "AIMIS_SMTP_URL": smtp.url,
        "AIMIS_NOTIFY_LOG_URL": f"json://127.0.0.1:{ops_http.port}/ops",
    }
    process = DispatcherProcess(env, prefect_home / f"dispatcher-{free_port()}.log")
    start_idle(process)
    yield process
    process.stop()


@pytest.fixture(scope="session")
def flow_runs(prefect_api: str) -> Callable[[str], list[dict]]:
    """Flow runs of a name, oldest first, from Prefect's REST API."""

    def find(name: str) -> list[dict]:
        res = httpx.post(
            f"{prefect_api}/flow_runs/filter",
            json={"flow_runs": {"name": {"any_": [name]}}, "sort": "START_TIME_ASC"},
            timeout=10,
        )
        res.raise_for_status()
        return list(res.json())

    return find


@pytest.fixture(scope="session")
def run_flow(prefect_api: str, prefect_home: Path) -> Callable[[str], str]:
    """Run Python code that calls a flow, in a subprocess against the test Prefect server."""

    def run(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=prefect_env(prefect_api, prefect_home),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
        return done.stdout

    return run
