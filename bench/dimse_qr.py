"""DICOM query/retrieve side by side with Orthanc (issue 19): C-FIND p50/p99 (STUDY level by
PatientID, and by a PatientName prefix with a date range), C-MOVE and C-GET of one CT study
(instances/s), in one run against the real ``aimis scp`` and Debian's Orthanc.

Both get the same synthetic studies by C-STORE first (a CT study of ``--instances``
slices, plus ``--patients`` - 1 more patients' three studies each). The C-MOVE destination
is a pynetdicom storage SCP in this process, registered at both (AIMIS: a node marked move
destination; Orthanc: a modality).

    uv run --frozen python -m bench.dimse_qr [--instances 500] [--patients 20] [--postgres]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, build_role, evt
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from bench.aimis_app import DEMO_ADMIN, DEMO_PASSWORD, Aimis
from bench.measure import Latencies, Throughput, fmt_ratio, load_now, machine, speed_ratio, table
from bench.orthanc import ORTHANC_AET, SCU_AET, Orthanc, free_port
from imaging.synth import Sizes, synth

DEST_AET = "BENCHDEST"
NATIVE: dict[str, str] = {
    kind: str(ExplicitVRLittleEndian) for kind in ("CT", "MR", "DX", "US", "CR", "MG")
}


@dataclass
class QrOrthanc(Orthanc):
    """Orthanc that lets the benchmark's SCU find, move and get, and knows the destination."""

    dest_port: int = 0

    def config(self) -> dict[str, object]:
        config = super().config()
        modalities: Any = config["DicomModalities"]
        modalities["bench"].update({"AllowFind": True, "AllowMove": True, "AllowGet": True})
        modalities["dest"] = {"AET": DEST_AET, "Host": "127.0.0.1", "Port": self.dest_port}
        return config


