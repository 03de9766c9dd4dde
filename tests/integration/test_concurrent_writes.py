"""Many users writing at once: every write is served, none fails on a busy database.

SQLite allows one writer at a time; the app queues its own writers fairly and keeps readers
out of their way (write-ahead log), so fifty simultaneous writes all succeed (DESIGN.md:
concurrency lives in the database).
"""

from __future__ import annotations

import asyncio

import pytest

from store.db import transaction
from store.tables import Department, Hospital
from store.uow import now

pytestmark = pytest.mark.integration


async def test_fifty_simultaneous_writes_and_reads_all_succeed(new_api, demo, uniq) -> None:
    admin = new_api()
    await admin.login("admin.city", demo["password"], admin=True)
    prefix = uniq("Busy ")

    async def write(i: int) -> int:
        res = await admin.post("/api/manage/departments", json={"name": f"{prefix} {i}"})
        return res.status_code

    async def read() -> int:
        return (await admin.get("/api/manage/departments")).status_code

    results = await asyncio.gather(*[write(i) for i in range(50)], *[read() for _ in range(20)])
    assert results[:50] == [201] * 50, results
    assert results[50:] == [200] * 20, results
    city = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    made = await Department.count().where(
        Department.hospital == city["id"], Department.name.like(f"{prefix}%")
    )
    assert made == 50


async def test_a_transaction_still_enforces_foreign_keys() -> None:
    """Statements inside a transaction run in one trip each (store.db); the connection's
    foreign-key enforcement, set when it opens, still holds for every one of them."""
    before = await Department.count()
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        async with transaction():
            await Department.insert(
                Department(hospital=987654321, name="nowhere", created_at=now())
            )
    assert await Department.count() == before
