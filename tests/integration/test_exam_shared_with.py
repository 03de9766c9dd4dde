"""``examination.shared_with`` follows the examination's diagnosis request.

Triggers on ``diagnosis_request`` (migration 2026-11-28T02:12:36) keep it on SQLite and
PostgreSQL alike: the target hospital while a request is open, NULL once it is rejected,
cancelled or deleted, set again by a new request; a rolled-back change leaves it.
"""

from __future__ import annotations

from typing import Any

import pytest

from store.db import transaction
from store.tables import DiagnosisRequest, Examination
from store.uow import now
from tests.fixtures.exams import diagnosing_hospital

pytestmark = pytest.mark.integration


async def new_hospital(uniq: Any) -> int:
    return await diagnosing_hospital(uniq, "SHW", "Sharing Hospital {code}")


async def new_exam(hospital_id: int) -> int:
    at = now()
    row = await Examination.insert(
        Examination(hospital=hospital_id, exam_time=at, created_at=at, updated_at=at)
    ).returning(Examination.id)
    return int(row[0]["id"])


async def request(exam_id: int, sender: int, target: int, state: str = "requested") -> int:
    at = now()
    row = await DiagnosisRequest.insert(
        DiagnosisRequest(
            examination=exam_id,
            hospital=sender,
            target_hospital=target,
            state=state,
            requested_by=0,
            created_at=at,
            updated_at=at,
        )
    ).returning(DiagnosisRequest.id)
    return int(row[0]["id"])


async def step(request_id: int, state: str) -> None:
    await DiagnosisRequest.update({DiagnosisRequest.state: state}).where(
        DiagnosisRequest.id == request_id
    )


async def shared_with(exam_id: int) -> int | None:
    row = await Examination.select(Examination.shared_with).where(Examination.id == exam_id).first()
    return row["shared_with"]


async def test_shared_with_follows_every_step_of_the_request(uniq) -> None:
    sender, target, other = [await new_hospital(uniq) for _ in range(3)]
    exam = await new_exam(sender)
    untouched = await new_exam(sender)
    assert await shared_with(exam) is None

    first = await request(exam, sender, target)
    assert await shared_with(exam) == target
    for state in ("accepted", "reporting", "initial_report", "returned", "reviewed", "printed"):
        await step(first, state)
        assert await shared_with(exam) == target, state
    await step(first, "cancelled")
    assert await shared_with(exam) is None

    second = await request(exam, sender, target)
    assert await shared_with(exam) == target
    await step(second, "rejected")
    assert await shared_with(exam) is None

    third = await request(exam, sender, other)  # a new request after a rejection
    assert await shared_with(exam) == other
    # closing the old, rejected request again must not clear the open one's target
    await step(second, "cancelled")
    assert await shared_with(exam) == other
    await DiagnosisRequest.update({DiagnosisRequest.target_hospital: target}).where(
        DiagnosisRequest.id == third
    )
    assert await shared_with(exam) == target
    await DiagnosisRequest.delete().where(DiagnosisRequest.id == second)  # closed: no effect
    assert await shared_with(exam) == target
    await DiagnosisRequest.delete().where(DiagnosisRequest.id == third)
    assert await shared_with(exam) is None

    closed = await request(exam, sender, target, state="rejected")  # born closed
    assert await shared_with(exam) is None
    await DiagnosisRequest.delete().where(DiagnosisRequest.id.is_in([first, closed]))
    assert await shared_with(exam) is None
    assert await shared_with(untouched) is None


async def test_a_rolled_back_change_leaves_shared_with(uniq) -> None:
    sender, target = await new_hospital(uniq), await new_hospital(uniq)
    exam = await new_exam(sender)
    open_request = await request(exam, sender, target)
    with pytest.raises(RuntimeError):
        async with transaction():
            await step(open_request, "rejected")
            assert await shared_with(exam) is None
            raise RuntimeError("refused")
    assert await shared_with(exam) == target
    with pytest.raises(RuntimeError):
        async with transaction():
            await request(await new_exam(sender), sender, target)
            await DiagnosisRequest.delete().where(DiagnosisRequest.id == open_request)
            raise RuntimeError("refused")
    assert await shared_with(exam) == target


async def test_shared_with_matches_the_open_requests() -> None:
    """Across the whole database (the demo data backfilled, the tests' requests kept by
    the triggers): the column equals the target of the examination's open request."""
    requests = await DiagnosisRequest.select(
        DiagnosisRequest.examination, DiagnosisRequest.target_hospital
    ).where(DiagnosisRequest.state.not_in(["rejected", "cancelled"]))
    expected = {int(r["examination"]): int(r["target_hospital"]) for r in requests}
    rows = await Examination.select(Examination.id, Examination.shared_with).where(
        Examination.shared_with.is_not_null() | Examination.id.is_in(list(expected) or [0])
    )
    assert {int(r["id"]): r["shared_with"] for r in rows} == expected