class Destination:
    def __init__(self) -> None:
        self.port = free_port()
        self.count = 0
        self.lock = threading.Lock()
        self.ae = AE(ae_title=DEST_AET)
        self.ae.maximum_pdu_size = 0
        for cx in AllStoragePresentationContexts:
            assert cx.abstract_syntax is not None
            self.ae.add_supported_context(cx.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        self.ae.start_server(
            ("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self.stored)]
        )

    def stored(self, event: Any) -> int:
        with self.lock:
            self.count += 1
        return 0


def register_nodes(aimis: Aimis, dest_port: int) -> None:
    """BENCHSCU (made by ``Aimis.login``) may query and retrieve; BENCHDEST is its
    hospital's move destination."""
    with httpx.Client(base_url=aimis.url, timeout=30) as http:
        http.get("/login")

        def csrf() -> dict[str, str]:
            return {"x-csrftoken": http.cookies.get("csrftoken") or ""}

        http.post(
            "/api/auth/admin-login",
            json={"identifier": DEMO_ADMIN, "password": DEMO_PASSWORD},
            headers=csrf(),
        ).raise_for_status()
        nodes = http.get("/api/ingest/nodes").json()
        node = next(n for n in nodes if n["ae_title"] == SCU_AET)
        http.patch(
            f"/api/ingest/nodes/{node['id']}",
            json={"version": node["version"], "may_query": True, "may_retrieve": True},
            headers=csrf(),
        ).raise_for_status()
        http.post(
            "/api/ingest/nodes",
            json={
                "ae_title": DEST_AET,
                "host": "127.0.0.1",
                "port": dest_port,
                "may_store": False,
                "move_destination": True,
            },
            headers=csrf(),
        ).raise_for_status()
    time.sleep(2.5)  # the receiver re-reads its nodes every 2 s


def associate(port: int, called: str, *contexts: Any, **kw: Any) -> Any:
    ae = AE(ae_title=SCU_AET)
    ae.maximum_pdu_size = 0
    ae.dimse_timeout = ae.network_timeout = 300
    for cx in contexts:
        ae.add_requested_context(cx)
    assoc = ae.associate("127.0.0.1", port, ae_title=called, **kw)
    if not assoc.is_established:
        raise RuntimeError(f"no association with {called}")
    return assoc


def store(port: int, called: str, files: list[Path]) -> None:
    ae = AE(ae_title=SCU_AET)
    pairs = {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in map(_head, files)}
    for sop, ts in sorted(pairs):
        ae.add_requested_context(sop, ts)
    ae.dimse_timeout = ae.network_timeout = 300  # a loaded machine: slow, not broken
    assoc = ae.associate("127.0.0.1", port, ae_title=called)
    for path in files:
        status = assoc.send_c_store(path)
        if "Status" not in status:
            raise RuntimeError(f"{called}: the association ended at {path.name}")
        if int(status.Status) != 0:
            raise RuntimeError(f"{called} refused {path.name}: 0x{int(status.Status):04X}")
    assoc.release()


def _head(path: Path) -> Dataset:
    return dcmread(path, stop_before_pixels=True)


def find_latencies(port: int, called: str, keys: dict[str, str], rounds: int) -> Latencies:
    lat = Latencies(f"C-FIND {called}")
    model = StudyRootQueryRetrieveInformationModelFind
    assoc = associate(port, called, model)
    for _ in range(rounds):
        ds = Dataset()
        ds.QueryRetrieveLevel = "STUDY"
        for k in ("StudyInstanceUID", "PatientName", "StudyDate", "ModalitiesInStudy"):
            setattr(ds, k, "")
        for k, v in keys.items():
            setattr(ds, k, v)
        with lat.timed():
            answers = [s for s, _ in assoc.send_c_find(ds, model) if s.Status in (0xFF00, 0xFF01)]
        if not answers:
            raise RuntimeError(f"C-FIND on {called} found nothing for {keys}")
    assoc.release()
    return lat


def move_rate(port: int, called: str, study: str, n: int, dest: Destination) -> Throughput:
    model = StudyRootQueryRetrieveInformationModelMove
    assoc = associate(port, called, model)
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study
    before = dest.count
    start = time.perf_counter()
    final = [s for s, _ in assoc.send_c_move(ds, DEST_AET, model)][-1]
    seconds = time.perf_counter() - start
    assoc.release()
    if "Status" not in final:
        raise RuntimeError(f"C-MOVE from {called}: the association ended")
    if int(final.Status) != 0 or dest.count - before != n:
        raise RuntimeError(
            f"C-MOVE from {called}: 0x{int(final.Status):04X}, {dest.count - before}"
        )
    return Throughput(n, 0, seconds)


def get_rate(port: int, called: str, study: str, sops: set[str]) -> Throughput:
    got = 0

    def stored(event: Any) -> int:
        nonlocal got
        got += 1
        return 0

    model = StudyRootQueryRetrieveInformationModelGet
    ae = AE(ae_title=SCU_AET)
    ae.maximum_pdu_size = 0
    ae.dimse_timeout = ae.network_timeout = 300
    ae.add_requested_context(model)
    roles: list[Any] = []
    for sop in sorted(sops):
        ae.add_requested_context(sop, ExplicitVRLittleEndian)
        roles.append(build_role(sop, scp_role=True))
    assoc = ae.associate(
        "127.0.0.1", port, ae_title=called, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, stored)]
    )
    ds = Dataset()
    ds.QueryRetrieveLevel = "STUDY"
    ds.StudyInstanceUID = study
    start = time.perf_counter()
    final = [s for s, _ in assoc.send_c_get(ds, model)][-1]
    seconds = time.perf_counter() - start
    assoc.release()
    if int(final.Status) != 0:
        raise RuntimeError(f"C-GET from {called}: 0x{int(final.Status):04X}")
    return Throughput(got, 0, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=500)
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="dimse-qr-"))
    sizes = dataclasses.replace(Sizes.small(), ct=256, ct_slices=args.instances)
    ct_files = synth(work / "ct", patients=1, sizes=sizes, transfer_syntaxes=NATIVE)
    others = synth(
        work / "others",
        patients=max(args.patients - 1, 0),
        sizes=Sizes.small(),
        transfer_syntaxes=NATIVE,
    )
    heads = [_head(p) for p in ct_files]
    ct = [(p, h) for p, h in zip(ct_files, heads, strict=True) if h.Modality == "CT"]
    study = str(ct[0][1].StudyInstanceUID)
    patient = ct[0][1]
    n = len(ct)
    sops = {str(h.SOPClassUID) for _, h in ct}
    print(f"{machine()}; load {load_now()}; {n}-instance CT study, {len(others)} other files")

    dest = Destination()
    aimis = Aimis(work / "aimis", postgres=args.postgres, scp=True)
    orthanc = QrOrthanc(work / "orthanc", dest_port=dest.port)
    with aimis, orthanc:
        register_nodes(aimis, dest.port)
        peers = [
            ("AIMIS", aimis.dicom_port, aimis.ae_title),
            ("Orthanc", orthanc.dicom_port, ORTHANC_AET),
        ]
        for _, port, called in peers:
            store(port, called, ct_files + others)
        name_prefix = str(patient.PatientName).split("^")[0][:2] + "*"
        rows = []
        results: dict[str, dict[str, Any]] = {}
        for label, port, called in peers:
            by_id = find_latencies(port, called, {"PatientID": str(patient.PatientID)}, args.rounds)
            by_name = find_latencies(
                port,
                called,
                {"PatientName": name_prefix, "StudyDate": "19000101-"},
                args.rounds,
            )
            moved = move_rate(port, called, study, n, dest)
            got = get_rate(port, called, study, sops)
            results[label] = {"id": by_id, "name": by_name, "move": moved, "get": got}
        a, o = results["AIMIS"], results["Orthanc"]
        for key, title in (("id", "C-FIND by PatientID"), ("name", "C-FIND name* + date range")):
            for q in ("p50", "p99"):
                va, vo = getattr(a[key], q), getattr(o[key], q)
                ratio = speed_ratio(va, vo, higher_is_faster=False)
                rows.append([f"{title} {q} (ms)", f"{va:.1f}", f"{vo:.1f}", fmt_ratio(ratio)])
        for key, title in (("move", "C-MOVE"), ("get", "C-GET")):
            va, vo = a[key].per_second, o[key].per_second
            ratio = speed_ratio(va, vo, higher_is_faster=True)
            rows.append(
                [f"{title} of {n} instances (inst/s)", f"{va:.0f}", f"{vo:.0f}", fmt_ratio(ratio)]
            )
        print(table(["measure", "AIMIS", "Orthanc", "AIMIS vs Orthanc"], rows))
    dest.ae.shutdown()


if __name__ == "__main__":
    main()
