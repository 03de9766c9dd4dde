"""The C-ECHO/C-STORE receiver (``aimis scp``) in its own process on a loopback port, fed by
pynetdicom's SCU and by dcmtk's ``storescu``/``echoscu``: known AEs store, each association
is one migration run handed to its flow, unknown AEs are rejected and audited."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE

from api.ingest.steps import create_run, ingest_file
from imaging.synth import Sizes, synth
from store import files
from store.tables import (
    AuditLog,
    DicomNode,
    Hospital,
    Instance,
    MigrationItem,
    MigrationRun,
    Outbox,
)
from store.uow import Ctx, now
from tests.conftest import free_port, start_scp, stop_process

pytestmark = pytest.mark.integration

KNOWN = "TEST_PACS"
PINNED = "PINNED_PACS"  # may call only from 10.9.9.9
DCMTK = "DCMTK_PACS"
# Debian's dcmtk (pynetdicom installs Python apps of the same names into the virtualenv)
DCMTK_STORESCU, DCMTK_ECHOSCU = "/usr/bin/storescu", "/usr/bin/echoscu"


async def add_node(ae_title: str, host: str = "") -> None:
    """A node of CITY: from ``host`` only, or marked "any address" without one."""
    hospital = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    if not await DicomNode.exists().where(DicomNode.ae_title == ae_title):
        await DicomNode.insert(
            DicomNode(
                hospital=hospital["id"],
                ae_title=ae_title,
                host=host,
                any_address=not host,
                created_at=now(),
            )
        )


@pytest.fixture(scope="module")
def scp(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    for title, host in ((KNOWN, ""), (PINNED, "10.9.9.9"), (DCMTK, "")):
        asyncio.run(add_node(title, host))
    port = free_port()
    log = tmp_path_factory.mktemp("scp") / "scp.log"
    proc = start_scp(port, log)
    yield port
    if not stop_process(proc, 20):
        raise AssertionError(f"aimis scp did not stop on SIGTERM:\n{log.read_text()}")


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return synth(tmp_path_factory.mktemp("dimse"), patients=1, sizes=Sizes.small())


def associate(port: int, ae_title: str, files: list[Path] = ()) -> Any:  # type: ignore[assignment]
    ae = AE(ae_title=ae_title)
    ae.add_requested_context("1.2.840.10008.1.1")
    pairs = set()
    for path in files:
        ds = dcmread(path, stop_before_pixels=True)
        pairs.add((ds.SOPClassUID, ds.file_meta.TransferSyntaxUID))
    for sop_class, ts in sorted(pairs):
        ae.add_requested_context(sop_class, ts)
    return ae.associate("127.0.0.1", port, ae_title="AIMIS")


def store_all(port: int, files: list[Path], ae_title: str = KNOWN) -> list[int]:
    assoc = associate(port, ae_title, files)
    assert assoc.is_established
    statuses = [int(assoc.send_c_store(p).Status) for p in files]
    assoc.release()
    return statuses


async def latest_run(ae_title: str) -> Any:
    return (
        await MigrationRun.select()
        .where(MigrationRun.source == "cstore", MigrationRun.source_detail.like(f"{ae_title} %"))
        .order_by(MigrationRun.id, ascending=False)
        .first()
    )


async def handed_over(run_id: int, within: float = 10) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        row = await Outbox.select().where(Outbox.idempotency_key == f"migration-{run_id}").first()
        if row:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} was not handed to its flow")


async def test_echo_then_store_a_study_as_one_run(scp, study) -> None:
    assoc = associate(scp, KNOWN)
    assert assoc.is_established
    assert int(assoc.send_c_echo().Status) == 0
    assoc.release()

    started = time.monotonic()
    statuses = await asyncio.to_thread(store_all, scp, study)
    print(f"C-STORE of {len(study)} instances: {time.monotonic() - started:.2f} s")
    assert statuses == [0] * len(study)
    run = await latest_run(KNOWN)
    city = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    assert (run["hospital"], run["stored_count"], run["received_count"]) == (
        city["id"],
        len(study),
        len(study),
    )
    assert (await handed_over(run["id"]))["kind"] == "migration"
    sops = [dcmread(p, stop_before_pixels=True).SOPInstanceUID for p in study]
    assert await Instance.count().where(Instance.sop_uid.is_in(sops)) == len(study)

    again = await asyncio.to_thread(store_all, scp, study)
    assert again == [0] * len(study)
    second = await latest_run(KNOWN)
    assert second["id"] != run["id"] and second["duplicate_count"] == len(study)
    assert await Instance.count().where(Instance.sop_uid.is_in(sops)) == len(study)


async def items_of(run_id: int) -> list[Any]:
    return await MigrationItem.select().where(MigrationItem.migration == run_id)


def online_files(hospital: int) -> int:
    return sum(1 for _ in files.online_path(f"h{hospital}").rglob("*.dcm"))


async def exported(source: Path, tmp_path: Path) -> tuple[Any, Path, int]:
    """A new instance as its modality exported it (its own file meta header), imported into
    CITY first: the dataset, its file, CITY's id."""
    ds = dcmread(source)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.ImplementationVersionName = "MODALITY_7"
    ds.file_meta.SourceApplicationEntityTitle = "CT_ROOM_2"
    path = tmp_path / "exported.dcm"
    ds.save_as(path, enforce_file_format=True)
    city = int((await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first())["id"])
    imported = await create_run(Ctx(), city, "import", "the modality's export")
    assert (await ingest_file(imported, path)).status == "stored"
    return ds, path, city


