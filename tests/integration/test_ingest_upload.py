"""Uploads (files, a folder's files, zips) over real HTTP, the runs and the migration log
APIs, and the zip checks: traversal, bombs and lies are refused whole, store nothing and
are audited."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from pydicom.data import get_testdata_file

from api.ingest.steps import create_run, step
from api.ingest.zips import ZipLimits, expand_zip
from flows.migration import migrate_inline
from imaging.synth import Sizes, synth
from store import files
from store.tables import AuditLog, MigrationItem, MigrationRun
from store.uow import Ctx
from tests.fixtures.hospitals import DEMO_PASSWORD as PASSWORD
from tests.fixtures.hospitals import hospital_id

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return synth(tmp_path_factory.mktemp("upload"), patients=1, sizes=Sizes.small())


def zip_of(entries: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
async def west(new_api) -> Any:
    client = new_api()
    await client.login("admin.west", PASSWORD, admin=True)
    return client


async def runs_count() -> int:
    return await MigrationRun.count()


def spooled(run_id: int) -> list[Path]:
    folder = files.spool_dir(run_id)
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_files_a_folder_and_a_zip_become_one_run(west, study) -> None:
    plain = study[:2]
    zipped = zip_of({f"exam/{p.parent.name}/{p.name}": p.read_bytes() for p in study[2:]})
    res = await west.post(
        "/api/ingest/uploads",
        files=[
            ("files", (f"folder/{plain[0].name}", plain[0].read_bytes(), "application/dicom")),
            ("files", (plain[1].name, plain[1].read_bytes(), "application/octet-stream")),
            ("files", ("export.zip", zipped, "application/zip")),
        ],
    )
    assert res.status_code == 201, res.text
    accepted = res.json()
    run_id = accepted["run_id"]
    assert accepted["files"] == len(study) and accepted["url"] == f"/manage/migrations/{run_id}"
    items = (
        await MigrationItem.select()
        .where(MigrationItem.migration == run_id)
        .order_by(MigrationItem.id)
    )
    assert [i["status"] for i in items] == ["received"] * len(study)
    assert items[0]["file_name"] == f"folder/{plain[0].name}"
    assert items[2]["file_name"].startswith("export.zip/exam/")
    assert len(spooled(run_id)) == len(study)
    run = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    assert (run["source"], run["hospital"], run["state"]) == (
        "upload",
        await hospital_id("WEST"),
        "received",
    )
    assert run["received_bytes"] == sum(p.stat().st_size for p in study)

    # the flow's steps, run here in-process: the run ends notified and billed
    assert await migrate_inline(run_id) == "notified"
    detail = (await west.get(f"/api/ingest/runs/{run_id}")).json()
    assert detail["run"]["percent"] == 100 and detail["run"]["stored"] + detail["run"][
        "duplicates"
    ] == len(study)
    assert [h["event"] for h in detail["history"]][:2] == ["receive", "verify"]
    assert len(detail["items"]) == len(study)
    log = (await west.get("/api/ingest/log", params={"q": ""})).json()
    assert any(r["migration_id"] == run_id for r in log["items"])
    csv_res = await west.get("/api/ingest/log.csv")
    assert csv_res.status_code == 200 and csv_res.text.startswith("\ufeffTime 时间")
    assert str(run_id) in csv_res.text


@pytest.mark.parametrize(
    ("entries", "status", "says"),
    [
        ({"../../etc/evil.dcm": b"x" * 200}, 400, "path traversal"),
        ({"/abs/evil.dcm": b"x" * 200}, 400, "path traversal"),
        ({"C:\\evil.dcm": b"x" * 200}, 400, "path traversal"),
        ({"bomb.dcm": b"\0" * (8 * 1024 * 1024)}, 413, "zip bomb"),
    ],
)
async def test_dangerous_zips_are_refused_whole(west, study, entries, status, says) -> None:
    before, audits = await runs_count(), await AuditLog.count()
    data = zip_of({"good.dcm": study[0].read_bytes(), **entries})
    res = await west.post(
        "/api/ingest/uploads", files=[("files", ("export.zip", data, "application/zip"))]
    )
    assert res.status_code == status, res.text
    assert says in res.json()["detail"] if "detail" in res.json() else says in res.text
    assert await runs_count() == before
    assert not list((files.spool_root() / "incoming").glob("*/*"))
    row = await AuditLog.select().order_by(AuditLog.id, ascending=False).first()
    assert await AuditLog.count() > audits
    assert row["action"] == "POST /api/ingest/uploads" and says in row["detail"]


async def test_not_a_zip_nor_a_form_is_refused(west) -> None:
    before = await runs_count()
    broken = await west.post(
        "/api/ingest/uploads",
        files=[("files", ("broken.zip", b"PK\x03\x04 truncated", "application/zip"))],
    )
    assert broken.status_code == 400 and "zip" in broken.text
    raw = await west.post(
        "/api/ingest/uploads", content=b"abc", headers={"Content-Type": "application/dicom"}
    )
    assert raw.status_code == 415 and "multipart/form-data" in raw.text
    empty = await west.post("/api/ingest/uploads", files=[("other", ("x.txt", b"x"))])
    assert empty.status_code == 400 and "Choose at least one file" in empty.text
    assert await runs_count() == before


async def test_who_may_upload(new_api, study) -> None:
    one = [("files", (study[0].name, study[0].read_bytes(), "application/dicom"))]
    doctor = new_api()
    await doctor.login("dr.liu", PASSWORD)
    assert (await doctor.post("/api/ingest/uploads", files=one)).status_code == 403
    # images are patient data: the alliance admin uploads none (SPEC "Users"; issue 12)
    alliance = new_api()
    await alliance.login("alliance.admin", PASSWORD, admin=True)
    east = await hospital_id("EAST")
    runs = await MigrationRun.count()
    for url in ("/api/ingest/uploads", f"/api/ingest/uploads?hospital_id={east}"):
        res = await alliance.post(url, files=one)
        assert res.status_code == 403 and "never a patient's data" in res.text
    assert await MigrationRun.count() == runs
    admin = new_api()
    await admin.login("admin.east", PASSWORD, admin=True)
    west = await hospital_id("WEST")
    res = await admin.post(f"/api/ingest/uploads?hospital_id={west}", files=one)
    assert res.status_code == 400 and "your own hospital" in res.text
    res = await admin.post(f"/api/ingest/uploads?hospital_id={east}", files=one)
    assert res.status_code == 201, res.text
    run = await MigrationRun.select().where(MigrationRun.id == res.json()["run_id"]).first()
    assert run["hospital"] == east


async def test_runs_are_scoped_and_a_failed_run_can_be_retried(new_api, west) -> None:
    east_run = await create_run(Ctx(), await hospital_id("EAST"), "import", "scoped")
    assert (await west.get(f"/api/ingest/runs/{east_run}")).status_code == 404
    listed = (await west.get("/api/ingest/runs")).json()["items"]
    assert east_run not in {r["id"] for r in listed}

    run_id = await create_run(Ctx(), await hospital_id("WEST"), "import", "retry me")
    await step(run_id, "fail", reason="disk full")
    run = (await west.get(f"/api/ingest/runs/{run_id}")).json()["run"]
    assert run["state"] == "failed" and run["actions"] == ["retry"]
    res = await west.post(f"/api/ingest/runs/{run_id}/retry")
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "received"
    again = await west.post(f"/api/ingest/runs/{run_id}/retry")
    assert again.status_code == 409 and "received" in again.text


async def test_bad_filters_are_400(west) -> None:
    assert (await west.get("/api/ingest/runs?state=lost")).status_code == 400
    assert (await west.get("/api/ingest/log?date_from=yesterday")).status_code == 400
    res = await west.get("/api/ingest/log?date_from=2026-02-02&date_to=2026-01-01")
    assert res.status_code == 400 and "before" in res.text


async def test_dicom_nodes_admin(west, new_api) -> None:
    res = await west.post(
        "/api/ingest/nodes", json={"ae_title": "WEST_CT1", "host": "10.1.2.3", "description": "CT"}
    )
    assert res.status_code == 201, res.text
    node = res.json()
    assert node["hospital"] and node["enabled"]
    dup = await west.post("/api/ingest/nodes", json={"ae_title": "WEST_CT1"})
    assert dup.status_code == 409
    bad = await west.post("/api/ingest/nodes", json={"ae_title": "WAY_TOO_LONG_AE_TITLE"})
    assert bad.status_code == 400 and "16" in bad.text
    off = await west.patch(
        f"/api/ingest/nodes/{node['id']}", json={"version": node["version"], "enabled": False}
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    stale = await west.patch(
        f"/api/ingest/nodes/{node['id']}", json={"version": node["version"], "enabled": True}
    )
    assert stale.status_code == 409
    east = new_api()
    await east.login("admin.east", PASSWORD, admin=True)
    assert (await east.delete(f"/api/ingest/nodes/{node['id']}")).status_code == 404
    assert (await west.delete(f"/api/ingest/nodes/{node['id']}")).status_code == 200
    actions = (
        await AuditLog.select(AuditLog.action)
        .where(AuditLog.target_type == "dicom_node", AuditLog.target_id == str(node["id"]))
        .order_by(AuditLog.id)
    )  # PostgreSQL returns rows in no particular order without it
    assert [a["action"] for a in actions] == [
        "dicom_node.create",
        "dicom_node.update",
        "dicom_node.delete",
    ]


def test_zip_limits_count_entries_bytes_and_lies(tmp_path: Path) -> None:
    data = tmp_path / "a.zip"
    data.write_bytes(zip_of({f"f{i}.dcm": b"abc" * 10 for i in range(5)}))
    limits = ZipLimits(entries=4, total_bytes=10**6, file_bytes=10**6, ratio=1000)
    with pytest.raises(Exception, match="holds 5 files"):
        expand_zip(data, tmp_path / "x", "The zip", limits)
    limits = ZipLimits(entries=10, total_bytes=100, file_bytes=10**6, ratio=1000)
    with pytest.raises(Exception, match="expands to 150 bytes"):
        expand_zip(data, tmp_path / "y", "The zip", limits)
    limits = ZipLimits(entries=10, total_bytes=10**6, file_bytes=20, ratio=1000)
    with pytest.raises(Exception, match="allowed for one file"):
        expand_zip(data, tmp_path / "z", "The zip", limits)
    # a header that lies about the size: expansion stops at what it declared
    liar = bytearray(zip_of({"liar.dcm": b"A" * 5000}, zipfile.ZIP_STORED))
    _shrink_declared_size(liar, 5000, 100)
    data.write_bytes(bytes(liar))
    with pytest.raises(Exception, match=r"is not a readable zip|past the size"):
        expand_zip(data, tmp_path / "w", "The zip", ZipLimits(10, 10**6, 10**6, 1000))
    assert Path(get_testdata_file("CT_small.dcm", download=False)).exists()


def _shrink_declared_size(buf: bytearray, real: int, fake: int) -> None:
    """Rewrite the uncompressed size in the local header and the central directory."""
    old, new = real.to_bytes(4, "little"), fake.to_bytes(4, "little")
    at = 0
    while (at := buf.find(old, at)) != -1:
        buf[at : at + 4] = new
        at += 4
