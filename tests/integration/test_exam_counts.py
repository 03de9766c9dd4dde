"""The examination counts per hospital and status are kept by database triggers.

Whatever writes ``examination`` — an insert, a status change, a move, a soft delete or
restore, a delete — ``examination_count`` equals a fresh ``GROUP BY`` in the same
transaction, on SQLite and PostgreSQL alike (migration 2026-11-28T01:00:00).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from store.db import transaction
from store.tables import Examination, ExaminationCount
from store.uow import now
from tests.fixtures.exams import diagnosing_hospital

pytestmark = pytest.mark.integration


async def counted(hospital_id: int) -> dict[str, int]:
    rows = await ExaminationCount.select().where(ExaminationCount.hospital == hospital_id)
    return {r["status"]: r["n"] for r in rows if r["n"]}


async def actual(hospital_id: int) -> dict[str, int]:
    rows = await Examination.raw(
        "SELECT status, COUNT(*) AS n FROM examination WHERE hospital = {} "
        "AND deleted_at IS NULL GROUP BY status",
        hospital_id,
    )
    return {r["status"]: int(r["n"]) for r in rows}


async def new_hospital(uniq: Any) -> int:
    return await diagnosing_hospital(uniq, "CNT", "Counted Hospital {code}")


async def add(hospital_id: int, status: str, n: int) -> list[int]:
    at = now()
    rows = await Examination.insert(
        *[
            Examination(
                hospital=hospital_id, status=status, exam_time=at, created_at=at, updated_at=at
            )
            for _ in range(n)
        ]
    ).returning(Examination.id)
    return [int(r["id"]) for r in rows]


async def test_every_kind_of_write_keeps_the_counts_exact(uniq) -> None:
    one, two = await new_hospital(uniq), await new_hospital(uniq)
    arrived = await add(one, "images_arrived", 5)
    await add(one, "reviewed", 2)
    assert await counted(one) == await actual(one) == {"images_arrived": 5, "reviewed": 2}

    await Examination.update({Examination.status: "report_draft"}).where(
        Examination.id.is_in(arrived[:2])
    )
    await Examination.update({Examination.patient_name: "renamed"}).where(  # not counted
        Examination.id == arrived[2]
    )
    await Examination.update({Examination.deleted_at: now()}).where(Examination.id == arrived[3])
    await Examination.update({Examination.hospital: two}).where(Examination.id == arrived[4])
    expected = {"images_arrived": 1, "report_draft": 2, "reviewed": 2}
    assert await counted(one) == await actual(one) == expected
    assert await counted(two) == await actual(two) == {"images_arrived": 1}

    # a soft-deleted row changes status unseen, and counts again once restored
    await Examination.update({Examination.status: "printed"}).where(Examination.id == arrived[3])
    assert await counted(one) == expected
    await Examination.update({Examination.deleted_at: None}).where(Examination.id == arrived[3])
    await Examination.delete().where(Examination.id == arrived[0])
    assert (
        await counted(one)
        == await actual(one)
        == {
            "images_arrived": 1,
            "report_draft": 1,
            "reviewed": 2,
            "printed": 1,
        }
    )


async def test_a_rolled_back_change_leaves_the_counts_alone(uniq) -> None:
    hospital = await new_hospital(uniq)
    ids = await add(hospital, "images_arrived", 3)
    with pytest.raises(RuntimeError):
        async with transaction():
            await Examination.update({Examination.status: "reviewed"}).where(
                Examination.id.is_in(ids)
            )
            raise RuntimeError("refused")
    assert await counted(hospital) == {"images_arrived": 3}


async def test_concurrent_status_changes_count_each_once(uniq) -> None:
    hospital = await new_hospital(uniq)
    ids = await add(hospital, "images_arrived", 20)

    async def step(exam_id: int) -> None:
        async with transaction():
            await Examination.update({Examination.status: "initial_report"}).where(
                Examination.id == exam_id
            )

    await asyncio.gather(*[step(i) for i in ids])
    assert await counted(hospital) == await actual(hospital) == {"initial_report": 20}