async def sent_as(ae_title: str, status: str, words: str) -> Any:
    """The last run of ``ae_title`` holds one file with this outcome and reason."""
    run = await latest_run(ae_title)
    [item] = await items_of(run["id"])
    assert item["status"] == status and words in item["reason"], item
    return run


async def revisions(sop: str) -> list[Any]:
    return (
        await Instance.select(Instance.revision, Instance.superseded)
        .where(Instance.sop_uid == sop)
        .order_by(Instance.revision)
    )


async def test_a_resent_instance_is_a_duplicate_and_a_changed_one_a_revision(
    scp, study, tmp_path
) -> None:
    """Issue 14 (A): the receiver writes its own file meta header on every receipt, so the
    modality's own export (imported first) and its C-STORE differ in bytes, not in dataset:
    a duplicate, one version, no second file. A changed dataset is revision 2."""
    ds, path, city = await exported(study[0], tmp_path)
    used = (await Hospital.select().where(Hospital.id == city).first())["storage_used_bytes"]
    on_disk = await asyncio.to_thread(online_files, city)

    header = "already stored as revision 1 (only the file meta header differs)"
    for _ in range(2):  # the stored copy stays the modality's export
        assert await asyncio.to_thread(store_all, scp, [path]) == [0]
        run = await sent_as(KNOWN, "duplicate", header)
        assert (run["duplicate_count"], run["stored_count"], run["new_version_count"]) == (1, 0, 0)
    assert await revisions(ds.SOPInstanceUID) == [{"revision": 1, "superseded": False}]
    assert await asyncio.to_thread(online_files, city) == on_disk
    after = (await Hospital.select().where(Hospital.id == city).first())["storage_used_bytes"]
    assert after == used

    ds.ImageComments = "re-processed on the modality"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed, enforce_file_format=True)
    assert await asyncio.to_thread(store_all, scp, [changed]) == [0]
    run = await sent_as(KNOWN, "new_version", "revision 2")
    assert run["new_version_count"] == 1
    assert await revisions(ds.SOPInstanceUID) == [
        {"revision": 1, "superseded": True},
        {"revision": 2, "superseded": False},
    ]


