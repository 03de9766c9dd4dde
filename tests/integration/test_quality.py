"""Issue 17 (SPEC 7): a QC manager creates a task, the real dispatcher runs the ``qc-sample``
flow on Prefect, two evaluators evaluate their cases, a RADPEER 3a goes to the arbitrator,
whose decision stands beside the original, and the task completes; the sample reproduces
from its seed; blind evaluation hides the reporting doctor; statistics equal direct counts."""

from __future__ import annotations

import io

import openpyxl
import pytest

from api.quality.sampling import draw, population_ids
from store.tables import AuditLog, CaseHistory, Outbox, QcCase, QcSeriesGrade, QcTask
from tests.fixtures.quality import (
    audit_actions,
    cases,
    evaluation,
    new_task,
    qc_site,
    reported_exams,
    sampled_task,
    series_of,
)
from tests.fixtures.waiting import until

pytestmark = pytest.mark.integration


async def task_state(task_id: int) -> str:
    row = await QcTask.select(QcTask.state).where(QcTask.id == task_id).first()
    return str(row["state"])


async def test_a_task_from_creation_to_completion_through_the_dispatcher(
    dispatcher, new_api, uniq
) -> None:
    site = await qc_site(new_api, uniq)
    exams = await reported_exams(site, 6)
    await reported_exams(site, 2, modality="MR")  # outside the criteria
    manager = site["manager"].client
    task = await new_task(site, sample_percent=50, sample_size=None)
    assert task["state"] == "draft" and task["actions"] == ["cancel", "sample"]
    res = await manager.post(
        f"/api/quality/tasks/{task['id']}/sample", json={"version": task["version"]}
    )
    assert res.status_code == 200, res.text
    await until(
        lambda: task_state(task["id"]),
        lambda s: s == "evaluating",
        90,
        lambda s: f"the task is {s}",
    )
    read = (await manager.get(f"/api/quality/tasks/{task['id']}")).json()
    assert read["population"] == 6 and read["sampled"] == 3
    drawn = [c["examination"] for c in await cases(task["id"])]
    # the audit's check: the same seed over the same population draws the same examinations
    row = await QcTask.select().where(QcTask.id == task["id"]).first()
    assert draw(read["seed"], await population_ids(row), 3) == drawn
    assert set(drawn) <= set(exams)
    # the evaluators were told, each once, with the task's link
    notices = await Outbox.select(Outbox.payload).where(
        Outbox.kind == "notify", Outbox.idempotency_key.like(f"notify-qc_task-{task['id']}-%")
    )
    told = [n["payload"] for n in notices]
    assert any('"sampled"' in str(p) and str(site["ev1"].id) in str(p) for p in told), told

    rows = await cases(task["id"])
    assert [r["evaluator"] for r in rows] == [site["ev1"].id, site["ev2"].id, site["ev1"].id]
    clients = {site["ev1"].id: site["ev1"].client, site["ev2"].id: site["ev2"].client}
    # blind: the evaluator does not see who reported
    seen = (await clients[rows[0]["evaluator"]].get(f"/api/quality/cases/{rows[0]['id']}")).json()
    assert seen["initial_doctor"] == "" and seen["review_doctor"] == ""
    assert seen["can_evaluate"] and seen["study_uid"]
    for i, case in enumerate(rows):
        body = evaluation(case, await series_of(case["id"]), "3a" if i == 0 else "1")
        res = await clients[case["evaluator"]].post(
            f"/api/quality/cases/{case['id']}/evaluation", json=body
        )
        assert res.status_code == 200, res.text
    assert await task_state(task["id"]) == "arbitration"
    # a second save with the version it started from loses: 409, nothing changed
    stale = evaluation(rows[1], await series_of(rows[1]["id"]), "2a")
    res = await clients[rows[1]["evaluator"]].post(
        f"/api/quality/cases/{rows[1]['id']}/evaluation", json=stale
    )
    assert res.status_code == 409
    first = (await cases(task["id"]))[0]
    assert first["state"] == "arbitration" and first["radpeer"] == "3a"
    res = await site["arbiter"].client.post(
        f"/api/quality/cases/{first['id']}/arbitration",
        json={"version": first["version"], "radpeer": "2a", "comment": "minor"},
    )
    assert res.status_code == 200, res.text
    assert res.json()["task_state"] == "completed"
    after = (await cases(task["id"]))[0]
    assert (after["radpeer"], after["arbiter_radpeer"], after["state"]) == (
        "3a",
        "2a",
        "arbitrated",
    )
    written = [a for a in await audit_actions("qc_case", first["id"]) if a != "qc_case.view"]
    assert written == ["qc_case.evaluate", "qc_case.arbitrate"]  # reads are audited too
    events = [
        r["event"]
        for r in await CaseHistory.select(CaseHistory.event)
        .where(CaseHistory.case_type == "qc_task", CaseHistory.case_id == task["id"])
        .order_by(CaseHistory.id)
    ]
    assert events == [
        "create", "sample", "sampled", "evaluated", "evaluated", "evaluated", "arbitrate",
        "arbitrated", "complete",
    ]  # fmt: skip


