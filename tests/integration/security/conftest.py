"""Session fixtures of the security tests: the canaries (made once) and a logged-in client
per account (outsiders of hospital A, and A's own people)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.conftest import Api
from tests.integration.security.canary import INSIDERS, OUTSIDERS, Canary, build, login


@pytest.fixture(scope="session")
async def canary(app_url: str, demo: dict) -> Canary:
    return await build(app_url)


@pytest.fixture(scope="session")
async def accounts(app_url: str, canary: Canary) -> AsyncIterator[dict[str, Api]]:
    clients = {name: await login(app_url, name) for name in (*OUTSIDERS, *INSIDERS)}
    yield clients
    for client in clients.values():
        await client.aclose()
