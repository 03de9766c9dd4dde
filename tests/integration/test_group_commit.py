"""Group commit on SQLite (``store.db._Writer``): concurrent transactions of one process
share a COMMIT, each in its own savepoint. A failing one leaves nothing and takes nothing of
the others with it; each answers only once its work is durable: visible to a new
connection right then, and still there after the process that was told so is killed -9."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from kernel.settings import get_settings
from store import db
from store.db import transaction
from store.sql import event as event_sql
from store.tables import CaseHistory, Consultation
from store.uow import now
from tests.integration.test_engine import new_case

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(get_settings().is_postgres, reason="group commit is SQLite's"),
]

ROOT = Path(__file__).resolve().parents[2]


def committed(topic: str) -> list[str]:
    """The event types of ``topic`` a new connection sees (what is committed)."""
    conn = sqlite3.connect(get_settings().sqlite_path)
    try:
        rows = conn.execute("SELECT type FROM event WHERE topic = ? ORDER BY id", [topic])
        return [r[0] for r in rows.fetchall()]
    finally:
        conn.close()


async def test_concurrent_transactions_commit_together_and_one_failure_stays_alone() -> None:
    topic = f"group-{now().timestamp()}"
    async with transaction():  # the loop's writer exists from here on
        pass
    writer = db._writers[asyncio.get_running_loop()]
    commits = writer.commits
    seen_after: dict[int, list[str]] = {}

    async def one(i: int) -> None:
        async with transaction():
            await event_sql.INSERT.run(topic=topic, type=f"t{i}", payload="{}", created_at=now())
            await asyncio.sleep(0)  # let the others queue behind this one
            if i == 7:
                raise ValueError("this one fails")
        seen_after[i] = committed(topic)  # answered: its row is durable already

    results = await asyncio.gather(*(one(i) for i in range(20)), return_exceptions=True)
    failed = [i for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert failed == [7] and isinstance(results[7], ValueError)
    kept = [f"t{i}" for i in range(20) if i != 7]
    assert sorted(committed(topic)) == sorted(kept)
    for i, seen in seen_after.items():
        assert f"t{i}" in seen
    # they shared commits: fewer than one a transaction
    assert writer.commits - commits < 10, writer.commits - commits
    await asyncio.gather(*writer.tasks)  # the queued flush finds nothing left to commit
    assert writer.group is None


async def test_a_transaction_alone_commits_at_once() -> None:
    topic = f"alone-{now().timestamp()}"
    async with transaction():
        await event_sql.INSERT.run(topic=topic, type="x", payload="{}", created_at=now())
    assert committed(topic) == ["x"]
    writer = db._writers[asyncio.get_running_loop()]
    assert writer.group is None  # nothing left open: other processes can write


async def test_nested_transactions_join_the_request_savepoint() -> None:
    topic = f"nested-{now().timestamp()}"
    with pytest.raises(ZeroDivisionError):
        async with transaction():
            await event_sql.INSERT.run(topic=topic, type="outer", payload="{}", created_at=now())
            async with transaction():
                await event_sql.INSERT.run(
                    topic=topic, type="inner", payload="{}", created_at=now()
                )
            1 / 0  # noqa: B018
    assert committed(topic) == []


CHILD = """
import asyncio, sys
from states.consultation import ConsultationState as C
from states.machine import Process, Step
from store.engine import apply
from store.tables import Consultation
from store.uow import Ctx

FLIP = Process("group_kill", C, C.reviewing, [
    Step("close", C.reviewing, C.withdrawn), Step("open", C.withdrawn, C.reviewing)])

async def flips(case_id):
    while True:
        row = await Consultation.select(Consultation.state).where(Consultation.id == case_id)
        trigger = "close" if row[0]["state"] == "reviewing" else "open"
        done = await apply(Ctx(), FLIP, Consultation, case_id, trigger)
        print(case_id, done.version, done.history_id, flush=True)

async def main():
    await asyncio.gather(*(flips(int(c)) for c in sys.argv[1:]))

asyncio.run(main())
"""


def start_child(cases: list[int]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *map(str, cases)],
        cwd=ROOT,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def test_every_acknowledged_transition_survives_kill_9() -> None:
    cases = [await new_case() for _ in range(8)]
    child = start_child(cases)
    acknowledged: list[tuple[int, int, int]] = []
    try:
        assert child.stdout is not None
        while len(acknowledged) < 300:
            line = await asyncio.to_thread(child.stdout.readline)
            if not line:
                assert child.stderr is not None
                pytest.fail(f"the child ended: {child.stderr.read()[-2000:]}")
            case_id, version, history_id = map(int, line.split())
            acknowledged.append((case_id, version, history_id))
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    assert child.returncode == -signal.SIGKILL
    ids = [h for _, _, h in acknowledged]
    rows = await CaseHistory.select(CaseHistory.id).where(CaseHistory.id.is_in(ids))
    assert len(rows) == len(ids)  # every acknowledged step is there, once
    versions = {
        r["id"]: r["version"]
        for r in await Consultation.select(Consultation.id, Consultation.version).where(
            Consultation.id.is_in(cases)
        )
    }
    for case_id, version, _ in acknowledged:
        assert versions[case_id] >= version
    for case_id in cases:  # history and version agree: no half-stored step
        steps = await CaseHistory.count().where(
            CaseHistory.case_type == "group_kill", CaseHistory.case_id == case_id
        )
        assert versions[case_id] == 1 + steps