async def test_the_same_seed_draws_the_same_examinations(new_api, uniq) -> None:
    site = await qc_site(new_api, uniq)
    await reported_exams(site, 8)
    one = await sampled_task(site, sample_size=4, seed=20261207)
    two = await sampled_task(site, sample_size=4, seed=20261207)
    other = await sampled_task(site, sample_size=4, seed=1)
    ids = [[c["examination"] for c in await cases(t["id"])] for t in (one, two, other)]
    assert ids[0] == ids[1] and ids[0] != ids[2]
    assert one["seed"] == 20261207 and one["population"] == 8


async def test_statistics_equal_direct_counts_and_download(new_api, uniq) -> None:
    site = await qc_site(new_api, uniq)
    await reported_exams(site, 4, series=2)
    task = await sampled_task(site, sample_size=4, evaluators=[site["ev1"].id])
    ev1 = site["ev1"].client
    radpeers = ["1", "2a", "3b", "1"]
    for case, radpeer in zip(await cases(task["id"]), radpeers, strict=True):
        uids = await series_of(case["id"])
        body = evaluation(case, uids, radpeer)
        body["series"][1]["grade"] = "reject"
        body["series"][1]["reasons"] = "motion"
        assert (
            await ev1.post(f"/api/quality/cases/{case['id']}/evaluation", json=body)
        ).status_code == 200
    manager = site["manager"].client
    res = await manager.get(
        "/api/quality/statistics", params={"by": "device_type", "task_id": task["id"]}
    )
    assert res.status_code == 200, res.text
    ct = res.json()["groups"][0]
    ids = [c["id"] for c in await cases(task["id"])]
    excellent = await QcSeriesGrade.count().where(
        QcSeriesGrade.case.is_in(ids), QcSeriesGrade.grade == "excellent"
    )
    graded = await QcSeriesGrade.count().where(QcSeriesGrade.case.is_in(ids))
    discrepant = await QcCase.count().where(QcCase.task == task["id"], QcCase.radpeer != "1")
    assert (ct["key"], ct["cases"], ct["series"], ct["excellent"]) == ("CT", 4, graded, excellent)
    assert ct["excellent_rate"] == round(excellent / graded, 4) == 0.5
    assert ct["discrepant"] == discrepant == 2 and ct["discrepancy_rate"] == 0.5
    assert ct["mean_score"] == 90
    objects = (
        await manager.get("/api/quality/statistics", params={"by": "object", "task_id": task["id"]})
    ).json()
    by_object = {g["key"]: g for g in objects["groups"]}
    assert by_object["images"]["series"] == 8 and by_object["review_report"]["mean_score"] == 85
    doctors = (await manager.get("/api/quality/statistics", params={"by": "doctor"})).json()
    assert [g["label"] for g in doctors["groups"]] == [site["doctor"].display_name]
    trend = res.json()["trend"]
    assert [t["period"] for t in trend] == ["2026-11"] and trend[0]["reject_rate"] == 0.5
    drill = await manager.get(
        "/api/quality/statistics/cases",
        params={"by": "device_type", "key": "CT", "task_id": task["id"]},
    )
    assert sorted(r["id"] for r in drill.json()) == sorted(ids)
    xlsx = await manager.get(
        "/api/quality/statistics/download",
        params={"by": "device_type", "key": "CT", "task_id": task["id"], "format": "xlsx"},
    )
    assert xlsx.status_code == 200, xlsx.text
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "case" and sorted(r[0] for r in rows[1:]) == sorted(ids)
    csv = await manager.get(
        "/api/quality/statistics/download",
        params={"by": "device_type", "key": "CT", "task_id": task["id"], "format": "csv"},
    )
    assert csv.status_code == 200 and csv.text.count("\n") == 5
    # the key is the caller's text: a newline or quote in it never reaches the header
    odd = await manager.get(
        "/api/quality/statistics/download",
        params={"by": "device_type", "key": 'C"T\r\nX-Evil: 1', "task_id": task["id"]},
    )
    assert odd.status_code == 200 and "x-evil" not in odd.headers
    disposition = odd.headers["content-disposition"]
    assert disposition == 'attachment; filename="qc-device_type-C_T_X-Evil_1.csv"'
    # the download is behind statistics.download: a role without it is refused, audited
    head = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    doctor = site["doctor"].client
    res = await doctor.get(
        "/api/quality/statistics/download", params={"by": "device_type", "key": "CT"}
    )
    assert res.status_code == 403 and "qc.manage" in res.json()["detail"]
    refused = await AuditLog.select().where(
        AuditLog.id > head["id"], AuditLog.user_id == site["doctor"].id
    )
    assert any(r["detail"].startswith("403:") for r in refused)


