"""``api.ingest.steps.ingest_file`` against the real database and the real data folder:
verify → store atomically → index, deduplication by SOP Instance UID, refusals that store
nothing and are audited."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pydicom import Dataset, dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from api.ingest.steps import Received, create_run, ingest_file, ingest_files
from imaging.synth import Sizes, synth
from store import files
from store.tables import AuditLog, Hospital, Instance, MigrationItem, MigrationRun, Series, Study
from store.uow import Ctx
from tests.fixtures.hospitals import hospital_id

pytestmark = pytest.mark.integration


def bundled(name: str) -> Path:
    path = get_testdata_file(name, download=False)
    assert path is not None
    return Path(path)


def fresh_ct(patient_id: str) -> Dataset:
    """The bundled CT slice as a new image of a new study of ``patient_id``."""
    ds = dcmread(bundled("CT_small.dcm"))
    ds.SOPInstanceUID, ds.StudyInstanceUID = generate_uid(), generate_uid()
    ds.SeriesInstanceUID, ds.PatientID = generate_uid(), patient_id
    return ds


def encoded(ds: Dataset, path: Path) -> bytes:
    """``ds`` written to ``path`` as a DICOM file: its bytes."""
    ds.save_as(path, enforce_file_format=True)
    return path.read_bytes()


async def used(hid: int) -> int:
    row = await Hospital.select(Hospital.storage_used_bytes).where(Hospital.id == hid).first()
    return int(row["storage_used_bytes"])


@pytest.fixture(scope="module")
def study_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("synth")
    return synth(out, patients=1, seed=None, sizes=Sizes.small())


async def test_a_study_is_stored_indexed_and_counted(study_files: list[Path]) -> None:
    hid = await hospital_id()
    before = await used(hid)
    run_id = await create_run(Ctx(), hid, "import", "test")
    results = [await ingest_file(run_id, p, file_name=str(p)) for p in study_files]
    assert {r.status for r in results} == {"stored"}, [r.reason for r in results]
    total = sum(p.stat().st_size for p in study_files)
    assert await used(hid) == before + total
    for r in results:
        inst = await Instance.select().where(Instance.id == r.instance_id).first()
        path = files.online_path(inst["storage_path"])
        assert path.read_bytes() == Path(r.file_name).read_bytes()  # noqa: ASYNC240
        assert inst["hospital"] == hid and not inst["superseded"] and inst["revision"] == 1
    study_uids = {r.study_uid for r in results}
    studies = await Study.select().where(Study.study_uid.is_in(list(study_uids)))
    assert len(studies) == len(study_uids) == 3  # CT and two other modalities
    assert sum(s["num_instances"] for s in studies) == len(study_files)
    assert sum(s["size_bytes"] for s in studies) == total
    ct = next(s for s in studies if s["modalities"] == "CT")
    assert ct["patient_id"].startswith("SYN") and "^" in ct["patient_name"]
    assert ct["patient_name_search"] == ct["patient_name"].upper()
    assert ct["num_series"] == await Series.count().where(Series.study == ct["id"])
    run = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    assert (run["received_count"], run["stored_count"], run["failed_count"]) == (
        len(study_files),
        len(study_files),
        0,
    )
    assert run["received_bytes"] == total


async def test_same_bytes_again_change_nothing(study_files: list[Path]) -> None:
    hid = await hospital_id()
    first = await create_run(Ctx(), hid, "import")
    for p in study_files[:2]:
        await ingest_file(first, p)
    before_used = await used(hid)
    before_instances = await Instance.count().where(Instance.hospital == hid)
    again = await create_run(Ctx(), hid, "import")
    results = [await ingest_file(again, p) for p in study_files[:2]]
    assert [r.status for r in results] == ["duplicate", "duplicate"]
    assert await used(hid) == before_used
    assert await Instance.count().where(Instance.hospital == hid) == before_instances
    run = await MigrationRun.select().where(MigrationRun.id == again).first()
    assert (run["duplicate_count"], run["stored_count"]) == (2, 0)


async def test_the_same_dataset_under_another_file_meta_header_is_a_duplicate(
    tmp_path: Path,
) -> None:
    """Issue 14 (A): only group 0002 differs (another writer, another receipt): a duplicate,
    nothing stored, the file written for it removed again."""
    hid = await hospital_id()
    ds = fresh_ct("META-1")
    one = tmp_path / "one.dcm"
    ds.save_as(one, enforce_file_format=True)
    ds.file_meta.ImplementationVersionName = "OTHER_WRITER"
    two = tmp_path / "two.dcm"
    ds.save_as(two, enforce_file_format=True)
    assert one.read_bytes() != two.read_bytes()
    run_id = await create_run(Ctx(), hid, "stow")
    first = await ingest_file(run_id, one.read_bytes())
    before = await used(hid)
    second = await ingest_file(run_id, two)
    assert (first.status, second.status) == ("stored", "duplicate")
    assert "revision 1 (only the file meta header differs)" in second.reason
    assert second.instance_id == first.instance_id
    assert await Instance.count().where(Instance.sop_uid == ds.SOPInstanceUID) == 1
    assert await used(hid) == before
    assert not files.online_path(files.storage_path_for(hid, files.sha256_of(two))).exists()
    run = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    assert (run["stored_count"], run["duplicate_count"], run["new_version_count"]) == (1, 1, 0)


async def test_a_change_and_its_copy_in_one_batch_are_a_revision_and_a_duplicate(
    tmp_path: Path,
) -> None:
    """The comparison made before the transaction is for the revision current then; the
    copy compares with the revision its batch just wrote."""
    hid = await hospital_id()
    ds = fresh_ct("META-2")
    first = tmp_path / "first.dcm"
    ds.save_as(first, enforce_file_format=True)
    run_id = await create_run(Ctx(), hid, "stow")
    assert (await ingest_file(run_id, first)).status == "stored"
    ds.ImageComments = "corrected"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed, enforce_file_format=True)
    ds.file_meta.ImplementationVersionName = "OTHER_WRITER"
    copy = tmp_path / "copy.dcm"
    ds.save_as(copy, enforce_file_format=True)
    results = await ingest_files(run_id, [Received(changed), Received(copy)])
    assert [r.status for r in results] == ["new_version", "duplicate"]
    assert "revision 2 (only the file meta header differs)" in results[1].reason
    assert await Instance.count().where(Instance.sop_uid == ds.SOPInstanceUID) == 2


async def test_different_bytes_under_the_same_uid_become_a_new_revision(tmp_path: Path) -> None:
    hid = await hospital_id()
    ds = fresh_ct("REV-1")
    one = encoded(ds, tmp_path / "one.dcm")
    ds.SeriesDescription = "corrected"
    two = encoded(ds, tmp_path / "two.dcm")
    run_id = await create_run(Ctx(), hid, "stow")
    first = await ingest_file(run_id, one)
    second = await ingest_file(run_id, two)
    assert (first.status, second.status) == ("stored", "new_version")
    assert "revision 2" in second.reason
    rows = (
        await Instance.select(Instance.revision, Instance.superseded)
        .where(Instance.sop_uid == ds.SOPInstanceUID)
        .order_by(Instance.revision)
    )
    assert rows == [{"revision": 1, "superseded": True}, {"revision": 2, "superseded": False}]
    study = await Study.select().where(Study.id == second.study_id).first()
    assert study["num_instances"] == 1 and study["size_bytes"] == len(two)
    run = await MigrationRun.select().where(MigrationRun.id == run_id).first()
    assert (run["stored_count"], run["new_version_count"]) == (1, 1)


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("README.txt", "not-dicom"),
        ("MR_truncated.dcm", "truncated"),
        ("no_meta.dcm", "no-file-meta"),
    ],
)
async def test_bad_files_are_refused_with_a_reason_and_audited(name: str, code: str) -> None:
    hid = await hospital_id()
    before_used = await used(hid)
    before_files = sum(1 for _ in files.online_root().rglob("*.dcm"))
    run_id = await create_run(Ctx(ip="10.0.0.7"), hid, "upload")
    result = await ingest_file(run_id, bundled(name), file_name=name, ctx=Ctx(ip="10.0.0.7"))
    assert (result.status, result.code) == ("refused", code)
    assert result.reason
    assert await used(hid) == before_used
    assert sum(1 for _ in files.online_root().rglob("*.dcm")) == before_files
    assert await Instance.count().where(Instance.migration == run_id) == 0
    item = await MigrationItem.select().where(MigrationItem.id == result.item_id).first()
    assert (item["status"], item["code"], item["file_name"]) == ("refused", code, name)
    audit = await AuditLog.select().where(
        AuditLog.action == "migration.refuse_file", AuditLog.target_id == str(run_id)
    )
    assert len(audit) == 1 and audit[0]["outcome"] == "denied" and audit[0]["ip"] == "10.0.0.7"
    assert name in audit[0]["detail"]


async def test_concurrent_senders_of_one_study_index_it_once(tmp_path: Path) -> None:
    hid = await hospital_id("WEST")
    out = synth(tmp_path, patients=1, sizes=Sizes.small())
    runs = [await create_run(Ctx(), hid, "cstore") for _ in range(3)]
    results = await asyncio.gather(
        *(ingest_file(run, p) for run in runs for p in out), return_exceptions=False
    )
    stored = [r for r in results if r.status == "stored"]
    assert len(stored) == len(out)
    assert len([r for r in results if r.status == "duplicate"]) == 2 * len(out)
    uids = list({r.study_uid for r in results})
    studies = await Study.select(Study.num_instances).where(Study.study_uid.is_in(uids))
    assert sum(s["num_instances"] for s in studies) == len(out)


def test_an_interrupted_write_leaves_no_file_and_no_temp(tmp_path: Path) -> None:
    dest = tmp_path / "h1" / "ab" / "x.dcm"

    def chunks():  # type: ignore[no-untyped-def]
        yield b"a" * 1000
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        files.write_atomic(dest, chunks())
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []
    assert files.write_atomic(dest, b"whole") == 5 and dest.read_bytes() == b"whole"
    (dest.parent / ".tmp-left-by-a-crash").write_bytes(b"x")
    assert files.sweep_temp(tmp_path) == (1, 1) and dest.exists()


def test_storage_paths_never_leave_their_roots() -> None:
    with pytest.raises(ValueError):
        files.online_path("../../etc/passwd")
    with pytest.raises(ValueError):
        files.storage_path_for(1, "../" + "a" * 61)
    assert files.storage_path_for(7, "ab" + "0" * 62) == f"h7/ab/ab{'0' * 62}.dcm"


async def test_each_revision_has_its_unique_key(tmp_path: Path) -> None:
    hid = await hospital_id()
    ds = fresh_ct("KEY-1")
    data = encoded(ds, tmp_path / "k.dcm")
    run_id = await create_run(Ctx(), hid, "import")
    result = await ingest_file(run_id, data)
    row = await Instance.select(Instance.instance_key).where(Instance.id == result.instance_id)
    assert row == [{"instance_key": f"{hid}:{ds.SOPInstanceUID}:1"}]


async def test_a_file_a_crash_left_behind_is_counted_once_when_indexed(tmp_path: Path) -> None:
    hid = await hospital_id()
    ds = fresh_ct("ORPHAN-1")
    data = encoded(ds, tmp_path / "o.dcm")
    # what a worker killed between the file's rename and the index transaction leaves
    files.store_online(hid, files.sha256_of(data), data)
    before = await used(hid)
    run_id = await create_run(Ctx(), hid, "import")
    result = await ingest_file(run_id, data)
    assert result.status == "stored"
    assert await used(hid) == before + len(data)


async def test_an_image_for_an_archived_study_is_refused_until_it_is_online(
    tmp_path: Path,
) -> None:
    """A study in the archive tier keeps its images in its container; a new image cannot join
    it there (it would be online under a study that reads as archived, and in no container)."""
    hid = await hospital_id()
    ds = fresh_ct("ARCH-1")
    first = encoded(ds, tmp_path / "first.dcm")
    run_id = await create_run(Ctx(), hid, "stow")
    stored = await ingest_file(run_id, first)
    assert stored.status == "stored"
    await Study.update({Study.tier: "archive"}).where(Study.id == stored.study_id)
    ds.SOPInstanceUID = generate_uid()
    late = encoded(ds, tmp_path / "late.dcm")
    before = await used(hid)
    refused = await ingest_file(run_id, late, file_name="late.dcm")
    assert (refused.status, refused.code) == ("refused", "archived")
    assert "archive tier" in refused.reason
    assert not await Instance.exists().where(Instance.sop_uid == ds.SOPInstanceUID)
    assert await used(hid) == before
    await Study.update({Study.tier: "online"}).where(Study.id == stored.study_id)
    again = await ingest_file(run_id, late, file_name="late.dcm")
    assert again.status == "stored"
