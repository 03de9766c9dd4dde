"""The archive flows through the real dispatcher and a real Prefect server (SPEC 9.2, 8.9):
an admin's retrieval becomes the flow run ``retrieval-<id>`` and reaches ``available``; the
end of availability re-archives it (``rearchive-<id>``); "run the policy now" and the
scheduled entry points (``apply-archive-policy``, ``sweep-archive``) archive due studies."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

import pytest

from api.archive import rules
from store.tables import ArchiveRetrieval, AuditLog, Study, Timer
from store.uow import now
from tests.fixtures.waiting import until
from tests.integration.test_archive import (
    admin,
    archived_study,
    hospital_id,
    ingest_study,
    online_files,
    tier,
)

pytestmark = pytest.mark.integration


async def wait_state(client, rid: int, state: str, dispatcher, within: float = 60) -> dict:  # type: ignore[no-untyped-def]
    async def fetch() -> dict:
        return (await client.get(f"/api/archive/retrievals/{rid}")).json()

    return await until(
        fetch,
        lambda detail: detail["retrieval"]["state"] == state,
        within,
        lambda detail: (
            f"retrieval {rid} is {detail['retrieval']}, not {state}\n{dispatcher.output()[-4000:]}"
        ),
    )


async def wait_tier(study_id: int, wanted: str, dispatcher, within: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while await tier(study_id) != wanted:
        if time.monotonic() > deadline:
            raise AssertionError(f"study {study_id} not {wanted}\n{dispatcher.output()[-4000:]}")
        await asyncio.sleep(0.2)


async def wait_run(flow_runs, name: str, within: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while True:
        runs = flow_runs(name)
        if runs and runs[-1]["state_type"] == "COMPLETED":
            return
        assert time.monotonic() < deadline, runs
        await asyncio.sleep(0.2)


async def test_a_retrieval_runs_as_its_own_flow_and_reaches_available(
    dispatcher, new_api, flow_runs, tmp_path: Path
) -> None:
    study_id = await archived_study(tmp_path)
    east = await admin(new_api)
    started = time.monotonic()
    res = await east.post(
        "/api/archive/retrievals", json={"study_id": study_id, "reason": "tumour board"}
    )
    assert res.status_code == 201, res.text
    rid = res.json()["id"]
    detail = await wait_state(east, rid, "available", dispatcher)
    took = time.monotonic() - started
    print(f"retrieval requested → available in {took:.2f} s")
    assert [h["to_state"] for h in detail["history"]] == [
        "requested",
        "queued",
        "restoring",
        "available",
    ]
    assert await tier(study_id) == "available"
    assert all(p.exists() for p in await online_files(study_id))
    await wait_run(flow_runs, f"retrieval-{rid}")  # "available" is committed inside the run
    runs = flow_runs(f"retrieval-{rid}")
    assert set(runs[-1]["parameters"]) == {"outbox_id"}  # ids only, no patient data

    past = now() - timedelta(seconds=1)
    await ArchiveRetrieval.update({ArchiveRetrieval.available_until: past}).where(
        ArchiveRetrieval.id == rid
    )
    await Timer.update({Timer.due_at: past}).where(
        Timer.case_type == "retrieval", Timer.case_id == rid
    )
    assert await rules.fire_rearchive_timers() == 1
    await wait_state(east, rid, "rearchived", dispatcher)
    assert await tier(study_id) == "archive"
    await wait_run(flow_runs, f"rearchive-{rid}")  # the files go after the commit
    assert not any(p.exists() for p in await online_files(study_id))


async def test_run_now_archives_due_studies_through_the_dispatcher(
    dispatcher, new_api, flow_runs, tmp_path: Path
) -> None:
    due = await ingest_study(tmp_path / "old", age_days=400)
    fresh = await ingest_study(tmp_path / "new", age_days=3)
    east = await admin(new_api)
    res = await east.post("/api/archive/policy/run", json={})
    assert res.status_code == 202, res.text
    await wait_tier(due, "archive", dispatcher)
    assert await tier(fresh) == "online"
    hid = await hospital_id()
    deadline = time.monotonic() + 30
    while not await AuditLog.exists().where(
        AuditLog.action == "archive.policy_run", AuditLog.hospital_id == hid
    ):
        assert time.monotonic() < deadline, dispatcher.output()[-4000:]
        await asyncio.sleep(0.2)
    key = res.json()["message"].split("flow run ")[1].rstrip(").")
    await wait_run(flow_runs, key)
    assert not any(p.exists() for p in await online_files(due))


async def test_the_scheduled_entry_points_run_as_flows(run_flow, tmp_path: Path) -> None:
    due = await ingest_study(tmp_path, code="WEST", age_days=4000)
    out = run_flow(
        "import asyncio; from flows.archive import apply_archive_policy, sweep_archive; "
        "print(asyncio.run(apply_archive_policy())); print(asyncio.run(sweep_archive()))"
    )
    assert "'archived'" in out and "rearchive_timers" in out, out
    assert await tier(due) == "archive"
    row = await Study.select(Study.archived_at).where(Study.id == due).first()
    assert row["archived_at"] is not None
