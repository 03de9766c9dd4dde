"""The fault harness (``bench/faults.py``, issue 18 point 6) at a small size: the real web
app, DICOM receiver and dispatcher on the suite's database, killed with ``kill -9`` three
times (each once, at moments drawn from a fixed seed) while 60 transitions and 60
instances (STOW-RS and C-STORE) are acknowledged, then all killed and started again:
nothing acknowledged is lost, doubled or half-applied, and every migration run ends.

The benchmark runs the same code at 1,000 + 1,000 with the Prefect server killed too;
here the session's Prefect server is shared with other tests, so it is left alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.faults import Config, harness, kill_plan
from tests.fixtures.prefect import retire_leftovers

pytestmark = pytest.mark.integration

SEED = 20261208


def test_the_kill_plan_is_the_seeds() -> None:
    cfg = Config(transitions=60, instances=60, kills=3, seed=SEED)
    targets = ["web", "scp", "dispatcher"]
    plan = kill_plan(cfg, targets)
    assert plan == kill_plan(cfg, targets)  # the same seed, the same plan
    assert sorted(k.target for k in plan) == sorted(targets)  # each process once a round
    assert all(0 < k.after < 120 and 0 <= k.delay <= 0.25 for k in plan)
    assert [k.after for k in plan] == sorted(k.after for k in plan)
    assert plan != kill_plan(Config(transitions=60, instances=60, kills=3, seed=SEED + 1), targets)


@pytest.mark.timeout(240)
async def test_kill_9_loses_nothing_acknowledged(
    database: str, prefect_api: str, prefect_home: Path
) -> None:
    await retire_leftovers()  # earlier modules' outbox work: not this dispatcher's to run
    cfg = Config(
        transitions=60,
        instances=60,
        kills=3,
        seed=SEED,
        targets=("web", "scp", "dispatcher"),
        consultations=4,
        stow_batch=6,
        cstore_batch=6,
        stall_seconds=60,
    )
    env = {**os.environ, "PREFECT_HOME": str(prefect_home)}
    report = await harness(cfg, env, database, prefect_api=prefect_api)
    text = "\n".join(report.lines())
    print(text)  # the counts, with -s
    assert report.ok, text
    assert report.transitions["acknowledged"] >= 60 and report.transitions["lost"] == 0, text
    assert report.transitions["found"] == report.transitions["acknowledged"], text
    assert report.instances["acknowledged"] == 60 == report.instances["found"], text
    assert report.runs["stuck"] == 0 and report.runs["total"] >= 2, text
    # each run ends: notified, or failed when its request was killed before its first file
    assert report.runs["notified"] + report.runs["failed"] == report.runs["total"], text
    assert len(report.kills) == 4, text  # three during the load, all at once after it