@pytest.mark.skipif(not Path(DCMTK_STORESCU).exists(), reason="dcmtk is not installed")
async def test_dcmtk_resending_an_instance_is_a_duplicate_and_a_change_a_revision(
    scp, tmp_path
) -> None:
    native = {kind: ExplicitVRLittleEndian for kind in ("CT", "MR", "DX", "US", "CR", "MG")}
    source = synth(tmp_path / "s", patients=1, sizes=Sizes.small(), transfer_syntaxes=native)[0]
    ds, path, _ = await exported(source, tmp_path)

    def storescu(file: Path) -> None:
        sent = subprocess.run(
            [DCMTK_STORESCU, "-aet", DCMTK, "-aec", "AIMIS", "127.0.0.1", str(scp), str(file)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stdout + sent.stderr

    await asyncio.to_thread(storescu, path)
    await sent_as(DCMTK, "duplicate", "only the file meta header differs")
    ds.ImageComments = "corrected"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed, enforce_file_format=True)
    await asyncio.to_thread(storescu, changed)
    await sent_as(DCMTK, "new_version", "revision 2")
    assert [r["revision"] for r in await revisions(ds.SOPInstanceUID)] == [1, 2]


async def test_an_instance_without_patient_id_fails_with_a_status(scp, study, tmp_path) -> None:
    ds = dcmread(study[0])
    del ds.PatientID
    ds.SOPInstanceUID = generate_uid()
    bad = tmp_path / "no-patient.dcm"
    ds.save_as(bad)
    [status] = await asyncio.to_thread(store_all, scp, [bad])
    assert status == 0xA900
    run = await latest_run(KNOWN)
    [item] = await MigrationItem.select().where(MigrationItem.migration == run["id"])
    assert (item["status"], item["code"]) == ("refused", "missing-patient-id")
    assert await Instance.count().where(Instance.sop_uid == ds.SOPInstanceUID) == 0


async def test_unknown_and_misplaced_aes_are_refused_and_audited(scp) -> None:
    before = await AuditLog.count().where(AuditLog.action == "dicom.associate")
    unknown = await asyncio.to_thread(associate, scp, "STRANGER")
    assert unknown.is_rejected
    pinned = await asyncio.to_thread(associate, scp, PINNED)
    assert pinned.is_rejected  # at association time (issue 19), not accepted then aborted
    rows = await AuditLog.select().where(AuditLog.action == "dicom.associate").order_by(AuditLog.id)
    assert len(rows) >= before + 2
    details = " ".join(r["detail"] for r in rows[before:])
    assert "'STRANGER' is not a known DICOM node" in details
    assert "may call only from 10.9.9.9" in details
    assert {r["outcome"] for r in rows[before:]} == {"denied"}
    assert rows[-1]["ip"] == "127.0.0.1"


async def test_a_node_switched_off_is_refused_within_seconds(scp) -> None:
    await add_node("SOON_OFF")
    await asyncio.sleep(2.5)
    on = await asyncio.to_thread(associate, scp, "SOON_OFF")
    assert on.is_established
    on.release()
    await DicomNode.update({DicomNode.enabled: False}).where(DicomNode.ae_title == "SOON_OFF")
    await asyncio.sleep(2.5)
    off = await asyncio.to_thread(associate, scp, "SOON_OFF")
    assert off.is_rejected


async def last_refusal(head: int) -> str:
    rows = await AuditLog.select(AuditLog.detail, AuditLog.outcome).where(
        AuditLog.action == "dicom.associate", AuditLog.id > head
    )
    assert rows and {r["outcome"] for r in rows} == {"denied"}, rows
    return str(rows[-1]["detail"])


async def audit_head() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def test_a_node_without_an_address_is_refused_unless_marked_any_address(
    scp, study, new_api, uniq
) -> None:
    """Issue 12 (10d): an AE title alone is no secret. The admin gives the node's address or
    ticks "any address" (over the real API); the receiver refuses a registered AE calling
    from another address, or a row that has neither, and audits it."""
    admin = new_api()
    await admin.login("admin.city", "Demo@2026", admin=True)
    title = uniq("NOHOST")[:16].upper()
    for body, words in (
        ({"ae_title": title}, "or tick 'any address'"),
        ({"ae_title": title, "host": "pacs.example.org"}, "is not an IP address"),
        ({"ae_title": title, "host": "10.9.9.8", "any_address": True}, "not both"),
    ):
        res = await admin.post("/api/ingest/nodes", json=body)
        assert res.status_code == 400 and words in res.json()["detail"], res.text
    assert not await DicomNode.exists().where(DicomNode.ae_title == title)
    res = await admin.post("/api/ingest/nodes", json={"ae_title": title, "host": "10.9.9.8"})
    assert res.status_code == 201 and res.json()["any_address"] is False, res.text
    node = res.json()

    async def patch(**values: Any) -> Any:
        nonlocal node
        res = await admin.patch(
            f"/api/ingest/nodes/{node['id']}", json={"version": node["version"], **values}
        )
        if res.status_code == 200:
            node = res.json()
            await asyncio.sleep(2.5)  # the receiver re-reads its nodes every 2 s
        return res

    await asyncio.sleep(2.5)
    head = await audit_head()
    assert (await asyncio.to_thread(associate, scp, title, study[:1])).is_rejected
    assert "may call only from 10.9.9.8, not 127.0.0.1" in await last_refusal(head)

    assert (await patch(host="127.0.0.1")).status_code == 200
    assert await asyncio.to_thread(store_all, scp, study[:1], title) == [0]

    res = await patch(host="")
    assert res.status_code == 400 and "tick 'any address'" in res.json()["detail"]
    res = await patch(host="", any_address=True)
    assert res.status_code == 200 and res.json()["any_address"] is True and not node["host"]
    assert await asyncio.to_thread(store_all, scp, study[:1], title) == [0]

    # a row with neither (written around the API) is refused, not taken for "anywhere"
    await DicomNode.update({DicomNode.any_address: False}).where(DicomNode.ae_title == title)
    await asyncio.sleep(2.5)
    head = await audit_head()
    assert (await asyncio.to_thread(associate, scp, title, study[:1])).is_rejected
    assert "has no IP address and is not marked 'any address'" in await last_refusal(head)


@pytest.mark.skipif(not Path(DCMTK_STORESCU).exists(), reason="dcmtk is not installed")
async def test_dcmtk_storescu_and_echoscu(scp, tmp_path) -> None:
    native = {kind: ExplicitVRLittleEndian for kind in ("CT", "MR", "DX", "US", "CR", "MG")}
    study = synth(tmp_path, patients=1, sizes=Sizes.small(), transfer_syntaxes=native)
    files = [str(p) for p in study]
    sent = await asyncio.to_thread(
        subprocess.run,
        [DCMTK_STORESCU, "-aet", DCMTK, "-aec", "AIMIS", "-R", "127.0.0.1", str(scp), *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    run = await latest_run(DCMTK)
    assert run["received_count"] == len(study) and run["failed_count"] == 0
    echo = await asyncio.to_thread(
        subprocess.run,
        [DCMTK_ECHOSCU, "-aet", "NOBODY", "-aec", "AIMIS", "127.0.0.1", str(scp)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert echo.returncode != 0 and "Rejected" in (echo.stdout + echo.stderr)
