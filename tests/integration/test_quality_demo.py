"""The demo's quality control (aimis/demo.py): City has a completed task whose case the
evaluator rated RADPEER 3a and the arbitrator decided, and a task in evaluation, both drawn
by the sampling step the flow runs (seed and population kept)."""

from __future__ import annotations

import pytest

from store.tables import CaseHistory, Hospital, QcCase, QcTask

pytestmark = pytest.mark.integration


async def test_the_demo_has_a_completed_and_an_evaluating_task_at_city() -> None:
    city = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    assert city is not None
    # the demo's two tasks by name: other tests may add tasks at City before this one runs
    tasks = (
        await QcTask.select()
        .where(
            QcTask.hospital == city["id"],
            QcTask.name.is_in(["胸片质控 Chest X-ray QC", "影像质控 Image QC"]),
        )
        .order_by(QcTask.id)
    )
    assert [t["state"] for t in tasks] == ["completed", "evaluating"]
    done, open_ = tasks
    assert done["population"] >= done["sampled"] == 1 and done["seed"] is not None
    (case,) = await QcCase.select().where(QcCase.task == done["id"])
    assert (case["radpeer"], case["state"], case["arbitrated_by"]) == (
        "3a",
        "arbitrated",
        done["arbitrator"],
    )
    assert await QcCase.count().where(QcCase.task == open_["id"], QcCase.state == "pending") == 3
    events = [
        r["event"]
        for r in await CaseHistory.select(CaseHistory.event)
        .where(CaseHistory.case_type == "qc_task", CaseHistory.case_id == done["id"])
        .order_by(CaseHistory.id)
    ]
    assert events == [
        "create", "sample", "sampled", "evaluated", "arbitrate", "arbitrated", "complete",
    ]  # fmt: skip
