"""AIMIS, the side under test: the real app started the way ``tests/conftest.py`` starts it —
its own data folder, a migrated SQLite database (or a fresh PostgreSQL one with
``postgres=True``), the demo data loaded through the CLI, ``aimis serve`` on a free
loopback port, an API token for a demo doctor made by his admin over HTTP (DICOMweb
clients send it as ``Authorization: Bearer``) — plus the C-STORE receiver (``aimis scp``)
with the benchmark's calling AE registered by the admin as a known DICOM node.

Nothing is started through ``aimis up``: no Prefect server, so the work queued after a
file is indexed (thumbnails, billing, notices) waits in the outbox and costs nothing
during the measurement — the same as Orthanc, which has no such steps.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.clients import Peer
from bench.measure import Server
from bench.orthanc import SCU_AET, free_port
from bench.waiting import http_up

ROOT = Path(__file__).resolve().parent.parent
DEMO_USER = "dr.wang"  # a CITY radiologist
DEMO_ADMIN = "admin.city"
DEMO_PASSWORD = "Demo@2026"
PG_ADMIN_URL = os.environ.get("AIMIS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_admin(sql: str) -> None:
    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(PG_ADMIN_URL)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


@dataclass
class Aimis(Server):
    """A running AIMIS web app (and C-STORE receiver when ``scp``)."""

    data_dir: Path
    postgres: bool = False
    scp: bool = False
    keep_data: bool = False
    # what-if experiments only: a journal mode set on the SQLite file before the app starts
    # ("wal": what store/db.py would get from the fix proposed in /tmp/bench-findings.md)
    sqlite_journal: str = ""
    port: int = 0
    dicom_port: int = 0
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    _pg_name: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicomweb"

    @property
    def ae_title(self) -> str:
        return self.env.get("AIMIS_DICOM_AE_TITLE", "AIMIS")

    def peer(self) -> Peer:
        return Peer(
            "AIMIS",
            self.dicomweb,
            dict(self.headers),
            dict(self.cookies),
            self.dicom_port,
            self.ae_title,
        )

    def cli(self, *args: str, timeout: float = 600, echo: bool = False) -> str:
        """Run ``aimis <args>`` (or ``python -m <module>`` with ``-m``) in the app's env;
        ``echo`` lets its output through as it comes."""
        cmd = [sys.executable, "-m", *(args[1:] if args[0] == "-m" else ["aimis.cli", *args])]
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=None if echo else subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout,
        )
        if proc.returncode:
            raise RuntimeError(
                f"{' '.join(args)} failed:\n{(proc.stdout or '')[-2000:]}{proc.stderr[-4000:]}"
            )
        return proc.stdout or ""

    def prepare(self, *, skip_db: bool = False) -> None:
        """Environment, database, migrations and demo data (no server yet); with
        ``skip_db`` only the environment (the data folder holds a prepared database)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port, self.dicom_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIMIS_")}
        env.update(
            {
                "AIMIS_DATA_DIR": str(self.data_dir),
                "AIMIS_HOST": "127.0.0.1",
                "AIMIS_PORT": str(self.port),
                "AIMIS_DICOM_PORT": str(self.dicom_port),
                "AIMIS_DICOM_HOST": "127.0.0.1",
                "AIMIS_PREFECT_API_URL": "http://127.0.0.1:9/api",  # none: outbox work waits
                "PICCOLO_CONF": "store.piccolo_conf",
            }
        )
        if self.postgres:
            if not self._pg_name:
                self._pg_name = f"aimis_bench_{uuid.uuid4().hex[:10]}"
                _pg_admin(f'CREATE DATABASE "{self._pg_name}"')
            env["AIMIS_DATABASE_URL"] = f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{self._pg_name}"
        self.env = env
        if skip_db:
            return
        self.cli("migrate")
        self.cli("demo")

    def start(self, *, prepared: bool = False) -> Aimis:
        try:
            return self._start(prepared)
        except BaseException:
            self.stop()  # nothing left running when the start fails half way
            raise

    def _start(self, prepared: bool) -> Aimis:
        if not prepared:
            self.prepare()
        if self.sqlite_journal and not self.postgres:
            import sqlite3

            with sqlite3.connect(self.data_dir / "aimis.sqlite") as db:
                db.execute(f"PRAGMA journal_mode={self.sqlite_journal}")
        self._spawn("web", ["serve"])
        self._wait_http(f"{self.url}/health", "web")
        self.login()
        if self.scp:
            self._spawn("scp", ["scp"])
            self._wait_port(self.dicom_port, "scp")
        return self

    def _spawn(self, name: str, args: list[str]) -> None:
        log = self.data_dir / f"{name}.log"
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "aimis.cli", *args],
            cwd=ROOT,
            env=self.env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def _check_alive(self, name: str) -> None:
        if self.procs[name].poll() is not None:
            log = (self.data_dir / f"{name}.log").read_text()[-4000:]
            raise RuntimeError(f"aimis {name} exited early:\n{log}")

    def _wait_http(self, url: str, name: str, timeout: float = 90) -> None:
        if not http_up(url, lambda: self._check_alive(name), timeout):
            raise RuntimeError(f"{url} did not come up within {timeout} s")

    def _wait_port(self, port: int, name: str, timeout: float = 60) -> None:
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(name)
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"aimis {name} did not listen on {port} within {timeout} s")

    def login(self) -> None:
        """An API token for a demo doctor, created by his hospital's admin over HTTP — what a
        DICOMweb client (a PACS, a script) sends as ``Authorization: Bearer``."""
        with httpx.Client(base_url=self.url, timeout=30) as http:
            http.get("/login")
            csrf = {"x-csrftoken": http.cookies.get("csrftoken") or ""}
            res = http.post(
                "/api/auth/admin-login",
                json={"identifier": DEMO_ADMIN, "password": DEMO_PASSWORD},
                headers=csrf,
            )
            res.raise_for_status()
            user_id = self.query_one("SELECT id FROM app_user WHERE username = $1", DEMO_USER)
            res = http.post(
                "/api/tokens/",
                json={"user_id": user_id, "name": "benchmark"},
                headers={"x-csrftoken": http.cookies.get("csrftoken") or ""},
            )
            res.raise_for_status()
            self.headers = {"Authorization": f"Bearer {res.json()['token']}"}
            if self.scp:  # the benchmark's storescu, a known node of the doctor's hospital
                res = http.post(
                    "/api/ingest/nodes",
                    json={"ae_title": SCU_AET, "host": "127.0.0.1", "description": "bench"},
                    headers={"x-csrftoken": http.cookies.get("csrftoken") or ""},
                )
                res.raise_for_status()

    def query_one(self, sql: str, *params: object) -> object:
        """One value read straight from the app's database (``$1`` placeholders)."""
        if self.postgres:

            async def run() -> object:
                import asyncpg

                conn = await asyncpg.connect(self.env["AIMIS_DATABASE_URL"])
                try:
                    return await conn.fetchval(sql, *params)
                finally:
                    await conn.close()

            return asyncio.run(run())
        import re
        import sqlite3

        with sqlite3.connect(self.data_dir / "aimis.sqlite", timeout=30) as db:
            return db.execute(re.sub(r"\$\d+", "?", sql), params).fetchone()[0]

    def count_instances(self) -> int:
        """Stored instances (current revisions), read straight from the app's database."""
        return int(self.query_one("SELECT count(*) FROM instance WHERE NOT superseded"))  # type: ignore[call-overload]

    def wait_instances(self, expected: int, stall: float = 30) -> float:
        """Block until ``expected`` instances are indexed; returns ``time.perf_counter()`` then.
        Gives up when the count has not moved for ``stall`` seconds."""
        last, moved = -1, time.monotonic()
        while True:
            count = self.count_instances()
            if count >= expected:
                return time.perf_counter()
            if count != last:
                last, moved = count, time.monotonic()
            elif time.monotonic() - moved > stall:
                logs = "".join((self.data_dir / f"{n}.log").read_text()[-1500:] for n in self.procs)
                raise RuntimeError(f"only {count}/{expected} indexed; logs:\n{logs}")
            time.sleep(0.05)

    def stop(self) -> None:
        for name, proc in reversed(list(self.procs.items())):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(10)
            del self.procs[name]
        if self._pg_name:
            _pg_admin(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')
            self._pg_name = ""
        if not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def add_journal_option(parser: argparse.ArgumentParser) -> None:
    """``--aimis-sqlite-journal``, read as ``args.aimis_sqlite_journal`` (``temporary``'s
    ``sqlite_journal``)."""
    parser.add_argument(
        "--aimis-sqlite-journal",
        default="",
        help="what-if: set this SQLite journal mode (e.g. wal) on AIMIS's database first",
    )


def temporary(*, postgres: bool = False, scp: bool = False, sqlite_journal: str = "") -> Aimis:
    """An AIMIS on an empty temporary data folder (and database), removed when it stops."""
    data = Path(tempfile.mkdtemp(prefix="aimis-bench-app-"))
    return Aimis(data, postgres=postgres, scp=scp, sqlite_journal=sqlite_journal)


if __name__ == "__main__":
    with temporary() as app:
        print(f"AIMIS at {app.url}, DICOMweb {app.dicomweb}, data {app.data_dir}")
        print(httpx.get(f"{app.url}/health").text)
        input("Enter stops it … ")
