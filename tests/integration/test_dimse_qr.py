"""Query/retrieve against the real ``aimis scp`` process (issue 19, points 1 and 2): dcmtk's
``findscu``, ``movescu`` and ``getscu`` and pynetdicom's SCU, a pynetdicom storage SCP as
the C-MOVE destination. CITY and EAST each keep their own synthetic studies (never the same
UID at both); each node sees and sends its own hospital's only, as its permissions allow."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    PatientRootQueryRetrieveInformationModelFind,
    PatientRootQueryRetrieveInformationModelMove,
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from api.ingest.steps import create_run, ingest_file
from imaging.synth import Sizes, synth
from store.tables import AuditLog, DicomNode, Hospital, Instance, MigrationRun, Study
from store.uow import Ctx, now
from tests.conftest import free_port, start_scp, stop_process

pytestmark = pytest.mark.integration

QR = "QR_CITY"  # CITY: store, query, retrieve, from anywhere
MOVESCU = "QR_MOVESCU"  # CITY: dcmtk's movescu, its own destination
DEST = "QR_DEST"  # CITY: the pynetdicom storage SCP of the test
STORE_ONLY = "QR_STOREONLY"  # CITY: may only store
QUERY_ONLY = "QR_QUERYONLY"  # CITY: may only query
EAST_QR = "QR_EAST"  # EAST: store, query, retrieve
EAST_DEST = "QR_EAST_DEST"  # EAST: a move destination (of another hospital for CITY)
PINNED = "QR_PINNED"  # CITY: may call only from 10.9.9.7
FINDSCU, MOVESCU_BIN, GETSCU = "/usr/bin/findscu", "/usr/bin/movescu", "/usr/bin/getscu"
NATIVE = {kind: ExplicitVRLittleEndian for kind in ("CT", "MR", "DX", "US", "CR", "MG")}


async def hospital_id(code: str) -> int:
    return int((await Hospital.select(Hospital.id).where(Hospital.code == code).first())["id"])


async def add_node(code: str, title: str, **fields: Any) -> None:
    await DicomNode.delete().where(DicomNode.ae_title == title)
    values = {"host": "", "any_address": True, "port": 0, "may_store": True, **fields}
    if values["host"]:
        values["any_address"] = False
    await DicomNode.insert(
        DicomNode(hospital=await hospital_id(code), ae_title=title, created_at=now(), **values)
    )


class Destination:
    """A storage SCP in the test (the C-MOVE destination): what it received; the SOP
    Instance UIDs in ``fail`` it refuses (0xA700)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Dataset] = []
        self.fail: set[str] = set()
        self.lock = threading.Lock()
        ae = AE(ae_title=DEST)
        for cx in AllStoragePresentationContexts:
            assert cx.abstract_syntax is not None
            ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.ae = ae
        self.server = ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self.on_store)]
        )

    def on_store(self, event: Any) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        with self.lock:
            if str(ds.SOPInstanceUID) in self.fail:
                return 0xA700
            self.received.append(ds)
        return 0x0000

    def take(self) -> list[Dataset]:
        with self.lock:
            out, self.received = self.received, []
        return out


@pytest.fixture(scope="module")
def destination() -> Iterator[Destination]:
    dest = Destination()
    yield dest
    dest.ae.shutdown()