async def test_the_pages_render_for_manager_evaluator_and_arbitrator(new_api, uniq) -> None:
    site = await qc_site(new_api, uniq)
    await reported_exams(site, 2)
    task = await sampled_task(site, sample_size=2, evaluators=[site["ev1"].id])
    case = (await cases(task["id"]))[0]
    body = evaluation(case, await series_of(case["id"]), "3a")
    ev1, arbiter = site["ev1"].client, site["arbiter"].client
    page = await ev1.get(f"/quality/cases/{case['id']}")
    assert page.status_code == 200 and 'id="qc-evaluate"' in page.text and "/viewer?" in page.text
    assert (
        await ev1.post(f"/api/quality/cases/{case['id']}/evaluation", json=body)
    ).status_code == 200
    page = await arbiter.get(f"/quality/cases/{case['id']}")
    assert page.status_code == 200 and 'id="qc-arbitrate"' in page.text
    manager = site["manager"].client
    for url, says in (
        ("/quality", 'id="qc-new"'),
        (f"/quality/{task['id']}", 'id="qc-cases"'),
        ("/quality/statistics?by=department", 'id="qc-chart"'),
    ):
        page = await manager.get(url)
        assert page.status_code == 200 and says in page.text, (url, page.text[:500])


async def test_a_named_evaluator_without_the_permission_finds_quality_control(
    new_api, uniq
) -> None:
    """A radiologist whose role lacks qc.evaluate, once a task names him, has the Quality
    control card on his home page and in the menu (before, he reached his cases only through
    the notice's link); a colleague the task does not name still has neither."""
    site = await qc_site(new_api, uniq)
    doctor = site["doctor"].client
    before = await doctor.get("/api/auth/me")
    assert before.status_code == 200 and before.json()["named_in"] == []
    assert 'href="/quality"' not in (await doctor.get("/")).text
    await reported_exams(site, 2)
    await sampled_task(site, sample_size=2, evaluators=[site["doctor"].id])
    me = (await doctor.get("/api/auth/me")).json()
    assert me["named_in"] == ["quality_control"] and "qc.evaluate" not in me["permissions"]
    home = (await doctor.get("/")).text
    assert 'data-module="quality_control"' in home and 'href="/quality"' in home
    assert (await doctor.get("/quality")).status_code == 200
    other = (await site["ev2"].client.get("/api/auth/me")).json()
    assert other["named_in"] == []  # a senior holds the permission: the card by his role
