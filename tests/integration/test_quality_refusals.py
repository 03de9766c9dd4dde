"""Issue 17's bad input for quality control: each a clear 4xx, nothing changed, audited."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures.quality import (
    cases,
    evaluation,
    new_task,
    qc_site,
    reported_exams,
    sampled_task,
    series_of,
    snapshot,
)
from tests.fixtures.refusals import audited, refuse

pytestmark = pytest.mark.integration


async def _case_request(site: Any, who: str, kind: str, tweak: Any) -> tuple[Any, str, dict]:
    task = await sampled_task(site, sample_size=2, evaluators=[site["ev1"].id])
    case = (await cases(task["id"]))[0]
    body = evaluation(case, await series_of(case["id"]), "3a")
    if kind == "arbitration":
        res = await site["ev1"].client.post(
            f"/api/quality/cases/{case['id']}/evaluation", json=body
        )
        assert res.status_code == 200, res.text
        case = (await cases(task["id"]))[0]
        body = {"version": case["version"], "radpeer": "1"}
    tweak(body)
    return task, f"/api/quality/cases/{case['id']}/{kind}", body


CASES = [
    # an evaluator scoring a case not assigned to him
    ("ev2", "evaluation", lambda b: None, 403, "assigned to another evaluator"),
    ("ev1", "evaluation", lambda b: b.update(radpeer="4"), 400, "RADPEER is one of"),
    ("ev1", "evaluation", lambda b: b.update(initial_score=101), 400, "from 0 to 100"),
    ("ev1", "evaluation", lambda b: b["series"][0].update(grade="superb"), 400, "image grade"),
    (
        "ev1",
        "evaluation",
        lambda b: b["series"][0].update(grade="reject"),
        400,
        "needs its reasons",
    ),
    # arbitration by the evaluator himself
    ("ev1", "arbitration", lambda b: None, 403, "evaluated this case yourself"),
    ("ev2", "arbitration", lambda b: None, 403, "Only the task's arbitrator"),
]


@pytest.mark.parametrize(("who", "kind", "tweak", "status", "says"), CASES)
async def test_a_case_step_is_refused(new_api, uniq, who, kind, tweak, status, says) -> None:
    site = await qc_site(new_api, uniq)
    await reported_exams(site, 2)
    task, url, body = await _case_request(site, who, kind, tweak)
    _, head = await refuse(
        site[who].client, "POST", url, status, says, lambda: snapshot(task["id"]), json=body
    )
    await audited(head, status, site[who].id)


async def test_sampling_is_refused_with_its_figures(new_api, uniq) -> None:
    site = await qc_site(new_api, uniq)
    await reported_exams(site, 3)
    manager = site["manager"].client
    nothing = await new_task(site, criteria={"device_type": "PET"})
    too_many = await new_task(site, sample_size=4)
    for task, says in ((nothing, "No examination matches"), (too_many, "above the 3")):
        task_id = int(task["id"])

        async def state(task_id: int = task_id) -> dict[str, Any]:
            return await snapshot(task_id)

        _, head = await refuse(
            manager,
            "POST",
            f"/api/quality/tasks/{task['id']}/sample",
            409,
            says,
            state,
            json={"version": task["version"]},
        )
        await audited(head, 409, site["manager"].id)


BAD_TASKS = [
    ({"sample_size": 2, "sample_percent": 5}, "either a sample size or a percentage"),
    ({"objects": ["smell"]}, "Choose what to evaluate"),
    ({"evaluators": []}, "at least one evaluator"),
    ({"criteria": {"date_from": "2026-12-01", "date_to": "2026-11-01"}}, "ends before it starts"),
    ("arbitrator is evaluator", "cannot be one of the evaluators"),
    ("stranger", "not doctors of your hospital"),
]


@pytest.mark.parametrize(("over", "says"), BAD_TASKS)
async def test_a_bad_task_is_refused(new_api, uniq, over, says) -> None:
    from tests.fixtures.quality import task_body

    site = await qc_site(new_api, uniq)
    other = await qc_site(new_api, uniq)
    if over == "arbitrator is evaluator":
        over = {"arbitrator": site["ev1"].id}
    elif over == "stranger":
        over = {"evaluators": [other["ev1"].id]}
    _, head = await refuse(
        site["manager"].client,
        "POST",
        "/api/quality/tasks",
        400,
        says,
        lambda: snapshot(0),
        json=task_body(site, **over),
    )
    await audited(head, 400, site["manager"].id)


async def test_another_hospitals_task_and_case_are_invisible(new_api, uniq) -> None:
    site = await qc_site(new_api, uniq)
    other = await qc_site(new_api, uniq)
    await reported_exams(site, 2)
    task = await sampled_task(site, sample_size=1)
    case = (await cases(task["id"]))[0]
    outsider = other["manager"].client
    for url in (f"/api/quality/tasks/{task['id']}", f"/api/quality/cases/{case['id']}"):
        _, head = await refuse(
            outsider, "GET", url, 404, "another hospital", lambda: snapshot(task["id"])
        )
        await audited(head, 404, other["manager"].id)
    assert task["id"] not in [t["id"] for t in (await outsider.get("/api/quality/tasks")).json()]
    stats = (await outsider.get("/api/quality/statistics")).json()
    assert stats["total"]["cases"] == 0
