"""Login throttling and no user enumeration (issue 12, findings 1 and 4), over real HTTP.

The budgets are tested in app replicas started with the production defaults
(``tests/integration/conftest.py``): 20 failed logins per client address and 5 per account name
in 15 minutes; the freeze rule (10 wrong passwords in a day) is unchanged.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from typing import Any

import httpx
import pytest
from redis.asyncio import Redis

from api.ratelimit import subject_key
from store.tables import AuditLog, RateLimit, User
from tests.conftest import Api, unique
from tests.fixtures.hospitals import PASSWORD, make_doctor
from tests.integration.conftest import REDIS_URL, client, new_address, same_time_for_unknown

pytestmark = pytest.mark.integration

WRONG = {"status_code": 401, "detail": "Wrong user name or password."}


async def wrong_login(api: Api, identifier: str, admin: bool = False) -> httpx.Response:
    path = "/api/auth/admin-login" if admin else "/api/auth/login"
    return await api.post(path, json={"identifier": identifier, "password": "Wrong#Guess1"})


async def failed_counts(usernames: list[str]) -> dict[str, tuple[int, bool]]:
    rows = await User.select(User.username, User.failed_count, User.frozen).where(
        User.username.is_in(usernames)
    )
    return {r["username"]: (r["failed_count"], r["frozen"]) for r in rows}


async def test_one_address_spraying_many_accounts_is_stopped_before_any_freezes(
    guarded, uniq
) -> None:
    accounts = [await make_doctor(uniq) for _ in range(12)]
    attacker = client(guarded[0])
    statuses = []
    for i in range(40):
        res = await wrong_login(attacker, accounts[i % len(accounts)], admin=i % 2 == 1)
        statuses.append(res.status_code)
        if res.status_code == 429:
            break
    assert statuses == [401] * 20 + [429]
    assert 890 <= int(res.headers["retry-after"]) <= 900
    assert res.json() == {
        "status_code": 429,
        "detail": "Too many failed logins from your network. Try again in 15 minutes.",
        "retry_after": int(res.headers["retry-after"]),
    }
    counts = await failed_counts(accounts)
    assert max(count for count, _ in counts.values()) == 2  # the freeze needs 10
    assert not any(frozen for _, frozen in counts.values())
    # the address is throttled even with a right password; another address is not
    res = await attacker.post(
        "/api/auth/login", json={"identifier": accounts[0], "password": PASSWORD}
    )
    assert res.status_code == 429
    await client(guarded[0]).login(accounts[0], PASSWORD)
    # in Chinese for a reader of the Chinese UI
    res = await attacker.post(
        "/api/auth/login",
        json={"identifier": accounts[0], "password": "x"},
        cookies={"lang": "zh"},
    )
    assert res.json()["detail"].startswith("您所在网络的登录失败次数过多，请 ")


async def test_fifty_concurrent_wrong_passwords_on_one_account_count_five(guarded, uniq) -> None:
    """From fifty addresses at once: the account's budget passes exactly five to the
    password check, so the burst neither freezes the account nor gets fifty guesses."""
    username = await make_doctor(uniq)
    clients = [client(guarded[i % 2]) for i in range(50)]
    for c in clients:
        await c.csrf()
    results = await asyncio.gather(*[wrong_login(c, username) for c in clients])
    codes = sorted(r.status_code for r in results)
    assert codes == [401] * 5 + [429] * 45
    assert (await failed_counts([username]))[username] == (5, False)
    refused = next(r for r in results if r.status_code == 429)
    assert refused.json()["detail"] == (
        "Too many failed logins for this account. Try again in 15 minutes."
    )
    # the right password is refused too while the account's window lasts
    res = await client(guarded[0]).post(
        "/api/auth/login", json={"identifier": username, "password": PASSWORD}
    )
    assert res.status_code == 429
    for c in clients:
        await c.aclose()


async def test_unfreezing_gives_the_account_its_budget_back(guarded, uniq) -> None:
    username = await make_doctor(uniq)
    for _ in range(6):
        res = await wrong_login(client(guarded[0]), username)
    assert res.status_code == 429
    admin = client(guarded[1])
    await admin.login("admin.east", "Demo@2026", admin=True)
    user = await User.select(User.id).where(User.username == username).first()
    res = await admin.post(f"/api/manage/doctors/{user['id']}/unfreeze")
    assert res.status_code == 200, res.text
    await client(guarded[0]).login(username, PASSWORD)


async def test_successful_logins_do_not_use_the_budget(guarded, uniq) -> None:
    username = await make_doctor(uniq)
    address = new_address()
    for _ in range(30):  # more than the address's budget of failures
        await client(guarded[0], address).login(username, PASSWORD)
    assert (await wrong_login(client(guarded[1], address), username)).status_code == 401


async def failures_across_replicas(urls: list[str], uniq: Any) -> str:
    """22 wrong logins from one new address to six accounts, alternating between the two
    replicas at ``urls``: the address's budget of 20 holds across them; the address."""
    accounts = [await make_doctor(uniq) for _ in range(6)]
    address = new_address()
    replicas = [client(url, address) for url in urls]
    statuses = [
        (await wrong_login(replicas[i % 2], accounts[i % 6])).status_code for i in range(22)
    ]
    assert statuses == [401] * 20 + [429, 429]
    return address


