"""The cross-hospital matrix (issue 12, build 3): every route of the app, its path filled
with hospital A's canaries (P1 private, P2 shared with West for remote diagnosis, P3 a
consultation with a West expert), called as every account of the other hospitals, as the
alliance admin and as nobody - reads and writes (with bodies the route accepts).

No answer may name a canary the account may not see (``exceptions.MAY_SEE``: the SPEC's
two sharing rules, with reasons), no write on A's objects may succeed (2xx) unless the
SPEC lets that account make it (``exceptions.MAY_DO``, then it is not called), and A's
rows are the same afterwards. The route list comes from the app, so a new route is in it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.security.canary import OUTSIDERS, Canary, snapshot
from tests.integration.security.exceptions import ECHOES_UIDS, skipped, visible_markers
from tests.integration.security.routes import (
    NOT_CALLED,
    Route,
    accept,
    app_routes,
    found_in,
    request_kwargs,
    url,
    variants,
)

pytestmark = pytest.mark.integration

CALLS: dict[str, int] = {}  # account -> requests made
ROUTES: dict[str, set[tuple[str, str]]] = {}  # account -> route-methods called
STATUSES: dict[str, dict[int, list[str]]] = {}  # account -> status -> the writes answered so


@pytest.fixture(scope="module")
def routes() -> list[Route]:
    return app_routes()


def forbidden(account: str, canary: Canary, route: Route, address: str) -> list[str]:
    """The markers ``account`` must not get back: of every canary it may not see, except the
    UIDs it sent itself in the address (a refusal may quote the path it was given) and, in
    the audit log, those its hospital sent before (``exceptions.ECHOES_UIDS``)."""
    allowed = visible_markers(account)
    echo = (route.method, route.path) in ECHOES_UIDS
    return [
        m
        for p in canary.patients()
        if p.key not in allowed
        for m in p.markers()
        if m not in address and not (echo and m in p.uids())
    ]


@pytest.mark.parametrize("account", OUTSIDERS)
async def test_no_sight_and_no_write_of_another_hospitals_data(
    account: str, accounts: dict[str, Any], canary: Canary, routes: list[Route]
) -> None:
    client = accounts[account]
    before = await snapshot(canary)
    leaks: list[str] = []
    writes: list[str] = []
    calls = 0
    called: set[tuple[str, str]] = set()
    for route in routes:
        if (route.method, route.path) in NOT_CALLED:
            continue
        for variant in variants(route, canary):
            if not route.safe and skipped(account, route.method, route.path, variant.owner):
                continue
            address = url(route, variant)
            kwargs = await request_kwargs(route, variant, canary)
            res = await client.request(
                route.method, address, headers={"accept": accept(address)}, **kwargs
            )
            calls += 1
            called.add((route.method, route.path))
            where = f"{route.method} {address} ({variant.owner}) -> {res.status_code}"
            assert res.status_code < 500, f"{where}: {res.text[:300]}"
            body = res.content.decode("utf-8", "replace")
            hits = found_in(body, forbidden(account, canary, route, address))
            if hits:
                leaks.append(f"{where}: {hits}")
            if not route.safe:
                STATUSES.setdefault(account, {}).setdefault(res.status_code, []).append(
                    where + res.text[:150]
                )
            if not route.safe and route.params and res.is_success:
                writes.append(f"{where}: {res.text[:200]}")
    CALLS[account] = calls
    ROUTES[account] = called
    assert not leaks, f"{account} saw hospital A's patients:\n" + "\n".join(leaks)
    assert not writes, f"{account} wrote on hospital A's objects:\n" + "\n".join(writes)
    after = await snapshot(canary)
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"{account}'s calls changed hospital A's {changed}"


def test_the_matrix_covered_every_route(routes: list[Route], capsys) -> None:
    """Runs after the matrix: every route-method was called by every outsider (but the few
    ``NOT_CALLED`` and the exceptions' writes), and the size is printed."""
    every = {(r.method, r.path) for r in routes} - set(NOT_CALLED)
    assert set(CALLS) == set(OUTSIDERS), "run the whole module"
    for account in OUTSIDERS:
        missing = every - ROUTES[account]
        assert account in ("dr.liu", "dr.zhao", "admin.west", "alliance.admin") or not missing, (
            account,
            sorted(missing),
        )
    with capsys.disabled():
        for account, by_status in STATUSES.items():
            counts = ", ".join(f"{k}: {len(v)}" for k, v in sorted(by_status.items()))
            print(f"\nwrites of {account}: {counts}")
        print(
            f"\ncross-hospital matrix: {len(every)} route-methods x {len(OUTSIDERS)} accounts "
            f"= {len(every) * len(OUTSIDERS)}; {sum(CALLS.values())} requests "
            f"(path variants P1/P2/P3 included), {len(NOT_CALLED)} route-method not called"
        )
