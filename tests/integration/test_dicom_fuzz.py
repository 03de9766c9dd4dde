"""The DICOM fuzz corpus (tests/fixtures/dicom_fuzz.py) through STOW-RS and C-STORE against the real
web app and the real ``aimis scp`` receiver, each in its own process (issue 12).

For every case: a clear refusal (STOW-RS: 409/202 with a FailedSOPSequence and its
FailureReason, the migration item saying why; C-STORE: a failure status with an Error
Comment) or, for a case that may be harmless, a stored instance whose frames and pictures
answer 2xx or a clear 4xx — never a 500. Afterwards both processes still answer (/health,
C-ECHO), their peak memory (VmHWM) grew by less than ``MEMORY_MB`` although the corpus holds
decompression bombs of gigabytes, and nothing of a refused case is stored: no instance row,
no file in the hospital's image folder beyond the stored instances' own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pynetdicom import AE, _config
from pynetdicom.dsutils import split_dataset
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

from store import files
from store.tables import DicomNode, Instance, MigrationItem, User
from store.uow import now
from tests.conftest import (
    _data_dir,
    free_port,
    start_process,
    start_scp,
    stop_process,
    unique,
    wait_http,
)
from tests.fixtures.dicom_fuzz import Case, corpus, good
from tests.fixtures.hospitals import PASSWORD, Staff, make_hospital

pytestmark = pytest.mark.integration

MEMORY_MB = 256  # growth of the peak resident memory over the whole corpus
FAILURE_REASONS = {0xA700, 0xA900, 0xC000, 0x0110}


@dataclass
class Process:
    proc: subprocess.Popen
    log: Path

    def peak_mb(self) -> int:
        """VmHWM: the most resident memory the process ever had (kB in /proc)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
        raise AssertionError("no VmHWM")

    def alive(self) -> bool:
        return self.proc.poll() is None


def stop(p: Process) -> None:
    stop_process(p.proc, 20)


@dataclass
class Place:
    hospital_id: int
    username: str
    ae_title: str


@pytest.fixture(scope="module")
def place(database: str, demo: dict) -> Place:
    async def make() -> Place:
        made = await make_hospital(
            None,
            unique,
            prefix="FZ-",
            name="Fuzz {code}",
            demo_alliance=True,
            department=None,
            staff={
                "admin": Staff(
                    admin=True, prefix="fz.admin.", display_name="Fuzz Admin", login=False
                )
            },
        )
        hid, username = made.id, made["admin"].username
        title = unique("FZ")[:16].upper()
        await DicomNode.insert(
            DicomNode(hospital=hid, ae_title=title, host="127.0.0.1", created_at=now())
        )
        return Place(hid, username, title)

    return asyncio.run(make())


@pytest.fixture(scope="module")
def web(place: Place) -> Iterator[tuple[str, Process]]:
    port = free_port()
    env = {**os.environ, "AIMIS_PORT": str(port)}
    log = _data_dir / f"web-fuzz-{port}.log"
    proc = start_process([sys.executable, "-m", "aimis.cli", "serve"], env, log)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc, log)
    yield url, Process(proc, log)
    stop(Process(proc, log))


@pytest.fixture(scope="module")
def scp(place: Place) -> Iterator[tuple[int, Process]]:
    port = free_port()
    log = _data_dir / f"scp-fuzz-{port}.log"
    proc = start_scp(port, log)
    yield port, Process(proc, log)
    stop(Process(proc, log))


@pytest.fixture(scope="module")
def token(web: tuple[str, Process], place: Place) -> str:
    url, _ = web

    async def make() -> str:
        user = await User.select(User.id).where(User.username == place.username).first()
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            await http.get("/login")
            csrf = {"x-csrftoken": http.cookies.get("csrftoken", "")}
            res = await http.post(
                "/api/auth/admin-login",
                json={"identifier": place.username, "password": PASSWORD},
                headers=csrf,
            )
            assert res.status_code == 200, res.text
            res = await http.post(
                "/api/tokens", json={"user_id": user["id"], "name": "fuzz"}, headers=csrf
            )
            assert res.status_code == 201, res.text
            return str(res.json()["token"])

    return asyncio.run(make())


