"""Issue 14 (C): a hospital admin archives one study by hand ("archive now") through the
archive process (an ``archive.study`` outbox row, the flow ``archive-study`` run by the real
dispatcher and Prefect, audited), and a doctor of the hospital has it retrieved; the demo
holds an archived study to try retrieval on (SPEC 8.9, 9.2)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aimis.imports import ARCHIVED_HOSPITAL, DEMO_ARCHIVED
from store.tables import AuditLog, MigrationRun, Outbox, Study
from tests.fixtures.hospitals import DEMO_PASSWORD
from tests.integration.test_archive import admin, hospital_id, ingest_study, online_files, tier
from tests.integration.test_archive_flows import wait_run, wait_state, wait_tier

pytestmark = pytest.mark.integration


async def version_of(study_id: int) -> int:
    row = await Study.select(Study.version).where(Study.id == study_id).first()
    return int(row["version"])


async def actions(study_id: int) -> list[str]:
    rows = (
        await AuditLog.select(AuditLog.action, AuditLog.outcome)
        .where(AuditLog.target_type == "study", AuditLog.target_id == str(study_id))
        .order_by(AuditLog.id)
    )
    return [f"{r['action']}:{r['outcome']}" for r in rows]


async def doctor(new_api, name: str = "dr.chen"):  # type: ignore[no-untyped-def]
    client = new_api()
    await client.login(name, DEMO_PASSWORD)
    return client


async def test_archive_now_is_refused_with_a_reason(new_api, tmp_path: Path) -> None:
    study_id = await ingest_study(tmp_path, age_days=3)
    path = f"/api/archive/studies/{study_id}/archive"
    version = await version_of(study_id)
    chen = await doctor(new_api)
    assert (await chen.post(path, json={"version": version})).status_code == 403
    alliance = await admin(new_api, "alliance.admin")
    res = await alliance.post(path, json={"version": version})
    assert res.status_code == 403 and "never a patient's data" in res.json()["detail"]
    city = await admin(new_api, "admin.city")
    assert (await city.post(path, json={"version": version})).status_code == 404
    east = await admin(new_api)
    res = await east.post(path, json={"version": version - 1})
    assert res.status_code == 409 and "changed meanwhile" in res.json()["detail"]
    assert (await east.post(path, json={"version": version})).status_code == 202
    # no dispatcher yet (this test runs first): the row waits; a second click queues no other
    res = await east.post(path, json={"version": version})
    assert res.status_code == 409 and "already being archived" in res.json()["detail"]
    rows = await Outbox.select(Outbox.status).where(
        Outbox.kind == "archive.study", Outbox.idempotency_key.like(f"archive-study-{study_id}-%")
    )
    assert rows == [{"status": "pending"}]
    assert await tier(study_id) == "online"


async def test_archive_now_then_a_doctor_retrieves_it_through_the_dispatcher(
    dispatcher, new_api, flow_runs, tmp_path: Path
) -> None:
    study_id = await ingest_study(tmp_path, age_days=3)  # not due by the policy
    east = await admin(new_api)
    res = await east.post(
        f"/api/archive/studies/{study_id}/archive",
        json={"version": await version_of(study_id), "reason": "closed case"},
    )
    assert res.status_code == 202, res.text
    key = res.json()["message"].split("flow run ")[1].rstrip(").")
    assert key.startswith(f"archive-study-{study_id}-")
    await wait_tier(study_id, "archive", dispatcher)
    await wait_run(flow_runs, key)
    assert set(flow_runs(key)[-1]["parameters"]) == {"outbox_id"}  # ids only
    assert not any(p.exists() for p in await online_files(study_id))
    assert (await actions(study_id))[-2:] == [
        "study.archive_requested:success",
        "study.archive:success",
    ]
    again = await east.post(
        f"/api/archive/studies/{study_id}/archive", json={"version": await version_of(study_id)}
    )
    assert again.status_code == 409 and "Only an online study" in again.json()["detail"]

    other = await doctor(new_api, "dr.wang")  # CITY: not his hospital's study
    res = await other.post(f"/api/archive/studies/{study_id}/retrieval", json={"reason": "x"})
    assert res.status_code == 404, res.text
    chen = await doctor(new_api)  # EAST
    res = await chen.post(
        f"/api/archive/studies/{study_id}/retrieval", json={"reason": "today's comparison"}
    )
    assert res.status_code == 201, res.text
    assert res.json()["requested_by_name"] and res.json()["state"] == "queued"
    await wait_state(east, res.json()["id"], "available", dispatcher)
    assert await tier(study_id) == "available"
    assert all(p.exists() for p in await online_files(study_id))


async def test_the_demo_holds_an_archived_study(demo) -> None:
    hid = await hospital_id(ARCHIVED_HOSPITAL)
    run = await MigrationRun.select().where(
        MigrationRun.hospital == hid, MigrationRun.source_detail == DEMO_ARCHIVED
    )
    assert len(run) == 1 and run[0]["state"] == "notified"
    archived = await Study.select(Study.id, Study.archived_at).where(
        Study.hospital == hid, Study.tier == "archive"
    )
    assert any(r["archived_at"] is not None for r in archived)


async def test_of_simultaneous_archive_clicks_exactly_one_is_queued(
    new_api, tmp_path: Path
) -> None:
    study_id = await ingest_study(tmp_path, age_days=3)
    version = await version_of(study_id)
    clients = [await admin(new_api) for _ in range(6)]
    path = f"/api/archive/studies/{study_id}/archive"
    answers = await asyncio.gather(*(c.post(path, json={"version": version}) for c in clients))
    codes = sorted(r.status_code for r in answers)
    assert codes == [202] + [409] * 5, [r.text for r in answers]
    assert all(
        "already being archived" in r.json()["detail"] for r in answers if r.status_code == 409
    )
    queued = await Outbox.count().where(
        Outbox.kind == "archive.study", Outbox.idempotency_key.like(f"archive-study-{study_id}-%")
    )
    assert queued == 1
    assert (await actions(study_id)).count("study.archive_requested:success") == 1
