"""Forgot password and reset codes under attack (issue 12, finding 1), over real HTTP.

The code is read from the outbox row's payload (no dispatcher runs here, so the row waits
with it, as it would until delivered).
"""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import msgspec
import pytest

from store.tables import Outbox, ResetCode, User
from tests.conftest import Api, unique
from tests.fixtures.hospitals import PASSWORD, make_doctor
from tests.integration.conftest import client, same_time_for_unknown

pytestmark = pytest.mark.integration

NEW = "Brand#New2026"
WRONG_CODE = {
    "status_code": 400,
    "detail": "The verification code is wrong or has expired. A code allows 5 tries; "
    "then request a new one.",
}


async def user_id(username: str) -> int:
    row = await User.select(User.id).where(User.username == username).first()
    return int(row["id"])


async def request_code(api: Api, username: str) -> tuple[int, str]:
    """POST /forgot; returns the reset row's id and the code on its way to the user."""
    res = await api.post("/api/auth/forgot", json={"identifier": username})
    assert res.status_code == 202, res.text
    reset = (
        await ResetCode.select(ResetCode.id)
        .where(ResetCode.user == await user_id(username))
        .order_by(ResetCode.id, ascending=False)
        .first()
    )
    outbox = (
        await Outbox.select(Outbox.payload)
        .where(Outbox.idempotency_key == f"reset-code-{reset['id']}")
        .first()
    )
    return int(reset["id"]), msgspec.json.decode(outbox["payload"])["code"]


def other_codes(code: str, count: int) -> list[str]:
    guesses: set[str] = set()
    while len(guesses) < count:
        guess = f"{secrets.randbelow(1_000_000):06d}"
        if guess != code:
            guesses.add(guess)
    return sorted(guesses)


async def reset(api: Api, username: str, code: str, new: str = NEW):  # type: ignore[no-untyped-def]
    return await api.post(
        "/api/auth/reset", json={"identifier": username, "code": code, "new_password": new}
    )


async def test_fifty_concurrent_wrong_codes_use_exactly_five_tries(api, new_api, uniq) -> None:
    username = await make_doctor(uniq)
    reset_id, code = await request_code(api, username)
    clients = [new_api() for _ in range(50)]
    for c in clients:
        await c.csrf()
    guesses = other_codes(code, 50)
    results = await asyncio.gather(
        *[reset(c, username, guess) for c, guess in zip(clients, guesses, strict=True)]
    )
    assert [(r.status_code, r.json()) for r in results] == [(400, WRONG_CODE)] * 50
    row = (
        await ResetCode.select(ResetCode.tries, ResetCode.used)
        .where(ResetCode.id == reset_id)
        .first()
    )
    assert row["tries"] == 5
    # the right code, after the five tries, is refused: the code is spent
    res = await reset(api, username, code)
    assert (res.status_code, res.json()) == (400, WRONG_CODE)
    await api.login(username, PASSWORD)


async def test_a_right_code_resets_once_even_when_sent_twice_at_once(new_api, uniq) -> None:
    username = await make_doctor(uniq)
    first = new_api()
    _, code = await request_code(first, username)
    clients = [first, *(new_api() for _ in range(3))]
    for c in clients:
        await c.csrf()
    news = [f"Brand#New{i}2026" for i in range(len(clients))]
    results = await asyncio.gather(
        *[reset(c, username, code, new) for c, new in zip(clients, news, strict=True)]
    )
    codes = [r.status_code for r in results]
    assert sorted(codes) == [200, 400, 400, 400], [r.text for r in results]
    winner = news[codes.index(200)]
    checker = new_api()
    await checker.login(username, winner)
    for loser in (n for n in news if n != winner):
        res = await checker.post(
            "/api/auth/login", json={"identifier": username, "password": loser}
        )
        assert res.status_code == 401
    # and the code is used up
    assert (await reset(new_api(), username, code, "Yet#Another99")).status_code == 400


async def test_a_wrong_code_reads_the_same_for_every_account(api, uniq) -> None:
    """A code's tries left, or "no code", would tell an attacker which names are accounts."""
    username = await make_doctor(uniq)
    _, code = await request_code(api, username)
    [guess] = other_codes(code, 1)
    answers = [
        await reset(api, username, guess),  # an account with a code
        await reset(api, await make_doctor(uniq), guess),  # an account without one
        await reset(api, unique("ghost"), guess),  # no account
        await reset(api, username, "12ab"),  # nonsense
    ]
    assert [(r.status_code, r.json()) for r in answers] == [(400, WRONG_CODE)] * 4
    res = await reset(api, username, code)
    assert res.status_code == 200, res.text
    await api.login(username, NEW)


async def test_forgot_is_throttled_per_account_name_alike_for_unknown_ones(guarded, uniq) -> None:
    real = await make_doctor(uniq)
    ghost = unique("ghost")

    async def answers(identifier: str) -> list[tuple[int, str]]:
        out = []
        for _ in range(5):
            res = await client(guarded[0]).post("/api/auth/forgot", json={"identifier": identifier})
            out.append((res.status_code, res.json()["detail"] if res.status_code == 429 else ""))
        return out

    real_answers, ghost_answers = await answers(real), await answers(ghost)
    assert real_answers == ghost_answers
    assert [s for s, _ in real_answers] == [202, 202, 202, 429, 429]
    assert real_answers[3][1] == (
        "Too many verification codes were requested for this account. Try again in 60 minutes."
    )
    assert await ResetCode.count().where(ResetCode.user == await user_id(real)) == 3


async def test_forgot_is_throttled_per_address(guarded, uniq) -> None:
    me = client(guarded[1])
    statuses = []
    started = time.monotonic()
    for i in range(21):
        res = await me.post("/api/auth/forgot", json={"identifier": unique(f"name{i}")})
        statuses.append(res.status_code)
    assert statuses == [202] * 20 + [429]
    # the hour's window opened with the first request: what is left of it, to the second
    assert 3600 - (time.monotonic() - started) - 1 <= int(res.headers["retry-after"]) <= 3600
    assert "from your network" in res.json()["detail"]
    # with a Chinese UI, in Chinese
    res = await me.post("/api/auth/forgot", json={"identifier": "x"}, cookies={"lang": "zh"})
    assert res.json()["detail"].startswith("您所在网络申请验证码过于频繁，请 ")


async def test_wrong_codes_are_throttled_per_address(guarded, uniq) -> None:
    username = await make_doctor(uniq)
    owner = client(guarded[0])
    _, code = await request_code(owner, username)
    attacker = client(guarded[1])
    statuses = [(await reset(attacker, unique("ghost"), "123456")).status_code for _ in range(11)]
    assert statuses == [400] * 10 + [429]
    # the owner, elsewhere, is not held up
    assert (await reset(owner, username, code)).status_code == 200


async def test_forgot_takes_as_long_for_an_unknown_account(guarded, uniq) -> None:
    """At the production hash cost: a code is hashed for an unknown account too."""
    real = [await make_doctor(uniq) for _ in range(6)]
    ghosts = [unique("ghost") for _ in real]

    async def forgot(c: Api, identifier: str) -> httpx.Response:
        return await c.post("/api/auth/forgot", json={"identifier": identifier})

    await same_time_for_unknown(guarded[0], real, ghosts, forgot, 202, "forgot")
