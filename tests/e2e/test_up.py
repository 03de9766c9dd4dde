"""``aimis up`` as a person runs it: one command, everything up, Ctrl-C, nothing left over.

Runs the real command with its own data folder (SQLite) and free ports: the Prefect server
and its dashboard, the scheduled deployments of prefect.yaml, the web app, the dispatcher
(a reset code for a demo user shows in the console), a crashed child restarted, a second
start that neither reloads the demo nor re-registers unchanged deployments.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from aimis.up import alive, descendants
from tests.conftest import TEST_DB, free_port, start_process

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        TEST_DB != "sqlite", reason="`aimis up` runs the embedded default: the SQLite run covers it"
    ),
]


class Up:
    def __init__(self, data_dir: Path) -> None:
        self.port, self.prefect_port = free_port(), free_port()
        self.log = data_dir / "up.log"
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("PREFECT_")
            and key not in ("AIMIS_DATABASE_URL", "AIMIS_PREFECT_API_URL")
        }
        self.env |= {
            "AIMIS_DATA_DIR": str(data_dir),
            "AIMIS_HOST": "127.0.0.1",
            "AIMIS_PORT": str(self.port),
            "AIMIS_PREFECT_PORT": str(self.prefect_port),
        }
        self.proc: subprocess.Popen | None = None

    def start(self) -> float:
        started = time.monotonic()
        self.proc = start_process(
            [sys.executable, "-m", "aimis.cli", "up"], self.env, self.log, append=True
        )
        self.wait_for("AIMIS is up", within=240, after=self.log.stat().st_size)
        return time.monotonic() - started

    def output(self, after: int = 0) -> str:
        return self.log.read_bytes()[after:].decode(errors="replace")

    def wait_for(self, pattern: str, within: float, after: int = 0) -> re.Match:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if found := re.search(pattern, self.output(after), re.MULTILINE):
                return found
            assert self.proc is not None
            assert self.proc.poll() is None, self.output()[-5000:]
            time.sleep(0.2)
        raise AssertionError(f"{pattern!r} not printed:\n{self.output()[-5000:]}")

    def stop(self) -> list[int]:
        """Ctrl-C; returns the processes that were running under it."""
        assert self.proc is not None
        children = descendants(self.proc.pid)
        os.kill(self.proc.pid, signal.SIGINT)
        assert self.proc.wait(60) == 0, self.output()[-5000:]
        return children

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for pid in descendants(self.proc.pid):
                os.kill(pid, signal.SIGKILL)
            self.proc.kill()
            self.proc.wait()


def test_aimis_up_runs_everything_and_stops_cleanly(tmp_path: Path) -> None:
    up = Up(tmp_path)
    try:
        first = up.start()
        print(f"first start: {first:.1f} s")
        out = up.output()
        assert "Demo accounts" in out and "dr.wang" in out and "alliance.admin" in out
        base = f"http://127.0.0.1:{up.port}"
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200

        dashboard = httpx.get(f"http://127.0.0.1:{up.prefect_port}/", timeout=10)
        assert dashboard.status_code == 200 and "<html" in dashboard.text.lower()
        api = f"http://127.0.0.1:{up.prefect_port}/api"
        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
        [unfreeze] = [d for d in deployments if d["name"] == "unfreeze-accounts"]
        schedules = {s["slug"]: s["schedule"] for s in unfreeze["schedules"]}
        assert schedules["midnight-shanghai"]["cron"] == "0 0 * * *"
        assert schedules["midnight-shanghai"]["timezone"] == "Asia/Shanghai"
        assert schedules["safety-every-15-min"]["interval"] == 900
        assert unfreeze["work_pool_name"] == "aimis"

        # A demo user without e-mail: the code shows in the console, from the dispatcher.
        mark = len(up.log.read_bytes())
        with httpx.Client(base_url=base, timeout=10) as client:
            client.get("/login")
            res = client.post(
                "/api/auth/forgot",
                json={"identifier": "dr.li"},
                headers={"x-csrftoken": client.cookies.get("csrftoken") or ""},
            )
        assert res.status_code == 202
        up.wait_for(r"^dispatcher +\| .*message for dr\.li .*\b\d{6}\b", within=30, after=mark)

        # A crashed child is reported and started again.
        assert up.proc is not None
        [dispatcher] = [
            pid
            for pid in descendants(up.proc.pid)
            if b"dispatcher" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        mark = len(up.log.read_bytes())
        os.kill(dispatcher, signal.SIGKILL)
        up.wait_for(r"dispatcher exited with code -9", within=10, after=mark)
        up.wait_for(r"^dispatcher +\| .*dispatcher: polling", within=60, after=mark)

        children = up.stop()
        assert len(children) >= 4  # prefect server, web app, dispatcher, worker
        time.sleep(0.5)
        assert [pid for pid in children if alive(pid)] == []

        # The second start: no demo reload, no re-registration, the same data.
        mark = len(up.log.read_bytes())
        second = up.start()
        print(f"second start: {second:.1f} s")
        again = up.output(mark)
        assert "loading the demo" not in again and "Demo accounts" in again
        assert "unchanged since the last start" in again
        children = up.stop()
        time.sleep(0.5)
        assert [pid for pid in children if alive(pid)] == []
    finally:
        up.kill()