def related(data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f'multipart/related; type="application/dicom"; boundary={boundary}'


@dataclass
class Stored:
    case: Case
    study: str
    series: str
    sop: str


def _uid(item: dict, tag: str) -> str:
    value = item.get(tag, {}).get("Value", [""])
    return str(value[0]) if value else ""


async def stow(http: httpx.AsyncClient, case: Case) -> tuple[int, dict, int]:
    body, content_type = related(case.data)
    res = await http.post("/dicomweb/studies", content=body, headers={"content-type": content_type})
    assert res.status_code < 500, (case.name, res.status_code, res.text[:500])
    if res.status_code == 400:  # the request itself (an empty part) was refused
        return res.status_code, res.json(), 0
    return res.status_code, res.json(), int(res.headers["x-aimis-migration-run"])


async def instance_rows(hospital_id: int) -> list[dict[str, Any]]:
    return await Instance.select(Instance.sop_uid, Instance.storage_path, Instance.sha256).where(
        Instance.hospital == hospital_id
    )


def image_files(hospital_id: int) -> set[str]:
    folder = files.online_root() / f"h{hospital_id}"
    if not folder.exists():
        return set()
    return {p.relative_to(files.online_root()).as_posix() for p in folder.rglob("*") if p.is_file()}


async def assert_nothing_half_stored(place: Place, refused: list[Case]) -> None:
    rows = await instance_rows(place.hospital_id)
    assert image_files(place.hospital_id) == {r["storage_path"] for r in rows}
    stored = {r["sop_uid"] for r in rows}
    leaked = [c.name for c in refused if c.sop_uid and c.sop_uid in stored]
    assert not leaked, f"refused but stored: {leaked}"
    shas = {r["sha256"] for r in rows}
    assert not [c.name for c in refused if files.sha256_of(c.data) in shas]
    incoming = files.spool_root() / "incoming"  # STOW-RS parts on their way in
    assert not incoming.exists() or not any(incoming.iterdir())


async def check_pictures(http: httpx.AsyncClient, kept: list[Stored]) -> Counter[int]:
    """Every accepted instance's frames and pictures: 2xx or a clear 4xx, never 500."""
    seen: Counter[int] = Counter()
    passthrough = {
        "accept": 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    }
    for s in kept:
        base = f"/dicomweb/studies/{s.study}/series/{s.series}/instances/{s.sop}"
        meta = await http.get(f"{base}/metadata")
        assert meta.status_code == 200, (s.case.name, meta.text[:300])
        frames = int(_uid(meta.json()[0], "00280008") or 1)
        asked = [
            (f"{base}/rendered", {}),
            (f"{base}/thumbnail", {}),
            (f"{base}/frames/1", {}),
            (f"{base}/frames/1", passthrough),
            (f"{base}/frames/{frames}/rendered", {}),
        ]
        if s.case.bad_frame:
            asked.append((f"{base}/frames/{s.case.bad_frame}", {}))
            asked.append((f"{base}/frames/{s.case.bad_frame}/rendered", {}))
        for path, headers in asked:
            res = await http.get(path, headers=headers)
            seen[res.status_code] += 1
            assert res.status_code < 500, (s.case.name, path, res.status_code, res.text[:300])
            if res.status_code >= 400:
                assert res.json()["detail"], (s.case.name, path, res.text[:300])
                print(
                    f"  {s.case.name} {path.rsplit('/', 3)[-3:]}: {res.status_code} "
                    f"{res.json()['detail'][:100]}"
                )
        if s.case.bad_frame:
            res = await http.get(f"{base}/frames/{s.case.bad_frame}/rendered")
            assert res.status_code == 422 and "cannot be decoded" in res.json()["detail"]
    return seen


def assert_survived(process: Any, before: int, summary: str, who: str) -> None:
    """Print the run's summary; the process's peak memory grew less than MEMORY_MB."""
    grown = process.peak_mb() - before
    print(f"{summary}; {who} peak memory {before} → {process.peak_mb()} MB")
    assert grown < MEMORY_MB, f"the {who} process's peak memory grew by {grown} MB"


async def test_the_fuzz_corpus_through_stow_rs(
    web: tuple[str, Process], place: Place, token: str
) -> None:
    url, process = web
    async with httpx.AsyncClient(
        base_url=url, timeout=120, headers={"authorization": f"Bearer {token}"}
    ) as http:
        for case in good(0):  # the sources are fine as they are: the mutations break them
            status, _, _ = await stow(http, case)
            assert status == 200, case.name
        before = process.peak_mb()
        cases = corpus(0)
        refused: list[Case] = []
        kept: list[Stored] = []
        outcomes: Counter[str] = Counter()
        started = time.monotonic()
        for case in cases:
            status, body, run_id = await stow(http, case)
            if status == 200:
                item = body["00081199"]["Value"][0]
                sop = _uid(item, "00081155")
                study, series = _study_series(body, item)
                kept.append(Stored(case, study, series, sop))
                outcomes["stored"] += 1
                assert not case.must_refuse, f"{case.name} was stored"
                continue
            refused.append(case)
            outcomes[f"refused {status}"] += 1
            if status == 400:
                assert len(case.data) == 0, (case.name, body)
                continue
            assert status == 409, (case.name, status, body)
            (failed,) = body["00081198"]["Value"]
            assert failed["00081197"]["Value"][0] in FAILURE_REASONS, (case.name, failed)
            (item,) = await MigrationItem.select(MigrationItem.status, MigrationItem.reason).where(
                MigrationItem.migration == run_id
            )
            assert item["status"] in ("refused", "failed") and item["reason"].endswith("."), item
        elapsed = time.monotonic() - started
        pictures = await check_pictures(http, kept)
        assert (await http.get("/health")).status_code == 200
    assert process.alive()
    summary = f"STOW-RS: {len(cases)} cases in {elapsed:.1f} s: {dict(outcomes)}"
    assert_survived(process, before, f"{summary}; pictures {dict(pictures)}", "web")
    await assert_nothing_half_stored(place, refused)


def _study_series(body: dict, item: dict) -> tuple[str, str]:
    url = _uid(item, "00081190")
    parts = url.split("/")
    return parts[parts.index("studies") + 1], parts[parts.index("series") + 1]


def sendable(case: Case, folder: Path) -> tuple[Path, str, str] | None:
    """The file, SOP class and transfer syntax pynetdicom needs to send the case's dataset
    as it is (the file meta is not sent over DIMSE); None when the case has no usable meta."""
    path = folder / f"{uuid.uuid4().hex}.dcm"
    path.write_bytes(case.data)
    try:
        meta, offset = split_dataset(path)
        sop_class = str(meta.MediaStorageSOPClassUID)
        syntax = str(meta.TransferSyntaxUID)
        sop_instance = str(meta.MediaStorageSOPInstanceUID)
    except Exception:
        return None
    if offset >= len(case.data) or not (sop_class and syntax and sop_instance):
        return None
    return path, sop_class, syntax


def c_store_all(port: int, title: str, batch: list[tuple[Case, Path, str, str]]) -> list[Any]:
    """One association per ≤ 100 presentation contexts; each case's response (or None when
    pynetdicom could not send it: its SOP class or syntax was not accepted)."""
    _config.STORE_SEND_CHUNKED_DATASET = True  # send the file's bytes as they are
    out: list[Any] = []
    pending = list(batch)
    while pending:
        ae = AE(ae_title=title)
        ae.add_requested_context(Verification)
        contexts: set[tuple[str, str]] = set()
        chunk = []
        while pending and len(contexts | {(pending[0][2], pending[0][3])}) <= 100:
            item = pending.pop(0)
            contexts.add((item[2], item[3]))
            chunk.append(item)
        for sop_class, syntax in sorted(contexts):
            with contextlib.suppress(ValueError):  # not a UID pynetdicom takes
                ae.add_requested_context(sop_class, syntax)
        assoc = ae.associate("127.0.0.1", port, ae_title="AIMIS")
        assert assoc.is_established
        for _, path, _, _ in chunk:
            try:
                out.append(assoc.send_c_store(path))
            except (ValueError, AttributeError):
                out.append(None)
            assert assoc.is_established, "the receiver dropped the association"
        assoc.release()
    return out


def echo(port: int, title: str) -> int:
    ae = AE(ae_title=title)
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="AIMIS")
    assert assoc.is_established
    status = int(assoc.send_c_echo().Status)
    assoc.release()
    return status


