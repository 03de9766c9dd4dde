"""Fixtures of the integration tests.

``guarded`` and ``guarded_redis``: app replicas started with the production rate-limit
budgets (the suite's own app has budgets it never reaches, ``tests/conftest.py``), sharing
the test database, with 127.0.0.1 as the trusted proxy so that each test speaks from its
own client address (``X-Forwarded-For``) and no test eats another's budget.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from tests.conftest import (
    ROOT,
    SUITE_LIMITS,
    Api,
    free_port,
    start_process,
    stop_process,
    wait_http,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
PUBLIC_URL = "https://aimis.example"  # where users would reach these replicas


def guarded_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SUITE_LIMITS}
    return {
        **env,
        "AIMIS_HOST": "127.0.0.1",
        "AIMIS_TRUSTED_PROXIES": "127.0.0.1",
        "AIMIS_PUBLIC_URL": PUBLIC_URL,
        # the production cost, so that a skipped password check would show in the timings
        "AIMIS_PASSWORD_HASH_MEMORY_KIB": "65536",
        "AIMIS_PASSWORD_HASH_TIME_COST": "3",
        **extra,
    }


def _replicas(count: int, name: str, **extra: str) -> Iterator[list[str]]:
    procs, urls, logs = [], [], []
    try:
        for i in range(count):
            port = free_port()
            log = ROOT / f".pytest-{name}-{os.getpid()}-{i}.log"
            logs.append(log)
            proc = start_process(
                [sys.executable, "-m", "aimis.cli", "serve"],
                guarded_env(AIMIS_PORT=str(port), **extra),
                log,
            )
            procs.append(proc)
            urls.append(f"http://127.0.0.1:{port}")
            wait_http(f"{urls[-1]}/health", proc, log)
        yield urls
    finally:
        for proc in procs:
            stop_process(proc)
        for log in logs:
            log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def guarded(database: str) -> Iterator[list[str]]:
    """Two replicas whose counters are in the app database."""
    yield from _replicas(2, "guarded")


@pytest.fixture(scope="session")
def behind_proxy(database: str) -> Iterator[str]:
    """One replica behind a TLS-terminating proxy on 127.0.0.1 (trusted), reached at a
    plain http address: only the proxy's X-Forwarded-Proto says a request came over TLS."""
    for urls in _replicas(1, "behind-proxy", AIMIS_PUBLIC_URL=""):
        yield urls[0]


@pytest.fixture(scope="session")
def guarded_redis(database: str) -> Iterator[list[str]]:
    """Two replicas whose counters (and live channel) are in the local Redis."""
    yield from _replicas(2, "guarded-redis", AIMIS_REDIS_URL=REDIS_URL)


def new_address() -> str:
    """A client address no other test uses (10.0.0.0/8, random)."""
    return str(ipaddress.IPv4Address(0x0A000000 + secrets.randbelow(1 << 24)))


def client(url: str, address: str | None = None) -> Api:
    """A browser at ``address``, behind the trusted proxy (127.0.0.1)."""
    api = Api(url)
    api.http.headers["x-forwarded-for"] = address or new_address()
    return api


async def same_time_for_unknown(
    url: str,
    real: list[str],
    ghosts: list[str],
    send: Callable[[Api, str], Awaitable[Any]],
    status: int,
    label: str,
) -> None:
    """``send`` for each real and each unknown identifier in turn, each from a new browser:
    the answer is ``status`` and the median times are within a factor of 1.67 (no user
    enumeration by timing)."""

    async def timed(identifier: str) -> float:
        c = client(url)
        await c.csrf()
        started = time.perf_counter()
        res = await send(c, identifier)
        elapsed = time.perf_counter() - started
        assert res.status_code == status
        await c.aclose()
        return elapsed

    real_times, ghost_times = [], []
    for r, g in zip(real, ghosts, strict=True):
        real_times.append(await timed(r))
        ghost_times.append(await timed(g))
    real_median, ghost_median = statistics.median(real_times), statistics.median(ghost_times)
    print(f"{label}: real {real_median * 1000:.0f} ms, unknown {ghost_median * 1000:.0f} ms")
    assert 0.6 < ghost_median / real_median < 1.67