async def test_the_budget_holds_across_replicas_with_the_database(guarded, uniq) -> None:
    address = await failures_across_replicas(guarded, uniq)
    row = (
        await RateLimit.select()
        .where(RateLimit.key == subject_key("login-address", address))
        .first()
    )
    assert row is not None and row["hits"] >= 20


async def test_the_budget_holds_across_replicas_with_redis(guarded_redis, uniq) -> None:
    address = await failures_across_replicas(guarded_redis, uniq)
    key = subject_key("login-address", address)
    redis = Redis.from_url(REDIS_URL)
    try:
        prefix = os.environ["AIMIS_REDIS_PREFIX"]
        assert int(await redis.get(f"{prefix}:ratelimit:{key}")) >= 20
        assert 0 < await redis.pttl(f"{prefix}:ratelimit:{key}") <= 900_000
    finally:
        await redis.aclose()
    assert not await RateLimit.exists().where(RateLimit.key == key)


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(api, guarded, uniq) -> None:
    # The suite's app trusts no proxy: the header changes nothing.
    name = unique("nobody")
    await api.post(
        "/api/auth/login",
        json={"identifier": name, "password": "x"},
        headers={"x-forwarded-for": "203.0.113.7"},
    )
    rows = await AuditLog.select(AuditLog.ip).where(AuditLog.detail.like(f"%{name}%"))
    assert [r["ip"] for r in rows] == ["127.0.0.1"]
    # Behind the trusted proxy the nearest untrusted hop is the client; what the client
    # wrote to the left of it is not believed, so rotating it escapes nothing.
    accounts = [await make_doctor(uniq) for _ in range(6)]
    real = new_address()
    statuses = []
    for i in range(21):
        attacker = Api(guarded[0])
        attacker.http.headers["x-forwarded-for"] = f"{new_address()}, {real}"
        statuses.append((await wrong_login(attacker, accounts[i % 6])).status_code)
        await attacker.aclose()
    assert statuses == [401] * 20 + [429]
    rows = await AuditLog.select(AuditLog.ip).where(
        AuditLog.username.is_in(accounts), AuditLog.action == "login"
    )
    assert {r["ip"] for r in rows} == {real}


async def test_an_ipv6_client_is_one_network(guarded, uniq) -> None:
    """Anyone holding an IPv6 /64 has 2^64 addresses: the budget is the network's."""
    accounts = [await make_doctor(uniq) for _ in range(6)]
    network = f"2001:db8:{secrets.randbelow(65536):x}:{secrets.randbelow(65536):x}"
    statuses = []
    for i in range(21):
        attacker = client(guarded[0], f"{network}::{i + 1:x}")
        statuses.append((await wrong_login(attacker, accounts[i % 6])).status_code)
        await attacker.aclose()
    assert statuses == [401] * 20 + [429]


