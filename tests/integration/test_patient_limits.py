"""The patient login's budgets under concurrent real HTTP (issue 15, point 2), on two app
replicas with the production budgets sharing the database (``guarded``): codes per phone
(one a minute, five an hour), codes per client address, and brute force on a code."""

from __future__ import annotations

import asyncio

import pytest

from store.tables import PatientAccount, PatientCode
from tests.fixtures.patients import code_for, new_phone, send_code
from tests.integration.conftest import client, new_address

pytestmark = pytest.mark.integration


async def test_one_code_a_minute_per_phone_from_anywhere(guarded: list[str]) -> None:
    phone = new_phone()
    clients = [client(guarded[i % 2]) for i in range(12)]
    answers = await asyncio.gather(*(send_code(c, phone) for c in clients))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [202] + [429] * 11, statuses
    refused = next(a for a in answers if a.status_code == 429)
    assert 0 < int(refused.headers["retry-after"]) <= 60
    assert "just sent" in refused.json()["detail"]
    assert await PatientCode.count().where(PatientCode.phone == f"86{phone}") == 1


async def test_codes_per_address_hold_under_concurrent_requests(guarded: list[str]) -> None:
    address = new_address()
    clients = [client(guarded[i % 2], address) for i in range(30)]
    phones = [new_phone() for _ in clients]
    answers = await asyncio.gather(*(send_code(c, p) for c, p in zip(clients, phones, strict=True)))
    statuses = [a.status_code for a in answers]
    assert statuses.count(202) == 20 and statuses.count(429) == 10, statuses
    sent = await PatientCode.count().where(PatientCode.phone.is_in([f"86{p}" for p in phones]))
    assert sent == 20
    # another address is not held up
    assert (await send_code(client(guarded[0]), new_phone())).status_code == 202


async def test_guessing_a_code_from_many_addresses_is_bounded(guarded: list[str]) -> None:
    phone = new_phone()
    assert (await send_code(client(guarded[0]), phone)).status_code == 202
    code = await code_for(phone)
    guesses = [f"{(int(code) + 1 + i) % 1_000_000:06d}" for i in range(30)]
    answers = await asyncio.gather(
        *(
            client(guarded[i % 2]).post("/api/patient/login", json={"phone": phone, "code": g})
            for i, g in enumerate(guesses)
        )
    )
    statuses = [a.status_code for a in answers]
    assert statuses.count(400) == 10 and statuses.count(429) == 20, statuses
    row = (
        await PatientCode.select(PatientCode.tries).where(PatientCode.phone == f"86{phone}").first()
    )
    assert row is not None and row["tries"] == 5  # a code allows five comparisons
    # the phone's budget is spent: even the right code waits for the window
    res = await client(guarded[1]).post("/api/patient/login", json={"phone": phone, "code": code})
    assert res.status_code == 429
    assert not await PatientAccount.exists().where(PatientAccount.phone == f"86{phone}")
