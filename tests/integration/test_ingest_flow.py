"""The migration run's flow, run by the real dispatcher on a real Prefect server: spooled
files → verified, stored, indexed → thumbnails → billed → matched → notified, one flow run
named ``migration-<id>`` with the outbox id as its only parameter."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from pydicom.data import get_testdata_file

from api.ingest.steps import create_run, hand_over, spool_file
from imaging.synth import Sizes, synth
from store import files
from store.engine import timeline
from store.tables import (
    Event,
    Examination,
    Hospital,
    Instance,
    MigrationItem,
    MigrationLog,
    MigrationRun,
    Outbox,
    StoragePolicy,
    Study,
)
from store.uow import Ctx

pytestmark = pytest.mark.integration

PIPELINE = ["verify", "store", "index", "make_thumbnails", "bill", "match", "notify"]


async def hospital(code: str = "WEST") -> Any:
    return await Hospital.select().where(Hospital.code == code).first()


async def spooled_run(paths: list[Path], code: str = "WEST") -> int:
    h = await hospital(code)
    run_id = await create_run(Ctx(), h["id"], "import", "test", spool=True)
    for p in paths:
        await spool_file(run_id, p, p.name)
    await hand_over(Ctx(), run_id)
    return run_id


async def wait_state(dispatcher, run_id: int, states: set[str], within: float = 180) -> Any:
    deadline = time.monotonic() + within
    while True:
        row = await MigrationRun.select().where(MigrationRun.id == run_id).first()
        if row["state"] in states:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is {row['state']}\n{dispatcher.output()[-6000:]}")
        await asyncio.sleep(0.2)


async def outbox_done(dispatcher, key: str, within: float = 30) -> Any:
    deadline = time.monotonic() + within
    while True:
        row = await Outbox.select().where(Outbox.idempotency_key == key).first()
        if row["status"] == "done":
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"{key} is {row['status']}\n{dispatcher.output()[-6000:]}")
        await asyncio.sleep(0.2)


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return synth(tmp_path_factory.mktemp("flow"), patients=1, sizes=Sizes.small())


async def test_a_spooled_study_goes_all_the_way(dispatcher, flow_runs, study) -> None:
    bad = Path(get_testdata_file("MR_truncated.dcm", download=False))
    h = await hospital()
    started = time.monotonic()
    run_id = await spooled_run([*study, bad])
    run = await wait_state(dispatcher, run_id, {"notified", "failed"})
    print(f"{len(study) + 1} files migrated in {time.monotonic() - started:.2f} s")
    assert run["state"] == "notified", run["error"]
    assert (run["received_count"], run["stored_count"], run["failed_count"]) == (
        len(study) + 1,
        len(study),
        1,
    )
    assert run["finished_at"] is not None
    steps = [r["event"] for r in await timeline("migration", run_id)]
    assert steps == ["receive", *PIPELINE]
    [refused] = await MigrationItem.select().where(
        MigrationItem.migration == run_id, MigrationItem.status == "refused"
    )
    assert (refused["file_name"], refused["code"]) == ("MR_truncated.dcm", "truncated")
    assert not files.spool_dir(run_id).exists()

    studies = {
        r["study"]
        for r in await Instance.select(Instance.study).where(Instance.migration == run_id)
    }
    assert len(studies) == 3
    logs = await MigrationLog.select().where(MigrationLog.migration == run_id)
    assert {r["study"] for r in logs} == studies
    policy = await StoragePolicy.select().where(StoragePolicy.hospital == h["id"]).first()
    for row in logs:
        assert row["billing_entity"] == h["name"] and row["size_bytes"] > 0
        assert row["resource_package"] == policy["resource_package"]
        assert row["billing_unit"] == policy["billing_unit"] and row["validity_until"]
    for s in await Study.select().where(Study.id.is_in(list(studies))):
        assert s["thumbnail"] and files.thumbnail_path(s["thumbnail"]).read_bytes()[:2] == (
            b"\xff\xd8"
        )
        assert s["validity_until"] is not None
    # each study became one examination of the hospital's list, in "images arrived"
    exams = await Examination.select(Examination.study, Examination.status).where(
        Examination.study.is_in(list(studies))
    )
    assert sorted(e["study"] for e in exams) == sorted(studies)
    assert {e["status"] for e in exams} == {"images_arrived"}

    progress = (
        await Event.select(Event.payload)
        .where(Event.topic == f"hospital:{h['id']}", Event.type == "migration.progress")
        .order_by(Event.id)
    )
    seen = [msgspec.json.decode(e["payload"]) for e in progress]
    mine = [p for p in seen if p["case_id"] == run_id]
    # the run's progress reaches 100 % with every file stored (batches report as they end)
    last = max(mine, key=lambda p: (p["percent"], p["stored"]))
    assert last["percent"] == 100 and last["stored"] == len(study)

    outbox = await outbox_done(dispatcher, f"migration-{run_id}")
    [flow_run] = flow_runs(f"migration-{run_id}")
    assert flow_run["state_type"] == "COMPLETED"
    assert flow_run["parameters"] == {"outbox_id": outbox["id"]}


async def test_the_same_study_again_changes_nothing(dispatcher, study) -> None:
    h = await hospital()
    first = await spooled_run(study)
    await wait_state(dispatcher, first, {"notified"})
    used = (await hospital())["storage_used_bytes"]
    again = await spooled_run(study)
    run = await wait_state(dispatcher, again, {"notified", "failed"})
    assert run["state"] == "notified"
    assert (run["duplicate_count"], run["stored_count"]) == (len(study), 0)
    assert (await hospital())["storage_used_bytes"] == used
    assert await MigrationLog.count().where(MigrationLog.migration == again) == 0
    assert h["id"]


async def test_a_run_of_bad_files_only_fails_with_the_reason(dispatcher, tmp_path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")
    run_id = await spooled_run([junk])
    run = await wait_state(dispatcher, run_id, {"failed", "notified"})
    assert run["state"] == "failed"
    assert run["error"] == "None of the 1 received file(s) could be stored."
    history = await timeline("migration", run_id)
    assert [r["event"] for r in history] == ["receive", "verify", "fail"]
    assert history[-1]["reason"] == run["error"]


async def test_a_dispatcher_killed_mid_run_loses_and_doubles_nothing(dispatcher, tmp_path) -> None:
    paths = synth(tmp_path, patients=3, sizes=Sizes.small())  # 3 patients, ~30 files
    h = await hospital()
    used = h["storage_used_bytes"]
    run_id = await spooled_run(paths)
    deadline = time.monotonic() + 60
    while True:  # kill it once it has checked some files but not all
        done = await MigrationItem.count().where(
            MigrationItem.migration == run_id, MigrationItem.status != "received"
        )
        if done > 0:
            break
        assert time.monotonic() < deadline, dispatcher.output()[-4000:]
        await asyncio.sleep(0.02)
    dispatcher.kill()
    killed_at = done
    dispatcher.start()
    run = await wait_state(dispatcher, run_id, {"notified", "failed"}, within=120)
    assert run["state"] == "notified", run["error"]
    print(f"killed after {killed_at}/{len(paths)} files; the rerun finished the run")
    assert (run["received_count"], run["stored_count"], run["failed_count"]) == (
        len(paths),
        len(paths),
        0,
    )
    instances = await Instance.select(Instance.storage_path, Instance.size_bytes).where(
        Instance.migration == run_id
    )
    assert len(instances) == len(paths)
    assert all(files.online_path(i["storage_path"]).exists() for i in instances)
    assert (await hospital())["storage_used_bytes"] == used + sum(
        i["size_bytes"] for i in instances
    )
    assert await MigrationLog.count().where(MigrationLog.migration == run_id) == 9
    steps = [r["event"] for r in await timeline("migration", run_id)]
    assert steps == ["receive", *PIPELINE]