@pytest.fixture(scope="module")
def movescu_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
async def studies(database: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """CITY's and EAST's own studies (one patient each, three studies), stored."""
    out: dict[str, Any] = {}
    for code in ("CITY", "EAST"):
        files = synth(
            tmp_path_factory.mktemp(f"qr-{code}"),
            patients=1,
            sizes=Sizes.small(),
            transfer_syntaxes=NATIVE,
        )
        run = await create_run(Ctx(), await hospital_id(code), "import", "qr test")
        for path in files:
            assert (await ingest_file(run, path)).ok
        headers = [dcmread(p, stop_before_pixels=True) for p in files]
        by_study: dict[str, list[Dataset]] = {}
        for ds in headers:
            by_study.setdefault(str(ds.StudyInstanceUID), []).append(ds)
        out[code] = {
            "files": files,
            "headers": headers,
            "studies": by_study,
            "patient_id": str(headers[0].PatientID),
            "patient_name": str(headers[0].PatientName),
        }
    return out


@pytest.fixture(scope="module")
async def scp(
    studies: dict[str, Any],
    destination: Destination,
    movescu_port: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[int]:
    qr = {"may_query": True, "may_retrieve": True}
    await add_node("CITY", QR, **qr)
    await add_node(
        "CITY", MOVESCU, host="127.0.0.1", port=movescu_port, move_destination=True, **qr
    )
    await add_node("CITY", DEST, host="127.0.0.1", port=destination.port, move_destination=True)
    await add_node("CITY", STORE_ONLY)
    await add_node("CITY", QUERY_ONLY, may_store=False, may_query=True)
    await add_node("CITY", PINNED, host="10.9.9.7", **qr)
    await add_node("EAST", EAST_QR, **qr)
    await add_node(
        "EAST", EAST_DEST, host="127.0.0.1", port=destination.port, move_destination=True
    )
    port = free_port()
    log = tmp_path_factory.mktemp("qr-scp") / "scp.log"
    proc = await asyncio.to_thread(start_scp, port, log)
    yield port
    if not stop_process(proc, 20):
        raise AssertionError(f"aimis scp did not stop on SIGTERM:\n{log.read_text()}")


# --- pynetdicom clients (run in a thread) -----------------------------------------------


def _associate(port: int, title: str, *contexts: Any, **kw: Any) -> Any:
    ae = AE(ae_title=title)
    for cx in contexts:
        ae.add_requested_context(cx)
    assoc = ae.associate("127.0.0.1", port, ae_title="AIMIS", **kw)
    assert assoc.is_established, f"{title} could not associate"
    return assoc


def find(
    port: int, title: str, model: Any = StudyRootQueryRetrieveInformationModelFind, **keys: Any
) -> tuple[Dataset, list[Dataset]]:
    """C-FIND: the final status and the pending answers."""
    ds = Dataset()
    for k, v in keys.items():
        setattr(ds, k, v)
    assoc = _associate(port, title, model)
    answers, final = [], None
    for status, identifier in assoc.send_c_find(ds, model):
        if status.Status in (0xFF00, 0xFF01):
            answers.append(identifier)
        else:
            final = status
    assoc.release()
    assert final is not None
    return final, answers


def identifier(**keys: Any) -> Dataset:
    ds = Dataset()
    for k, v in keys.items():
        setattr(ds, k, v)
    return ds


def move(
    port: int,
    title: str,
    to: str,
    model: Any = StudyRootQueryRetrieveInformationModelMove,
    **keys: Any,
) -> list[Dataset]:
    """C-MOVE: every response status, in order."""
    assoc = _associate(port, title, model)
    statuses = [s for s, _ in assoc.send_c_move(identifier(**keys), to, model)]
    assoc.release()
    return statuses


def get(port: int, title: str, headers: list[Dataset], **keys: Any) -> tuple[list, list[Dataset]]:
    """C-GET on one association: the statuses and the datasets received."""
    received: list[Dataset] = []

    def on_store(event: Any) -> int:
        received.append(event.dataset)
        return 0x0000

    ae = AE(ae_title=title)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    roles = []
    for sop in sorted({str(h.SOPClassUID) for h in headers}):
        ae.add_requested_context(sop, ExplicitVRLittleEndian)
        roles.append(build_role(sop, scp_role=True))
    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title="AIMIS",
        ext_neg=roles,
        evt_handlers=[(evt.EVT_C_STORE, on_store)],
    )
    assert assoc.is_established
    model = StudyRootQueryRetrieveInformationModelGet
    statuses = [s for s, _ in assoc.send_c_get(identifier(**keys), model)]
    assoc.release()
    return statuses, received


async def audit_head() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def audited_since(head: int, action: str) -> list[dict[str, Any]]:
    return (
        await AuditLog.select()
        .where(AuditLog.id > head, AuditLog.action == action)
        .order_by(AuditLog.id)
    )


def sops(datasets: list[Dataset]) -> set[str]:
    return {str(d.SOPInstanceUID) for d in datasets}


# --- C-FIND ------------------------------------------------------------------------------


async def test_cfind_at_every_level_with_wildcards_ranges_and_uid_lists(scp, studies) -> None:
    city = studies["CITY"]
    uids = sorted(city["studies"])
    pid, name = city["patient_id"], city["patient_name"]
    head = await audit_head()
    final, found = await asyncio.to_thread(
        find,
        scp,
        QR,
        QueryRetrieveLevel="STUDY",
        PatientID=pid,
        StudyInstanceUID="",
        PatientName="",
        ModalitiesInStudy="",
        NumberOfStudyRelatedInstances="",
        StudyDate="",
        RetrieveAETitle="",
        InstanceAvailability="",
        PatientComments="",
    )
    assert final.Status == 0
    assert {str(d.StudyInstanceUID) for d in found} == set(uids)
    one = found[0]
    assert str(one.PatientName) == name and one.RetrieveAETitle == "AIMIS"
    assert one.InstanceAvailability == "ONLINE" and "PatientComments" in one
    assert one.PatientComments in ("", None)  # asked, not in the index: returned empty
    by_uid = {str(d.StudyInstanceUID): d for d in found}
    for uid, headers in city["studies"].items():
        assert int(by_uid[uid].NumberOfStudyRelatedInstances) == len(headers)
        assert by_uid[uid].ModalitiesInStudy == headers[0].Modality

    # a wildcard on the name (case-insensitive), a date range, a UID list
    pattern = name.split("^")[0][:3].lower() + "*"
    _, by_name = await asyncio.to_thread(
        find,
        scp,
        QR,
        QueryRetrieveLevel="STUDY",
        PatientName=pattern,
        PatientID=pid,
        StudyInstanceUID="",
    )
    assert {str(d.StudyInstanceUID) for d in by_name} == set(uids)
    date = min(str(h.StudyDate) for h in city["headers"])
    _, by_date = await asyncio.to_thread(
        find,
        scp,
        QR,
        QueryRetrieveLevel="STUDY",
        PatientID=pid,
        StudyDate=f"{date}-",
        StudyInstanceUID="",
    )
    assert {str(d.StudyInstanceUID) for d in by_date} == set(uids)
    _, none = await asyncio.to_thread(
        find, scp, QR, QueryRetrieveLevel="STUDY", PatientID=pid, StudyDate="-19000101"
    )
    assert none == []
    _, listed = await asyncio.to_thread(
        find, scp, QR, QueryRetrieveLevel="STUDY", StudyInstanceUID=uids[:2]
    )
    assert {str(d.StudyInstanceUID) for d in listed} == set(uids[:2])
    one_char = pid[:-1] + "?"
    _, by_q = await asyncio.to_thread(
        find, scp, QR, QueryRetrieveLevel="STUDY", PatientID=one_char, StudyInstanceUID=""
    )
    assert set(uids) <= {str(d.StudyInstanceUID) for d in by_q}

    # SERIES and IMAGE levels under a study
    study = uids[0]
    headers = city["studies"][study]
    _, series = await asyncio.to_thread(
        find,
        scp,
        QR,
        QueryRetrieveLevel="SERIES",
        StudyInstanceUID=study,
        SeriesInstanceUID="",
        Modality="",
        NumberOfSeriesRelatedInstances="",
    )
    assert {str(d.SeriesInstanceUID) for d in series} == {str(h.SeriesInstanceUID) for h in headers}
    assert all(d.StudyInstanceUID == study for d in series)
    _, images = await asyncio.to_thread(
        find,
        scp,
        QR,
        QueryRetrieveLevel="IMAGE",
        StudyInstanceUID=study,
        SeriesInstanceUID=str(headers[0].SeriesInstanceUID),
        SOPInstanceUID="",
        InstanceNumber="",
        Rows="",
    )
    expected = {
        str(h.SOPInstanceUID)
        for h in headers
        if h.SeriesInstanceUID == headers[0].SeriesInstanceUID
    }
    assert sops(images) == expected and all(int(d.Rows) > 0 for d in images)

    # PATIENT level (Patient Root)
    _, patients = await asyncio.to_thread(
        find,
        scp,
        QR,
        PatientRootQueryRetrieveInformationModelFind,
        QueryRetrieveLevel="PATIENT",
        PatientID=pid,
        PatientName="",
        NumberOfPatientRelatedStudies="",
    )
    assert len(patients) == 1 and str(patients[0].PatientName) == name
    assert int(patients[0].NumberOfPatientRelatedStudies) == len(uids)

    rows = await audited_since(head, "dicom.find")
    assert len(rows) == 9 and {r["outcome"] for r in rows} == {"success"}
    assert rows[0]["hospital_id"] == await hospital_id("CITY")
    assert f"PatientID={pid}" in rows[0]["detail"] and "3 answer(s)" in rows[0]["detail"]


async def test_a_node_finds_only_its_own_hospitals_studies(scp, studies) -> None:
    city, east = studies["CITY"], studies["EAST"]
    for title, own, other in ((QR, city, east), (EAST_QR, east, city)):
        _, mine = await asyncio.to_thread(
            find,
            scp,
            title,
            QueryRetrieveLevel="STUDY",
            PatientID=own["patient_id"],
            StudyInstanceUID="",
        )
        assert {str(d.StudyInstanceUID) for d in mine} == set(own["studies"])
        final, theirs = await asyncio.to_thread(
            find,
            scp,
            title,
            QueryRetrieveLevel="STUDY",
            PatientID=other["patient_id"],
            StudyInstanceUID="",
        )
        assert final.Status == 0 and theirs == []
        final, by_uid = await asyncio.to_thread(
            find,
            scp,
            title,
            QueryRetrieveLevel="IMAGE",
            StudyInstanceUID=sorted(other["studies"]),
            SOPInstanceUID="",
        )
        assert final.Status == 0 and by_uid == []
        _, everything = await asyncio.to_thread(
            find, scp, title, QueryRetrieveLevel="STUDY", StudyInstanceUID=""
        )
        assert not set(other["studies"]) & {str(d.StudyInstanceUID) for d in everything}


async def test_cfind_refusals_are_clear_and_audited(scp, studies) -> None:
    head = await audit_head()
    instances = await Instance.count()
    final, found = await asyncio.to_thread(
        find, scp, STORE_ONLY, QueryRetrieveLevel="STUDY", StudyInstanceUID=""
    )
    assert final.Status == 0x0124 and found == []
    assert "may not query" in final.ErrorComment
    for keys, words in (
        ({"PatientID": "X"}, "no QueryRetrieveLevel"),
        ({"QueryRetrieveLevel": "WARD"}, "none of PATIENT"),
        ({"QueryRetrieveLevel": "PATIENT", "PatientID": "X"}, "no PATIENT level"),
        ({"QueryRetrieveLevel": "STUDY", "StudyDate": "2024131"}, "StudyDate"),
        ({"QueryRetrieveLevel": "STUDY", "StudyInstanceUID": "1.2.x"}, "is not a UID"),
    ):
        final, found = await asyncio.to_thread(find, scp, QR, **keys)
        assert final.Status == 0xA900 and found == [], (keys, final)
        assert words in final.ErrorComment, (keys, final.ErrorComment)
    rows = await audited_since(head, "dicom.find")
    assert len(rows) == 6
    assert [r["outcome"] for r in rows] == ["denied"] + ["failure"] * 5
    assert "refused 0x0124" in rows[0]["detail"] and "refused 0xA900" in rows[1]["detail"]
    assert await Instance.count() == instances


@pytest.mark.skipif(not Path(FINDSCU).exists(), reason="dcmtk is not installed")
async def test_dcmtk_findscu(scp, studies, tmp_path) -> None:
    city = studies["CITY"]
    out = await asyncio.to_thread(
        subprocess.run,
        [
            FINDSCU,
            "-S",
            "-aet",
            QR,
            "-aec",
            "AIMIS",
            "-X",
            "-od",
            str(tmp_path),
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            f"PatientID={city['patient_id']}",
            "-k",
            "StudyInstanceUID",
            "-k",
            "PatientName",
            "-k",
            "StudyDate",
            "127.0.0.1",
            str(scp),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    answers = [dcmread(p) for p in sorted(tmp_path.glob("rsp*.dcm"))]
    assert {str(d.StudyInstanceUID) for d in answers} == set(city["studies"])
    # PATIENT level, Patient Root, a wildcard
    for p in tmp_path.glob("rsp*.dcm"):
        p.unlink()
    out = await asyncio.to_thread(
        subprocess.run,
        [
            FINDSCU,
            "-P",
            "-aet",
            QR,
            "-aec",
            "AIMIS",
            "-X",
            "-od",
            str(tmp_path),
            "-k",
            "QueryRetrieveLevel=PATIENT",
            "-k",
            f"PatientID={city['patient_id'][:-2]}*",
            "-k",
            "PatientName",
            "-k",
            "NumberOfPatientRelatedStudies",
            "127.0.0.1",
            str(scp),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    answers = [dcmread(p) for p in sorted(tmp_path.glob("rsp*.dcm"))]
    assert city["patient_id"] in {str(d.PatientID) for d in answers}
    assert studies["EAST"]["patient_id"] not in {str(d.PatientID) for d in answers}


# --- C-MOVE and C-GET ---------------------------------------------------------------------


async def test_cmove_to_a_registered_destination_with_pending_counts(
    scp, studies, destination
) -> None:
    city = studies["CITY"]
    uid = max(city["studies"], key=lambda u: len(city["studies"][u]))
    headers = city["studies"][uid]
    destination.take()
    head = await audit_head()
    statuses = await asyncio.to_thread(
        move, scp, QR, DEST, QueryRetrieveLevel="STUDY", StudyInstanceUID=uid
    )
    pending = [s for s in statuses if s.Status == 0xFF00]
    assert len(pending) == len(headers) and statuses[-1].Status == 0
    assert [int(s.NumberOfRemainingSuboperations) for s in pending] == list(
        range(len(headers) - 1, -1, -1)
    )
    assert int(statuses[-1].NumberOfCompletedSuboperations) == len(headers)
    received = destination.take()
    assert sops(received) == sops(headers)
    original = {
        str(h.SOPInstanceUID): p for h, p in zip(city["headers"], city["files"], strict=True)
    }
    for ds in received:  # the file as stored: pixels and all
        assert ds.PixelData == dcmread(original[str(ds.SOPInstanceUID)]).PixelData
    [row] = await audited_since(head, "dicom.move")
    assert row["target_id"] == uid and f"moved to {DEST}" in row["detail"]

    # a failed sub-operation is counted and named
    failing = str(headers[0].SOPInstanceUID)
    destination.fail = {failing}
    try:
        statuses = await asyncio.to_thread(
            move, scp, QR, DEST, QueryRetrieveLevel="STUDY", StudyInstanceUID=uid
        )
    finally:
        destination.fail = set()
    final = statuses[-1]
    assert final.Status == 0xB000
    assert int(final.NumberOfFailedSuboperations) == 1
    assert int(final.NumberOfCompletedSuboperations) == len(headers) - 1
    assert sops(destination.take()) == sops(headers) - {failing}


async def test_cmove_of_series_patient_and_images(scp, studies, destination) -> None:
    city = studies["CITY"]
    destination.take()
    h = city["headers"][0]
    statuses = await asyncio.to_thread(
        move,
        scp,
        QR,
        DEST,
        QueryRetrieveLevel="SERIES",
        StudyInstanceUID=str(h.StudyInstanceUID),
        SeriesInstanceUID=str(h.SeriesInstanceUID),
    )
    assert statuses[-1].Status == 0
    assert sops(destination.take()) == {
        str(x.SOPInstanceUID) for x in city["headers"] if x.SeriesInstanceUID == h.SeriesInstanceUID
    }
    two = [str(x.SOPInstanceUID) for x in city["headers"][:2]]
    statuses = await asyncio.to_thread(
        move, scp, QR, DEST, QueryRetrieveLevel="IMAGE", SOPInstanceUID=two
    )
    assert statuses[-1].Status == 0 and sops(destination.take()) == set(two)
    statuses = await asyncio.to_thread(
        move,
        scp,
        QR,
        DEST,
        PatientRootQueryRetrieveInformationModelMove,
        QueryRetrieveLevel="PATIENT",
        PatientID=city["patient_id"],
    )
    assert statuses[-1].Status == 0 and sops(destination.take()) == sops(city["headers"])


async def test_cmove_refusals_send_nothing_and_are_audited(scp, studies, destination) -> None:
    city, east = studies["CITY"], studies["EAST"]
    destination.take()
    head = await audit_head()
    runs = await MigrationRun.count()
    uid = sorted(city["studies"])[0]
    for title, to in ((QR, "NOBODY"), (QR, EAST_DEST), (QR, STORE_ONLY)):
        statuses = await asyncio.to_thread(
            move, scp, title, to, QueryRetrieveLevel="STUDY", StudyInstanceUID=uid
        )
        assert [s.Status for s in statuses] == [0xA801], (to, statuses)
    # another hospital's study is never found: nothing to send
    statuses = await asyncio.to_thread(
        move,
        scp,
        QR,
        DEST,
        QueryRetrieveLevel="STUDY",
        StudyInstanceUID=sorted(east["studies"])[0],
    )
    assert statuses[-1].Status == 0 and int(statuses[-1].NumberOfCompletedSuboperations) == 0
    # a node without the retrieve permission, a malformed identifier
    statuses = await asyncio.to_thread(
        move, scp, STORE_ONLY, DEST, QueryRetrieveLevel="STUDY", StudyInstanceUID=uid
    )
    assert statuses[-1].Status == 0x0124 and "may not retrieve" in statuses[-1].ErrorComment
    statuses = await asyncio.to_thread(move, scp, QR, DEST, QueryRetrieveLevel="STUDY")
    assert statuses[-1].Status == 0xA900 and "StudyInstanceUID" in statuses[-1].ErrorComment
    assert destination.take() == []
    rows = await audited_since(head, "dicom.move")
    refused = [r for r in rows if r["outcome"] != "success"]
    assert len(refused) == 5
    details = " ".join(r["detail"] for r in refused)
    assert "'NOBODY' is not a DICOM node of this hospital" in details
    assert f"'{EAST_DEST}' is not a DICOM node of this hospital" in details
    assert f"{STORE_ONLY} is not marked as a move destination" in details
    assert await MigrationRun.count() == runs


async def test_cget_on_the_same_association(scp, studies) -> None:
    city, east = studies["CITY"], studies["EAST"]
    uid = sorted(city["studies"])[0]
    headers = city["studies"][uid]
    head = await audit_head()
    statuses, received = await asyncio.to_thread(
        get, scp, QR, headers, QueryRetrieveLevel="STUDY", StudyInstanceUID=uid
    )
    assert statuses[-1].Status == 0 and sops(received) == sops(headers)
    assert int(statuses[-1].NumberOfCompletedSuboperations) == len(headers)
    other = sorted(east["studies"])[0]
    statuses, received = await asyncio.to_thread(
        get, scp, QR, east["studies"][other], QueryRetrieveLevel="STUDY", StudyInstanceUID=other
    )
    assert statuses[-1].Status == 0 and received == []
    statuses, received = await asyncio.to_thread(
        get, scp, STORE_ONLY, headers, QueryRetrieveLevel="STUDY", StudyInstanceUID=uid
    )
    assert statuses[-1].Status == 0x0124 and received == []
    rows = await audited_since(head, "dicom.get")
    assert [r["outcome"] for r in rows] == ["success", "success", "denied"]


@pytest.mark.skipif(not Path(MOVESCU_BIN).exists(), reason="dcmtk is not installed")
async def test_dcmtk_movescu_and_getscu(scp, studies, movescu_port, tmp_path) -> None:
    city = studies["CITY"]
    uid = sorted(city["studies"])[0]
    keys = ["-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={uid}"]
    for tool, title, extra in (
        (MOVESCU_BIN, MOVESCU, ["-aem", MOVESCU, "+P", str(movescu_port)]),
        (GETSCU, QR, []),
    ):
        into = tmp_path / Path(tool).name
        into.mkdir()
        command = [tool, "-S", "-aet", title, "-aec", "AIMIS", *extra, "-od", str(into), *keys]
        out = await asyncio.to_thread(
            subprocess.run,
            [*command, "127.0.0.1", str(scp)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        assert sops([dcmread(p) for p in into.iterdir()]) == sops(city["studies"][uid]), tool


# --- association-time checks -------------------------------------------------------------


async def test_a_registered_ae_at_the_wrong_address_is_rejected_at_association(scp) -> None:
    head = await audit_head()
    ae = AE(ae_title=PINNED)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    assoc = await asyncio.to_thread(ae.associate, "127.0.0.1", scp, ae_title="AIMIS")
    assert assoc.is_rejected and not assoc.is_established
    rows = await audited_since(head, "dicom.associate")
    assert [r["outcome"] for r in rows] == ["denied"]
    assert "may call only from 10.9.9.7, not 127.0.0.1" in rows[0]["detail"]
    assert await Study.count().where(Study.hospital == -1) == 0


async def test_a_node_that_may_not_store_is_refused_per_instance(scp, tmp_path) -> None:
    [path] = synth(tmp_path, patients=1, sizes=Sizes.small(), transfer_syntaxes=NATIVE)[:1]
    ds = dcmread(path)
    head = await audit_head()
    runs = await MigrationRun.count()
    ae = AE(ae_title=QUERY_ONLY)
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = await asyncio.to_thread(ae.associate, "127.0.0.1", scp, ae_title="AIMIS")
    assert assoc.is_established
    result = await asyncio.to_thread(assoc.send_c_store, ds)
    assoc.release()
    assert result.Status == 0x0124 and "may not store" in result.ErrorComment
    assert await Instance.count().where(Instance.sop_uid == ds.SOPInstanceUID) == 0
    assert await MigrationRun.count() == runs
    [row] = await audited_since(head, "dicom.store")
    assert row["outcome"] == "denied" and QUERY_ONLY in row["detail"]
