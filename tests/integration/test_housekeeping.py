"""What a crash leaves in the data folder is removed by the hourly ``sweep-temp-files``
flow, run here against the test Prefect server; nothing young or stored is touched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import httpx
import pytest

from api.dicomweb.rendered import RENDER_VERSION

pytestmark = pytest.mark.integration

HOUR = 3600


def put(path: Path, data: bytes, age_hours: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    when = time.time() - age_hours * HOUR
    os.utime(path, (when, when))
    return path


def test_sweep_removes_old_leftovers_only(tmp_path: Path, run_flow, prefect_api: str) -> None:
    data = tmp_path / "data"
    online = data / "dicom" / "online" / "h1" / "ab"
    incoming = data / "dicom" / "spool" / "incoming"
    old_tmp = put(online / ".tmp-crashed", b"x" * 100, 7)
    young_tmp = put(online / ".tmp-writing", b"x" * 10, 1)
    stored = put(online / ("ab" + "0" * 62 + ".dcm"), b"DICM" * 10, 30 * 24)
    old_upload = put(data / "attachments" / ".upload-abc.tmp", b"y" * 50, 8)
    attachment = put(data / "attachments" / "f00d", b"kept", 100)
    dead = put(incoming / "dead" / "part-1", b"z" * 1000, 9)
    # an old folder whose file is still being received is in progress, not left over
    receiving = put(incoming / "receiving" / "part-1", b"z" * 20, 0)
    when = time.time() - 9 * HOUR
    os.utime(incoming / "receiving", (when, when))
    os.utime(incoming / "dead", (when, when))
    # a pre-rendered picture of a file no instance has (purged): swept once old enough
    pictures = data / "thumbnails" / "rendered" / "f0"
    orphan = put(pictures / ("f0" + "e" * 62 + f"-v{RENDER_VERSION}-mid.jpg"), b"p" * 7, 8)

    out = run_flow(
        "import asyncio, os\n"
        f"os.environ['AIMIS_DATA_DIR'] = {str(data)!r}\n"
        "os.environ['AIMIS_TEMP_MAX_AGE_HOURS'] = '6'\n"
        "from flows.housekeeping import sweep_temp_files\n"
        "from store.migrate import migrate\n"
        "asyncio.run(migrate())\n"  # this data folder's own database (SQLite lives in it)
        "print('removed', asyncio.run(sweep_temp_files()))\n"
    )
    assert "removed 3" in out, out
    assert not old_tmp.exists() and not old_upload.exists() and not dead.parent.exists()
    assert young_tmp.exists() and stored.exists() and attachment.exists()
    assert receiving.exists()
    assert not orphan.exists()

    runs = httpx.post(
        f"{prefect_api}/flow_runs/filter",
        json={"flows": {"name": {"any_": ["sweep-temp-files"]}}, "sort": "START_TIME_DESC"},
        timeout=10,
    ).json()
    assert runs and runs[0]["state_type"] == "COMPLETED"
    logs = httpx.post(
        f"{prefect_api}/logs/filter",
        json={"logs": {"flow_run_id": {"any_": [runs[0]["id"]]}}},
        timeout=10,
    ).json()
    assert any(
        "3 leftover(s) untouched for 6 h removed, 1150 bytes freed" in x["message"] for x in logs
    ), [x["message"] for x in logs]
    assert any("1 pre-rendered picture(s)" in x["message"] for x in logs), logs