async def test_the_fuzz_corpus_through_c_store(
    scp: tuple[int, Process], place: Place, tmp_path: Path
) -> None:
    port, process = scp
    await asyncio.sleep(2.5)  # the receiver re-reads its nodes every 2 s
    warm = [(c, *s) for c in good(1) if (s := sendable(c, tmp_path))]
    assert all(
        int(r.Status) == 0 for r in await asyncio.to_thread(c_store_all, port, place.ae_title, warm)
    )
    before = process.peak_mb()
    cases = corpus(1)
    batch = [(c, *s) for c in cases if (s := sendable(c, tmp_path))]
    started = time.monotonic()
    responses = await asyncio.to_thread(c_store_all, port, place.ae_title, batch)
    elapsed = time.monotonic() - started
    outcomes: Counter[str] = Counter({"no file meta to send": len(cases) - len(batch)})
    sent = {b[0].name for b in batch}
    refused = [c for c in cases if c.name not in sent]
    for (case, *_), response in zip(batch, responses, strict=True):
        if response is None:
            outcomes["not sendable"] += 1
            refused.append(case)
            continue
        status = int(response.Status)
        if status == 0:
            outcomes["stored"] += 1
            assert not case.must_refuse, f"{case.name} was stored"
            continue
        outcomes[f"{status:#06x}"] += 1
        refused.append(case)
        assert status >> 8 in (0xA7, 0xA9, 0xC0, 0x01), (case.name, hex(status))
        comment = str(response.get("ErrorComment", ""))
        assert comment.strip(), (case.name, hex(status), response)
    assert process.alive()
    assert await asyncio.to_thread(echo, port, place.ae_title) == 0
    summary = f"C-STORE: {len(batch)} of {len(cases)} cases sendable, {elapsed:.1f} s"
    assert_survived(process, before, f"{summary}: {dict(outcomes)}", "receiver")
    await assert_nothing_half_stored(place, refused)