# --- no user enumeration ---------------------------------------------------------------------


async def test_an_unknown_account_reads_exactly_like_a_real_one(api, new_api, uniq) -> None:
    """Twelve wrong passwords: nine refusals, then frozen, word for word the same for an
    account that exists and a name that does not (in the suite's app: no budgets)."""
    real = await make_doctor(uniq)
    ghost = unique("ghost")

    async def answers(identifier: str) -> list[tuple[int, dict]]:
        c = new_api()
        out = []
        for _ in range(12):
            res = await wrong_login(c, identifier)
            out.append((res.status_code, res.json()))
        return out

    real_answers, ghost_answers = await answers(real), await answers(ghost)
    assert real_answers == ghost_answers
    assert real_answers[:9] == [(401, WRONG)] * 9
    assert [status for status, _ in real_answers[9:]] == [423, 423, 423]
    assert (await failed_counts([real]))[real] == (10, True)


async def test_an_admin_freeze_is_told_only_to_who_knows_the_password(api, uniq) -> None:
    username = await make_doctor(uniq)
    await User.update({User.frozen: True, User.frozen_reason: "admin"}).where(
        User.username == username
    )
    res = await wrong_login(api, username)
    assert (res.status_code, res.json()) == (401, WRONG)
    res = await api.post("/api/auth/login", json={"identifier": username, "password": PASSWORD})
    assert res.status_code == 423 and "administrator" in res.json()["detail"]


async def test_throttled_unknown_and_real_accounts_read_the_same(guarded, uniq) -> None:
    real = await make_doctor(uniq)
    ghost = unique("ghost")

    async def answers(identifier: str) -> list[tuple[int, str]]:
        out = []
        for _ in range(7):
            res = await wrong_login(client(guarded[0]), identifier)
            out.append((res.status_code, res.json()["detail"]))
        return out

    real_answers, ghost_answers = await answers(real), await answers(ghost)
    assert real_answers == ghost_answers
    assert [status for status, _ in real_answers] == [401] * 5 + [429] * 2


async def test_a_wrong_password_takes_as_long_for_an_unknown_account(guarded, uniq) -> None:
    """At the production hash cost (~70 ms a check): the unknown account's refusal costs a
    password check too, so timing does not tell the two apart."""
    admin = client(guarded[0])
    await admin.login("admin.east", "Demo@2026", admin=True)
    real = []
    for _ in range(7):
        username = unique("timed")
        res = await admin.post(
            "/api/manage/doctors",
            json={"username": username, "display_name": "Timed", "password": PASSWORD},
        )
        assert res.status_code == 201, res.text
        real.append(username)
    ghosts = [unique("ghost") for _ in real]

    await same_time_for_unknown(guarded[1], real, ghosts, wrong_login, 401, "wrong password")


async def test_a_stolen_session_cannot_guess_the_current_password_without_end(
    guarded, uniq
) -> None:
    """A wrong current password on the change form is a failed login: after the account's
    budget of 5 the form answers 429, and the right password is then refused too."""
    username = await make_doctor(uniq)
    session = client(guarded[0])
    await session.login(username, PASSWORD)
    statuses = []
    for i in range(7):
        res = await session.post(
            "/api/auth/password",
            json={"old_password": f"Wrong#Guess{i}", "new_password": "Brand#New2027"},
        )
        statuses.append(res.status_code)
    assert statuses == [400] * 5 + [429] * 2, statuses
    assert "retry-after" in res.headers
    again = await session.post(
        "/api/auth/password", json={"old_password": PASSWORD, "new_password": "Brand#New2027"}
    )
    assert again.status_code == 429
    await session.aclose()
