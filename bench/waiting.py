"""Waiting for a started server's HTTP endpoint, shared by the benchmark harness and the
tests' app fixtures."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx


def http_up(url: str, check_alive: Callable[[], None], timeout: float) -> bool:
    """Poll ``url`` until it answers below 500 (True) or ``timeout`` seconds pass (False);
    ``check_alive`` is called before each try and raises if the server's process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check_alive()
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False
