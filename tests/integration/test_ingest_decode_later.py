"""The decode check after the acknowledgement (issue 18, point 3): a file whose header and
frame headers are sound but whose compressed pixels are not is stored and acknowledged
(STOW-RS over real HTTP, and ``ingest_file``, which C-STORE and uploads call), then the
run's thumbnail step decodes it, finds it undecodable and flags it — on the instance, the
run's item (with the reason, shown in the run's detail), the study's count, the migration
log and an audit row — never keeping it as good. Structural garbage is still refused
before anything is stored."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import generate_uid

from api.ingest.steps import create_run, ingest_file
from flows.migration import check_pixels, migrate_inline
from store.tables import AuditLog, Instance, MigrationItem, MigrationRun, Study, User
from store.uow import Ctx
from tests.fixtures.hospitals import hospital_id

pytestmark = pytest.mark.integration


def bundled(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None
    return Path(path)


def renamed(name: str, patient_id: str, tmp: Path) -> bytes:
    """A bundled file as a new instance of a new study of ``patient_id``."""
    ds = dcmread(bundled(name))
    ds.SOPInstanceUID, ds.StudyInstanceUID = generate_uid(), generate_uid()
    ds.SeriesInstanceUID, ds.PatientID = generate_uid(), patient_id
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp / f"{uuid.uuid4().hex}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


def corrupt_j2k(patient_id: str, tmp: Path) -> bytes:
    """The bundled JPEG 2000 MR slice with its codestream's main and tile headers kept (SOC,
    SIZ, …, SOT, SOD: the structural checks pass) and the tile's coded data after SOD
    overwritten with 0xFF bytes, so no decoder can produce the image."""
    ds = dcmread(bundled("MR_small_jp2klossless.dcm"))
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    start = frame.index(b"\xff\x93") + 2  # after the start-of-data marker
    ds.PixelData = encapsulate([frame[:start] + b"\xff" * (len(frame) - start)])
    ds.SOPInstanceUID, ds.StudyInstanceUID = generate_uid(), generate_uid()
    ds.SeriesInstanceUID, ds.PatientID = generate_uid(), patient_id
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp / f"{uuid.uuid4().hex}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


async def flagged_state(run_id: int, sop: str) -> dict[str, Any]:
    inst = await Instance.select().where(Instance.sop_uid == sop).first()
    item = (
        await MigrationItem.select()
        .where(MigrationItem.migration == run_id, MigrationItem.sop_uid == sop)
        .first()
    )
    study = await Study.select().where(Study.id == inst["study"]).first()
    return {"instance": inst, "item": item, "study": study}


async def test_corrupt_pixels_are_acknowledged_then_flagged_by_the_thumbnail_step(
    tmp_path: Path, api: Any
) -> None:
    hid = await hospital_id()
    run_id = await create_run(Ctx(), hid, "cstore", "DECODE-LATER")
    good = await ingest_file(run_id, renamed("CT_small.dcm", "DL-1", tmp_path), file_name="ok")
    bad = await ingest_file(run_id, corrupt_j2k("DL-2", tmp_path), file_name="bad.dcm")
    lossy = await ingest_file(
        run_id, renamed("JPEG-lossy.dcm", "DL-3", tmp_path), file_name="lossy.dcm"
    )
    # acknowledged: stored and counted like any other file
    assert [r.status for r in (good, bad, lossy)] == ["stored"] * 3, [bad.reason, lossy.reason]
    before = await flagged_state(run_id, bad.sop_uid)
    assert before["instance"]["decode_state"] == "pending" and before["item"]["code"] == ""

    assert await migrate_inline(run_id) == "notified"

    ok = await Instance.select().where(Instance.id == good.instance_id).first()
    assert (ok["decode_state"], ok["decode_error"]) == ("ok", "")
    for result in (bad, lossy):
        state = await flagged_state(run_id, result.sop_uid)
        inst, item, study = state["instance"], state["item"], state["study"]
        assert inst["decode_state"] == "undecodable"
        assert "cannot be decoded" in inst["decode_error"], inst["decode_error"]
        assert item["status"] == "stored" and item["code"] == "undecodable"
        assert "cannot be decoded" in item["reason"] and "acknowledged" in item["reason"]
        assert study["undecodable"] == 1 and study["thumbnail"] == ""  # nothing to draw
    good_study = await Study.select().where(Study.id == good.study_id).first()
    assert good_study["undecodable"] == 0 and good_study["thumbnail"]
    audit = await AuditLog.select().where(
        AuditLog.action == "migration.flag_file", AuditLog.target_id == str(run_id)
    )
    assert len(audit) == 2 and {a["outcome"] for a in audit} == {"failure"}
    assert any("bad.dcm" in a["detail"] for a in audit)
    run = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    assert run["stored_count"] == 3
    # the admin sees it: the run's items and the migration log's rows of its studies
    await api.login("admin.east", "Demo@2026", admin=True)
    detail = (await api.get(f"/api/ingest/runs/{run_id}")).json()
    codes = {i["file_name"]: (i["code"], i["reason"]) for i in detail["items"]}
    assert codes["ok"] == ("", "") and codes["bad.dcm"][0] == "undecodable"
    assert "cannot be decoded" in codes["bad.dcm"][1]
    step = next(h for h in detail["history"] if h["event"] == "make_thumbnails")
    assert step["summary"]["undecodable"] == 2 and step["summary"]["thumbnails"] == 1
    log_page = (await api.get("/api/ingest/log", params={"q": ""})).json()
    flagged = {r["study_id"]: r["undecodable"] for r in log_page["items"]}
    assert flagged[good.study_id] == 0
    assert flagged[bad.study_id] == 1 and flagged[lossy.study_id] == 1
    # a rerun decodes nothing again and flags nothing twice
    assert await check_pixels(run_id) == 0
    again = await flagged_state(run_id, bad.sop_uid)
    assert again["study"]["undecodable"] == 1


async def test_structural_garbage_is_still_refused_before_anything_is_stored(
    tmp_path: Path,
) -> None:
    hid = await hospital_id()
    run_id = await create_run(Ctx(), hid, "upload", "DECODE-LATER-GARBAGE")
    data = bytearray(renamed("MR_small_jpeg_ls_lossless.dcm", "DL-3", tmp_path))
    sof = data.index(b"\xff\xf7")  # JPEG-LS SOF55: claim a 60000² frame
    data[sof + 5 : sof + 9] = (60000).to_bytes(2, "big") * 2
    result = await ingest_file(run_id, bytes(data), file_name="bomb.dcm")
    assert (result.status, result.code) == ("refused", "malformed"), result.reason
    garbage = await ingest_file(run_id, b"\x00" * 200 + b"not dicom", file_name="x.dcm")
    assert garbage.status == "refused"
    assert await Instance.count().where(Instance.migration == run_id) == 0


@pytest.fixture
async def token(api: Any) -> str:
    """An API token of dr.chen (EAST, radiologist), made by EAST's admin."""
    await api.login("admin.east", "Demo@2026", admin=True)
    user = await User.select(User.id).where(User.username == "dr.chen").first()
    res = await api.post("/api/tokens/", json={"user_id": user["id"], "name": "PACS"})
    assert res.status_code == 201, res.text
    return str(res.json()["token"])


async def test_stow_acknowledges_then_the_admin_sees_why(
    app_url: str, token: str, api: Any, tmp_path: Path
) -> None:
    bad = corrupt_j2k("DL-4", tmp_path)
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + bad
        + f"\r\n--{boundary}--\r\n".encode()
    )
    async with httpx.AsyncClient(base_url=app_url) as http:
        res = await http.post(
            "/dicomweb/studies",
            content=body,
            headers={
                "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
                "Authorization": f"Bearer {token}",
                "Accept": "application/dicom+json",
            },
        )
    assert res.status_code == 200, res.text  # acknowledged: no FailedSOPSequence
    sop = dcmread(io.BytesIO(bad)).SOPInstanceUID
    inst = await Instance.select().where(Instance.sop_uid == sop).first()
    run_id = int(inst["migration"])
    await check_pixels(run_id)  # the thumbnail step's check (its flow is not running here)
    res = await api.get(f"/api/ingest/runs/{run_id}")
    assert res.status_code == 200, res.text
    item = next(i for i in res.json()["items"] if i["sop_uid"] == sop)
    assert item["code"] == "undecodable" and "cannot be decoded" in item["reason"]
