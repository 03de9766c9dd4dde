"""Crash safety of ingest (issue 18, point 6): a run's follow-up (its flow, an outbox row) is
queued in the transaction that creates the run, held while its files arrive; a receiver
killed with ``kill -9`` between storing and releasing it leaves a row that falls due by
itself, and the real dispatcher carries the run to ``notified``. A run stranded in
``received`` without a follow-up is queued again by the stale-run sweep (a Prefect flow)
or by an admin's retry (409 while one is queued). At start-up the web app removes the
receiving folders a killed process left, never one a live process still holds."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pynetdicom import AE

from api.ingest.steps import create_run, ingest_file, requeue_stale
from imaging.synth import Sizes, synth
from store import files
from store.engine import timeline
from store.tables import (
    AuditLog,
    CaseHistory,
    DicomNode,
    Hospital,
    MigrationRun,
    Outbox,
    User,
)
from store.uow import Ctx, now
from tests.conftest import free_port, start_process, stop_process, wait_http
from tests.fixtures.hospitals import DEMO_PASSWORD as PASSWORD

pytestmark = pytest.mark.integration

HOLD_MINUTES = "0.1"  # the receivers' hold in these tests: 6 s
AE_TITLE = "RECOVERY_PACS"
DAY = 24 * 3600


async def hospital(code: str) -> Any:
    return await Hospital.select().where(Hospital.code == code).first()


async def follow_ups(run_id: int) -> list[dict[str, Any]]:
    return (
        await Outbox.select()
        .where(
            (Outbox.idempotency_key == f"migration-{run_id}")
            | Outbox.idempotency_key.like(f"migration-{run_id}-retry-%")
        )
        .order_by(Outbox.id)
    )


async def wait_state(run_id: int, state: str, log: str = "", within: float = 120) -> Any:
    deadline = time.monotonic() + within
    while True:
        row = await MigrationRun.select().where(MigrationRun.id == run_id).first()
        if row["state"] == state:
            return row
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is {row['state']}, not {state}\n{log[-6000:]}")
        await asyncio.sleep(0.2)


async def finished(run_id: int, log: str = "", within: float = 30) -> list[dict[str, Any]]:
    """The run's follow-ups once none is pending or running (the dispatcher closes its row
    just after the flow's last step)."""
    deadline = time.monotonic() + within
    while True:
        rows = await follow_ups(run_id)
        if all(r["status"] in ("done", "failed") for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{rows}\n{log[-6000:]}")
        await asyncio.sleep(0.2)


def kill9(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def web_process(log: Path, **extra: str) -> tuple[subprocess.Popen, str]:
    """Another web process of the app on the same database and data folder."""
    port = free_port()
    env = {**os.environ, "AIMIS_PORT": str(port), "AIMIS_HOST": "127.0.0.1", **extra}
    proc = start_process([sys.executable, "-m", "aimis.cli", "serve"], env, log, append=True)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc, log)
    return proc, url


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """One patient's small CT of 90 slices (and two more small studies): 90+ files."""
    sizes = dataclasses.replace(Sizes.small(), ct_slices=90)
    return synth(tmp_path_factory.mktemp("recovery"), patients=1, sizes=sizes)


@pytest.fixture(scope="module")
def singles(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Files of their own (new UIDs) for the runs of one or a few files."""
    made = synth(tmp_path_factory.mktemp("singles"), patients=1, sizes=Sizes.small())
    assert len(made) >= 6
    return made


@pytest.fixture(scope="module")
def city_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A study of its own for City's C-STORE: the singles are one patient's one study, kept
    at West and East, and the same study UID at City would show East's study to City's
    doctors by UID (tests/integration/test_shared_images.py)."""
    made = synth(tmp_path_factory.mktemp("city"), patients=1, sizes=Sizes.small())
    assert len(made) >= 3
    return made


@pytest.fixture(scope="module")
def west_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """West's stranded run's own study (not East's study UID; see ``city_files``)."""
    return synth(tmp_path_factory.mktemp("west"), patients=1, sizes=Sizes.small())


@pytest.fixture
async def west(new_api) -> Any:
    client = new_api()
    await client.login("admin.west", PASSWORD, admin=True)
    return client


async def stranded_run(code: str, path: Path, detail: str) -> int:
    """Exactly what the defect left: a run created and its file stored by the real service
    code, the process gone before anything queued its follow-up."""
    run_id = await create_run(Ctx(), (await hospital(code))["id"], "stow", detail)
    assert (await ingest_file(run_id, path)).ok
    assert await follow_ups(run_id) == []
    return run_id


# --- an admin's retry from received ------------------------------------------------------


async def test_an_admin_retries_a_stranded_run_once(west, west_files) -> None:
    run_id = await stranded_run("WEST", west_files[0], "stranded, retried by hand")
    run = (await west.get(f"/api/ingest/runs/{run_id}")).json()["run"]
    assert run["state"] == "received" and run["actions"] == ["retry"]
    page = await west.get(f"/manage/migrations/{run_id}")
    assert page.status_code == 200 and 'data-testid="retry"' in page.text
    assert 'data-testid="stranded"' in page.text

    res = await west.post(f"/api/ingest/runs/{run_id}/retry?version={run['version']}")
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "received" and res.json()["actions"] == []
    rows = await follow_ups(run_id)
    assert [(r["idempotency_key"], r["status"]) for r in rows] == [
        (f"migration-{run_id}-retry-1", "pending")
    ]
    history = await timeline("migration", run_id)
    assert [h["event"] for h in history] == ["receive", "retry"]
    assert history[-1]["actor_name"] and history[-1]["from_state"] == "received"
    admin = await User.select(User.id).where(User.username == "admin.west").first()
    audit = (
        await AuditLog.select()
        .where(AuditLog.action == "migration.retry", AuditLog.target_id == str(run_id))
        .first()
    )
    assert audit and audit["user_id"] == admin["id"] and audit["outcome"] == "success"

    again = await west.post(f"/api/ingest/runs/{run_id}/retry")
    assert again.status_code == 409 and "already queued" in again.text
    assert len(await follow_ups(run_id)) == 1
    assert [h["event"] for h in await timeline("migration", run_id)] == ["receive", "retry"]
    page = await west.get(f"/manage/migrations/{run_id}")
    assert 'data-testid="retry"' not in page.text


async def test_a_run_still_receiving_cannot_be_retried(west) -> None:
    run_id = await create_run(
        Ctx(), (await hospital("WEST"))["id"], "upload", "still arriving", follow_up=True
    )
    [held] = await follow_ups(run_id)
    assert held["status"] == "pending" and held["next_at"] > now() + timedelta(minutes=20)
    run = (await west.get(f"/api/ingest/runs/{run_id}")).json()["run"]
    assert run["actions"] == []
    res = await west.post(f"/api/ingest/runs/{run_id}/retry")
    assert res.status_code == 409 and "already queued" in res.text
    assert len(await follow_ups(run_id)) == 1


# --- start-up: half-received folders -------------------------------------------------------

HOLDER = (
    "import sys, time\n"
    "from api.ingest.receiving import claim_folder\n"
    "folder, fd = claim_folder()\n"
    "(folder / 'part-1').write_bytes(b'half a DICOM file')\n"
    "print(folder, flush=True)\n"
    "time.sleep(600)\n"
)


def receiver(log: Path) -> tuple[subprocess.Popen, Path]:
    """A process receiving into a folder of its own (it holds the folder's lock)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER],
        cwd=Path(__file__).resolve().parents[2],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=log.open("ab"),
        start_new_session=True,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line, log.read_text()
    return proc, Path(line)


def test_start_up_removes_what_a_killed_receiver_left_and_keeps_a_live_one(
    database: str, tmp_path: Path
) -> None:
    log = tmp_path / "receivers.log"
    killed, left = receiver(log)
    live, receiving = receiver(log)
    web = None
    try:
        kill9(killed)  # a half-received upload: its folder and lock file stay
        assert left.is_dir() and Path(f"{left}.lock").exists()
        # both are minutes old: the hourly age-based sweep would keep both for hours

        web, _ = web_process(tmp_path / "web.log")
        assert not left.exists() and not Path(f"{left}.lock").exists()
        assert (receiving / "part-1").read_bytes() == b"half a DICOM file"
        assert Path(f"{receiving}.lock").exists()
    finally:
        if web is not None:
            stop_process(web)
        kill9(live)
    # the live receiver is gone now: the next start removes its folder too
    web, _ = web_process(tmp_path / "web.log")
    try:
        assert not receiving.exists()
    finally:
        stop_process(web)


# --- kill -9 between storing and the follow-up ----------------------------------------------


async def test_a_web_process_killed_mid_stow_still_completes_its_run(
    dispatcher, study, tmp_path: Path, api
) -> None:
    await api.login("admin.east", "Demo@2026", admin=True)
    user = await User.select(User.id).where(User.username == "dr.chen").first()
    res = await api.post("/api/tokens/", json={"user_id": user["id"], "name": "recovery"})
    assert res.status_code == 201, res.text
    token = res.json()["token"]
    cts = [p for p in study if dcmread(p, stop_before_pixels=True).Modality == "CT"]
    assert len(cts) >= 90
    boundary = uuid.uuid4().hex
    body = (
        b"".join(
            f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
            + p.read_bytes()
            + b"\r\n"
            for p in cts
        )
        + f"--{boundary}--\r\n".encode()
    )
    headers = {
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Authorization": f"Bearer {token}",
        "User-Agent": f"recovery-{boundary[:8]}",
    }
    log = tmp_path / "web.log"
    web, url = web_process(log, AIMIS_INGEST_STALE_MINUTES=HOLD_MINUTES)
    incoming = files.spool_root() / "incoming"
    before = set(incoming.iterdir()) if incoming.exists() else set()

    def send() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server is killed mid-request
            httpx.post(f"{url}/dicomweb/studies", content=body, headers=headers, timeout=120)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        deadline = time.monotonic() + 60
        while True:  # the first batch of 32 is committed, the rest is being ingested
            run = (
                await MigrationRun.select()
                .where(MigrationRun.source_detail == f"STOW-RS recovery-{boundary[:8]}")
                .first()
            )
            if run and run["stored_count"] > 0:
                break
            assert time.monotonic() < deadline, log.read_text()[-4000:]
            await asyncio.sleep(0.01)
        kill9(web)
    finally:
        if web.poll() is None:
            kill9(web)
        sender.join(30)

    run = await MigrationRun.select().where(MigrationRun.id == run["id"]).first()
    assert run["state"] == "received" and 0 < run["stored_count"] < len(cts), run
    [held] = await follow_ups(run["id"])  # queued with the run, never released: still held
    assert held["status"] == "pending" and held["next_at"] > now(), held
    left = set(incoming.iterdir()) - before
    assert left, "the killed request's receiving folder is left behind"

    done = await wait_state(run["id"], "notified", dispatcher.output())
    assert done["stored_count"] == run["stored_count"]  # what was stored, nothing lost
    [row] = await finished(run["id"], dispatcher.output())  # the one follow-up, no second
    assert row["status"] == "done"
    events = [h["event"] for h in await timeline("migration", run["id"])]
    assert events[0] == "receive" and "retry" not in events and events[-1] == "notify"

    web, _ = web_process(log)  # the next start removes the half-received request
    try:
        assert not any(p.exists() for p in left)
    finally:
        stop_process(web)


async def add_node() -> None:
    city = await hospital("CITY")
    if not await DicomNode.exists().where(DicomNode.ae_title == AE_TITLE):
        await DicomNode.insert(
            DicomNode(hospital=city["id"], ae_title=AE_TITLE, any_address=True, created_at=now())
        )


async def test_a_c_store_receiver_killed_mid_association_still_completes_its_run(
    dispatcher, city_files, tmp_path: Path
) -> None:
    await add_node()
    port = free_port()
    log = tmp_path / "scp.log"
    env = {
        **os.environ,
        "AIMIS_DICOM_PORT": str(port),
        "AIMIS_DICOM_HOST": "127.0.0.1",
        "AIMIS_INGEST_STALE_MINUTES": HOLD_MINUTES,
    }
    scp = start_process([sys.executable, "-m", "aimis.cli", "scp"], env, log)
    try:
        deadline = time.monotonic() + 60
        while b"listening on" not in log.read_bytes():
            assert scp.poll() is None and time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.1)
        sent = city_files[:3]
        ae = AE(ae_title=AE_TITLE)
        for p in sent:
            ds = dcmread(p, stop_before_pixels=True)
            ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        assoc = await asyncio.to_thread(ae.associate, "127.0.0.1", port, ae_title="AIMIS")
        assert assoc.is_established
        statuses = [int((await asyncio.to_thread(assoc.send_c_store, p)).Status) for p in sent]
        assert statuses == [0, 0, 0]
        kill9(scp)  # every instance stored, the association never ended: no release
        await asyncio.to_thread(assoc.abort)
    finally:
        if scp.poll() is None:
            kill9(scp)
    run = (
        await MigrationRun.select()
        .where(MigrationRun.source_detail.like(f"{AE_TITLE} %"))
        .order_by(MigrationRun.id, ascending=False)
        .first()
    )
    assert run["state"] == "received" and run["stored_count"] == 3
    [held] = await follow_ups(run["id"])
    assert held["status"] == "pending" and held["next_at"] > now(), held

    done = await wait_state(run["id"], "notified", dispatcher.output())
    assert done["stored_count"] == 3
    [row] = await finished(run["id"], dispatcher.output())
    assert row["status"] == "done"


# --- the stale-run sweep -------------------------------------------------------------------


async def test_the_sweep_requeues_a_stranded_run_once_and_it_completes(
    dispatcher, run_flow, singles, prefect_api: str
) -> None:
    run_id = await stranded_run("EAST", singles[1], "stranded, found by the sweep")
    young = await stranded_run("EAST", singles[2], "stranded a moment ago")
    two_days_ago = now() - timedelta(days=2)
    await MigrationRun.update({MigrationRun.created_at: two_days_ago}).where(
        MigrationRun.id == run_id
    )
    await CaseHistory.update({CaseHistory.at: two_days_ago}).where(
        CaseHistory.case_type == "migration", CaseHistory.case_id == run_id
    )

    out = run_flow(
        "import asyncio, os\n"
        "os.environ['AIMIS_INGEST_STALE_MINUTES'] = '1440'\n"
        "from flows.housekeeping import requeue_stale_migrations\n"
        "print('requeued', asyncio.run(requeue_stale_migrations()))\n"
    )
    assert "requeued 1" in out, out
    async with httpx.AsyncClient() as http:
        found = await http.post(
            f"{prefect_api}/flow_runs/filter",
            json={
                "flows": {"name": {"any_": ["requeue-stale-migrations"]}},
                "sort": "START_TIME_DESC",
            },
            timeout=10,
        )
    runs = found.json()
    assert runs and runs[0]["state_type"] == "COMPLETED"
    history = await timeline("migration", run_id)  # (the dispatcher may be at it already)
    assert [h["event"] for h in history][:2] == ["receive", "retry"]
    assert history[1]["actor_id"] is None and "without a follow-up" in history[1]["reason"]
    assert await follow_ups(young) == []  # not stale yet

    assert await requeue_stale(DAY) == []  # again: nothing, the run has its follow-up
    done = await wait_state(run_id, "notified", dispatcher.output())
    assert done["stored_count"] == 1
    assert [r["status"] for r in await finished(run_id, dispatcher.output())] == ["done"]
    assert await requeue_stale(DAY) == []  # a finished run is never swept
    assert len(await follow_ups(run_id)) == 1
