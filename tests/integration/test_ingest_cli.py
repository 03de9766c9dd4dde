"""``aimis synth`` and ``aimis import`` as an operator runs them (real subprocesses on the
test database), and the demo's studies."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from store.tables import Hospital, MigrationLog, MigrationRun, Study
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def aimis(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aimis.cli", *args],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=300,
    )


async def test_synth_then_import_a_folder_and_a_zip(tmp_path: Path) -> None:
    made = aimis("synth", str(tmp_path / "out"), "--patients", "1", "--small", "--seed", "7")
    assert made.returncode == 0, made.stderr
    written = sorted((tmp_path / "out").rglob("*.dcm"))
    assert f"wrote {len(written)} synthetic DICOM files" in made.stdout

    done = aimis("import", str(tmp_path / "out"), "--hospital", "west", "--now")
    assert done.returncode == 0, done.stderr
    assert ": notified (" in done.stdout
    run_id = int(done.stdout.split("migration run ")[1].split(":")[0])
    run = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    west = await Hospital.select(Hospital.id).where(Hospital.code == "WEST").first()
    assert (run["source"], run["hospital"]) == ("import", west["id"])
    assert run["stored_count"] + run["duplicate_count"] == len(written)
    assert all(p.exists() for p in written)  # the source is left as it was

    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in written:
            zf.write(p, p.relative_to(tmp_path))
    again = aimis("import", str(archive), "--hospital", "WEST")
    assert again.returncode == 0, again.stderr
    assert ": received (" in again.stdout  # queued for the dispatcher's flow


def test_import_refuses_an_unknown_hospital_or_path(tmp_path: Path) -> None:
    res = aimis("import", str(tmp_path), "--hospital", "NOWHERE")
    assert res.returncode != 0 and "No hospital has the code 'NOWHERE'" in res.stderr
    res = aimis("import", str(tmp_path / "missing"), "--hospital", "CITY")
    assert res.returncode != 0 and "neither a file nor a folder" in res.stderr


async def test_the_demo_loaded_studies_through_the_migration_runs() -> None:
    runs = await MigrationRun.select().where(MigrationRun.source_detail == "demo studies")
    assert len(runs) == 3 and {r["state"] for r in runs} == {"notified"}
    for run in runs:
        studies = await Study.count().where(Study.hospital == run["hospital"])
        assert studies >= 3
        assert await MigrationLog.count().where(MigrationLog.migration == run["id"]) == 3
