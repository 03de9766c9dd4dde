"""Test fixtures: a real app database (SQLite or PostgreSQL), the real app served over
loopback HTTP in its own process, and Debian's Chromium through Playwright.

``AIMIS_TEST_DB=postgres`` runs the whole suite on a fresh PostgreSQL database at
127.0.0.1:5432 (created here, dropped afterwards); the default is SQLite.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bench.waiting import http_up

# shared fixtures and factories (tests/README.md maps them)
pytest_plugins = ["tests.fixtures.hospitals", "tests.fixtures.prefect"]

ROOT = Path(__file__).resolve().parent.parent
TEST_DB = os.environ.get("AIMIS_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("AIMIS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

_data_dir = Path(tempfile.mkdtemp(prefix="aimis-test-"))
_pg_name = f"aimis_test_{uuid.uuid4().hex[:10]}"
os.environ["AIMIS_DATA_DIR"] = str(_data_dir)
os.environ.pop("AIMIS_REDIS_URL", None)
# Redis Pub/Sub is server-wide: each run (the SQLite and the PostgreSQL pass may run at the
# same time) publishes under its own prefix, so no test sees another run's events.
os.environ["AIMIS_REDIS_PREFIX"] = f"AIMIS_TEST_{uuid.uuid4().hex[:10]}"
# argon2id stays, at a test cost: the suite logs in thousands of times (production cost is
# ~70 ms a hash; tests/unit/test_security.py checks that default)
os.environ["AIMIS_PASSWORD_HASH_MEMORY_KIB"] = "8192"
os.environ["AIMIS_PASSWORD_HASH_TIME_COST"] = "1"
# the demo without its year of statistics examinations: lists stay as the tests know them
os.environ["AIMIS_DEMO_HISTORY_DAYS"] = "0"
# Rate limits (api/ratelimit.py) are kept per client address, and the suite fails logins by
# the hundred from 127.0.0.1: its app gets budgets it never reaches. The limits themselves
# are tested in an app started with the production defaults (tests/integration/conftest.py).
SUITE_LIMITS = {
    f"AIMIS_{name}": "1000000"
    for name in (
        "LOGIN_FAILURES_PER_ADDRESS",
        "LOGIN_FAILURES_PER_ACCOUNT",
        "FORGOT_PER_ADDRESS",
        "FORGOT_PER_ACCOUNT",
        "RESET_FAILURES_PER_ADDRESS",
        "PATIENT_CODES_PER_PHONE",
        "PATIENT_CODES_PER_ADDRESS",
        "PATIENT_LOGIN_FAILURES_PER_PHONE",
        "PATIENT_LOGIN_FAILURES_PER_ADDRESS",
    )
}
SUITE_LIMITS["AIMIS_PATIENT_CODE_INTERVAL_SECONDS"] = "1"  # a test asks one phone twice
os.environ.update(SUITE_LIMITS)
# The fake WeChat/WeCom/SMTP servers listen on loopback, which hospital channels may not
# reach without the operator's exception; tests/integration/test_notification_outbound.py
# starts its own app and dispatcher without it.
os.environ["AIMIS_NOTIFY_ALLOWED_HOSTS"] = "127.0.0.1"
os.environ.setdefault(
    "AIMIS_PREFECT_API_URL", "http://127.0.0.1:9/api"
)  # none unless a test starts one
# what `aimis` commands do at start (aimis.cli.main): Prefect, once imported, talks to ours
os.environ.setdefault("PREFECT_API_URL", os.environ["AIMIS_PREFECT_API_URL"])
if TEST_DB == "postgres":
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    os.environ["AIMIS_DATABASE_URL"] = f"{base}/{_pg_name}"
else:
    os.environ.pop("AIMIS_DATABASE_URL", None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _pg_admin(sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session", autouse=True)
def database() -> Iterator[str]:
    """A fresh, migrated app database for the whole run."""
    if TEST_DB == "postgres":
        asyncio.run(_pg_admin(f'CREATE DATABASE "{_pg_name}"'))
    from store.migrate import migrate

    asyncio.run(migrate())
    yield TEST_DB
    if TEST_DB == "postgres":
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{_pg_name}" WITH (FORCE)'))


def start_process(
    args: list[str], env: dict[str, str], log: Path, append: bool = False
) -> subprocess.Popen:
    """``args`` in its own session from the project folder, its output (after what ``log``
    holds, with ``append``) in ``log``."""
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdout=log.open("ab" if append else "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop_process(proc: subprocess.Popen, grace: float = 10) -> bool:
    """SIGTERM, then SIGKILL after ``grace`` seconds: whether it stopped on SIGTERM."""
    proc.terminate()
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return False
    return True


def start_scp(port: int, log: Path) -> subprocess.Popen:
    """``aimis scp`` on a loopback port, once its log says it is listening."""
    env = {**os.environ, "AIMIS_DICOM_PORT": str(port), "AIMIS_DICOM_HOST": "127.0.0.1"}
    proc = start_process([sys.executable, "-m", "aimis.cli", "scp"], env, log)
    deadline = time.monotonic() + 60
    while b"listening on" not in log.read_bytes():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"aimis scp did not start:\n{log.read_text()}")
        time.sleep(0.1)
    return proc


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    def check_alive() -> None:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log.read_text()[-4000:]}")

    if not http_up(url, check_alive, timeout):
        raise RuntimeError(f"{url} did not come up:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="session")
def app_url(database: str) -> Iterator[str]:
    """The real web app, in its own process, on a loopback port."""
    port = free_port()
    env = {**os.environ, "AIMIS_PORT": str(port), "AIMIS_HOST": "127.0.0.1"}
    log = _data_dir / "web.log"
    proc = start_process([sys.executable, "-m", "aimis.cli", "serve"], env, log)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc, log)
    yield url
    stop_process(proc)


class Api:
    """An httpx client that keeps cookies and sends the CSRF header like the UI does."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=30)

    async def csrf(self) -> str:
        token = self.http.cookies.get("csrftoken")
        if not token:
            await self.http.get("/login")
            token = self.http.cookies.get("csrftoken")
        return token or ""

    async def request(self, method: str, url: str, **kw: object) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers.setdefault("x-csrftoken", await self.csrf())
        return await self.http.request(method, url, headers=headers, **kw)  # type: ignore[arg-type]

    async def get(self, url: str, **kw: object) -> httpx.Response:
        return await self.request("GET", url, **kw)

    async def post(self, url: str, **kw: object) -> httpx.Response:
        return await self.request("POST", url, **kw)

    async def patch(self, url: str, **kw: object) -> httpx.Response:
        return await self.request("PATCH", url, **kw)

    async def put(self, url: str, **kw: object) -> httpx.Response:
        return await self.request("PUT", url, **kw)

    async def delete(self, url: str, **kw: object) -> httpx.Response:
        return await self.request("DELETE", url, **kw)

    async def login(self, username: str, password: str, admin: bool = False) -> httpx.Response:
        path = "/api/auth/admin-login" if admin else "/api/auth/login"
        res = await self.post(path, json={"identifier": username, "password": password})
        assert res.status_code == 200, res.text
        return res

    async def aclose(self) -> None:
        await self.http.aclose()


@pytest.fixture
async def api(app_url: str) -> AsyncIterator[Api]:
    client = Api(app_url)
    yield client
    await client.aclose()


@pytest.fixture
async def new_api(app_url: str) -> AsyncIterator:
    """A factory of independent clients (separate cookie jars = separate browsers)."""
    clients: list[Api] = []

    def make() -> Api:
        client = Api(app_url)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture(scope="session", autouse=True)
def demo(database: str) -> dict[str, object]:
    """Demo data, loaded once: the same the README's first command loads."""
    from aimis.demo import DEMO_PASSWORD, load_demo

    asyncio.run(load_demo())
    return {"password": DEMO_PASSWORD}


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def uniq():
    return unique
