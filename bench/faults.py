"""The fault harness (issue 18, point 6): "a crash at any point loses nothing that was
committed", checked against the real processes.

    uv run --frozen python -m bench.faults --transitions 1000 --instances 1000 [--db postgres]
        [--kills 24] [--seed S] [--targets web,scp,dispatcher,prefect]

On a scratch data folder and database (SQLite, or a fresh PostgreSQL database at
127.0.0.1:5432, dropped afterwards) with the demo alliance, it starts the platform's processes
under its own supervisor — ``aimis serve``, ``aimis scp``, ``aimis dispatcher`` and a Prefect
server — and drives them from clients over their public interfaces only:

- **transitions**: reviewer dr.wang changes the expert of City's radiology department on
  several consultations at once (``POST /api/consultations/{id}/expert`` with the version he
  saw, alternating dr.wang and dr.li: a step on the engine with its version check, history
  row, notice outbox rows and audit row). A 200 is an *acknowledged* transition; after an
  error or a dropped connection the client reads the consultation again and goes on from the
  version it finds (what a browser does), so a try that committed without its answer is
  never applied twice.
- **instances**: small synthetic CT instances (new UIDs every run), half by STOW-RS (dr.wang's
  API token, several per request) and half by C-STORE (pynetdicom, a registered node of City,
  several per association). An instance is *acknowledged* when a STOW-RS response lists it in
  its ReferencedSOPSequence or its C-STORE answers 0x0000. Unacknowledged ones are sent
  again until acknowledged (a re-sent stored one must come back a duplicate, never a second
  row).

Meanwhile it kills one of the processes with ``kill -9`` (its whole process group) at
moments drawn from ``--seed`` — after the n-th acknowledged operation, plus a delay of up to
a quarter second, each kill's target from a shuffled round of ``--targets`` — and starts it
again. The plan (points, targets, delays) is printed and is the same for the same seed; the
interleaving of the requests around it is the machine's. At the end it kills every process
at once, starts them again, lets the dispatcher (and, once, the stale-run sweep
``requeue-stale-migrations``) carry the migration runs to their end, and checks:

- every acknowledged transition is in the database exactly once: the consultation's
  version is 1 + its ``adjust_expert`` history rows, the acknowledged version's history row
  names the acknowledged expert, each history row has its audit row and its notice outbox
  rows (none without a history row), the invite's expert is the last row's;
- every acknowledged instance is indexed (one current instance row, its study and series,
  found by QIDO-RS), its file present with the stored sha256 and retrievable by WADO-RS with
  the dataset that was sent; no SOP Instance UID has two rows; no instance row of the run
  lacks its file; no receiving folder a killed process left survives the restart;
- every migration run reaches its end (``notified``; ``failed`` is counted apart).

Files without a row (a crash between the file and its transaction) are counted and
reported: nothing points at them, so no reader sees them.

Printed: the counts (acknowledged, found, lost, doubled, half, stuck), the kills and the
time; the exit status is 1 when any of lost, doubled, half, stuck is not 0. The same code
runs at a small size in ``tests/integration/test_fault_harness.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from pydicom import dcmread, uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pynetdicom import AE

from bench.waiting import http_up

logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # refused while the receiver is down

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "Demo@2026"  # aimis.demo.DEMO_PASSWORD
REVIEWER, OTHER_EXPERT, APPLICANT, ADMIN = "dr.wang", "dr.li", "dr.chen", "admin.city"
CALLED_AET = "AIMIS"
TARGETS = ("web", "scp", "dispatcher", "prefect")
# What the platform runs with here: a killed receiver's held follow-up falls due after 6 s
# (not 30 min), the dispatcher takes over a killed one's rows after 3 s and backs off briefly.
PLATFORM_ENV = {
    "AIMIS_INGEST_STALE_MINUTES": "0.1",
    "AIMIS_DISPATCH_POLL_SECONDS": "0.2",
    "AIMIS_DISPATCH_LEASE_SECONDS": "3",
    "AIMIS_DISPATCH_BACKOFF_SECONDS": "0.5",
    "AIMIS_DISPATCH_BACKOFF_MAX_SECONDS": "5",
    "AIMIS_DISPATCH_RETRY_DELAYS": "[0.2, 0.5]",
    "AIMIS_DISPATCH_PREFECT_WAIT_SECONDS": "0.5",
    "AIMIS_DISPATCH_RUN_TIMEOUT_SECONDS": "60",
    "AIMIS_DISPATCH_MAX_ATTEMPTS": "10",
    "PYTHONUNBUFFERED": "1",
}
NOTICE_KEY = re.compile(r"notify-consultation-(\d+)-(\d+)(-[a-z_]+)?$")


@dataclass
class Config:
    transitions: int = 1000
    instances: int = 1000
    kills: int = 24
    seed: int = 0
    targets: tuple[str, ...] = TARGETS
    consultations: int = 6  # transition clients, one consultation each
    stow_clients: int = 2
    stow_batch: int = 10
    cstore_clients: int = 2
    cstore_batch: int = 10
    stall_seconds: float = 120  # no migration run moved this long after the last restart: stuck
    verbose: bool = True

    def say(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)


# --- the platform under its own supervisor ---------------------------------------------------


@dataclass
class Proc:
    """One of the platform's processes, in its own process group, its output in ``log``."""

    name: str
    args: list[str]
    ready: Callable[[Proc, int], bool]  # (proc, log offset at start) → up?
    popen: subprocess.Popen | None = None
    starts: int = 0
    kills: int = 0

    def log_path(self, folder: Path) -> Path:
        return folder / f"{self.name}.log"


class Platform:
    """web, scp, dispatcher (and the Prefect server unless one is given) on one data folder
    and database; ``kill`` is ``kill -9`` of a process group, ``start`` waits until it serves."""

    def __init__(self, env: dict[str, str], logs: Path, prefect_api: str = "") -> None:
        self.logs = logs
        self.port, self.dicom_port = free_port(), free_port()
        own_prefect = not prefect_api
        prefect_port = str(free_port())
        self.prefect_api = prefect_api or f"http://127.0.0.1:{prefect_port}/api"
        prefect_home = Path(env.get("PREFECT_HOME") or logs / "prefect")
        self.env = {
            **env,
            **PLATFORM_ENV,
            "AIMIS_HOST": "127.0.0.1",
            "AIMIS_PORT": str(self.port),
            "AIMIS_DICOM_HOST": "127.0.0.1",
            "AIMIS_DICOM_PORT": str(self.dicom_port),
            "AIMIS_DICOM_AE_TITLE": CALLED_AET,
            "AIMIS_PREFECT_API_URL": self.prefect_api,
            "PREFECT_API_URL": self.prefect_api,
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        py = [sys.executable, "-m"]
        self.procs: dict[str, Proc] = {}
        if own_prefect:
            prefect_home.mkdir(parents=True, exist_ok=True)
            self.env["PREFECT_API_DATABASE_CONNECTION_URL"] = (
                f"sqlite+aiosqlite:///{prefect_home}/prefect.db"
            )
            self.env["PREFECT_UI_ENABLED"] = "false"
            self.procs["prefect"] = Proc(
                "prefect",
                [*py, "prefect", "server", "start", "--host", "127.0.0.1", "--port", prefect_port],
                lambda p, _o: self._http(f"{self.prefect_api}/health", p),
            )
        self.procs["web"] = Proc(
            "web", [*py, "aimis.cli", "serve"], lambda p, _o: self._http(f"{self.url}/health", p)
        )
        self.procs["scp"] = Proc(
            "scp", [*py, "aimis.cli", "scp"], lambda p, o: self._said(p, o, b"listening on")
        )
        self.procs["dispatcher"] = Proc(
            "dispatcher",
            [*py, "aimis.cli", "dispatcher"],
            lambda p, o: self._said(p, o, b"dispatcher: polling"),
        )
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _alive(self, proc: Proc) -> None:
        if proc.popen is None or proc.popen.poll() is not None:
            tail = proc.log_path(self.logs).read_text(errors="replace")[-4000:]
            raise RuntimeError(f"{proc.name} exited while starting:\n{tail}")

    def _http(self, url: str, proc: Proc) -> bool:
        return http_up(url, lambda: self._alive(proc), 0.5)

    def _said(self, proc: Proc, offset: int, words: bytes) -> bool:
        self._alive(proc)
        return words in proc.log_path(self.logs).read_bytes()[offset:]

    def start(self, name: str, within: float = 180) -> float:
        """Start ``name`` and wait until it serves; the seconds that took."""
        return self.start_all((name,), within)

    def start_all(self, names: tuple[str, ...] = (), within: float = 180) -> float:
        """Start ``names`` (default: every process) at once, then wait until each serves."""
        began = time.monotonic()
        offsets = {}
        for name in names or tuple(self.procs):
            proc = self.procs[name]
            log = proc.log_path(self.logs)
            offsets[name] = log.stat().st_size if log.exists() else 0
            with log.open("ab") as out:
                proc.popen = subprocess.Popen(
                    proc.args,
                    cwd=ROOT,
                    env=self.env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            proc.starts += 1
        for name, offset in offsets.items():
            while not self.procs[name].ready(self.procs[name], offset):
                if time.monotonic() - began > within:
                    raise RuntimeError(f"{name} did not come up within {within} s")
                time.sleep(0.1)
        return time.monotonic() - began

    def kill(self, name: str) -> None:
        """``kill -9`` of the process and everything it started."""
        proc = self.procs[name]
        if proc.popen is not None and proc.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGKILL)
            proc.popen.wait(30)
            proc.kills += 1

    def stop_all(self) -> None:
        for name in ("dispatcher", "scp", "web", "prefect"):
            proc = self.procs.get(name)
            if proc is None or proc.popen is None or proc.popen.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(10)

    def run_flow(self, code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode:
            raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
        return done.stdout


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the database, read only -----------------------------------------------------------------


class Db:
    """Plain reads of the app database (``$1`` placeholders), for the checks."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env.get("AIMIS_DATABASE_URL", "")
        self.sqlite = Path(env.get("AIMIS_DATA_DIR", "data")) / "aimis.sqlite"

    async def rows(self, sql: str, *params: object) -> list[dict[str, Any]]:
        if self.url:
            import asyncpg

            conn = await asyncpg.connect(self.url)
            try:
                return [dict(r) for r in await conn.fetch(sql, *params)]
            finally:
                await conn.close()

        def read() -> list[dict[str, Any]]:
            with contextlib.closing(
                sqlite3.connect(f"file:{self.sqlite}?mode=ro", uri=True, timeout=60)
            ) as db:
                db.row_factory = sqlite3.Row
                cursor = db.execute(re.sub(r"\$\d+", "?", sql), params)
                return [dict(r) for r in cursor.fetchall()]

        return await asyncio.to_thread(read)

    async def value(self, sql: str, *params: object) -> Any:
        found = await self.rows(sql, *params)
        return next(iter(found[0].values())) if found else None


# --- what the clients send -----------------------------------------------------------------------


@dataclass
class Instance:
    study: str
    series: str
    sop: str
    data: bytes  # the file as sent by STOW-RS
    dataset: Dataset  # what C-STORE sends (and what a retrieval must give back)


def make_instances(count: int, seed: int, token: str) -> list[Instance]:
    """``count`` small CT instances (16×16, 12 bit, explicit VR little endian) of a few fake
    patients, 20 a series and 100 a study; pixel data from ``seed``, UIDs new with ``token``."""
    rng = random.Random(seed)
    made = []
    for n in range(count):
        patient, study, series = n // 300, n // 100, n // 20
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID = uid.CTImageStorage
        ds.StudyInstanceUID = uid.generate_uid(entropy_srcs=[token, "study", str(study)])
        ds.SeriesInstanceUID = uid.generate_uid(entropy_srcs=[token, "series", str(series)])
        ds.SOPInstanceUID = uid.generate_uid(entropy_srcs=[token, "sop", str(n)])
        ds.PatientName = f"Fault^Harness{patient}"
        ds.PatientID = f"FAULT-{token[:8]}-{patient}"
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyDate = ds.SeriesDate = "20261208"
        ds.StudyTime = "060000"
        ds.AccessionNumber = f"F{token[:6]}{study}"
        ds.StudyID = str(study)
        ds.Modality = "CT"
        ds.Manufacturer = "AIMIS fault harness"
        ds.SeriesNumber = series % 5 + 1
        ds.InstanceNumber = n % 20 + 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = 16
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = bytes(b & 0x0F if i % 2 else b for i, b in enumerate(rng.randbytes(512)))
        ds["PixelData"].VR = "OW"
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = uid.ExplicitVRLittleEndian
        out = io.BytesIO()
        dcmwrite(out, ds, enforce_file_format=True)
        made.append(
            Instance(
                ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, out.getvalue(), ds
            )
        )
    return made


def same_dataset(a: Dataset, b: Dataset) -> bool:
    """Equal outside the file meta header (group 0002, which the receiver writes itself)."""
    return {e.tag: e.value for e in a} == {e.tag: e.value for e in b}


def multipart_related(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = f"aimis-faults-{uuid.uuid4().hex}"
    body = b"".join(
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n"
        for p in parts
    )
    return body + f"--{boundary}--\r\n".encode(), (
        f'multipart/related; type="application/dicom"; boundary={boundary}'
    )


def dicom_parts(content_type: str, body: bytes) -> list[bytes]:
    """The parts of a ``multipart/related`` response body (RFC 2046), their headers dropped."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not m:
        return []
    delimiter = b"--" + m.group(1).encode()
    parts = []
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        _head, _, data = chunk.partition(b"\r\n\r\n")
        parts.append(data[:-2] if data.endswith(b"\r\n") else data)
    return parts


# --- the kill plan --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kill:
    after: int  # acknowledged operations (transitions + instances)
    target: str
    delay: float  # seconds after that point


def kill_plan(cfg: Config, targets: list[str]) -> list[Kill]:
    rng = random.Random(cfg.seed)
    total = cfg.transitions + cfg.instances
    points = sorted(rng.sample(range(1, total), min(cfg.kills, total - 1)))
    order: list[str] = []
    while len(order) < len(points):
        round_ = list(targets)
        rng.shuffle(round_)
        order += round_
    return [Kill(p, t, round(rng.uniform(0, 0.25), 3)) for p, t in zip(points, order, strict=False)]


# --- the load -----------------------------------------------------------------------------------


@dataclass
class Ack:
    consultation: int
    version: int
    expert: int


@dataclass
class Tally:
    transitions: list[Ack] = field(default_factory=list)
    instances: set[str] = field(default_factory=set)
    transition_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    instance_errors: collections.Counter[str] = field(default_factory=collections.Counter)
    resent: int = 0  # instances sent again: no answer, or not listed as stored
    how: dict[str, str] = field(default_factory=dict)  # SOP UID → how it was acknowledged
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def operations(self) -> int:
        with self.lock:
            return self.operations_locked()

    def operations_locked(self) -> int:
        return len(self.transitions) + len(self.instances)


class Client:
    """A logged-in browser: session cookie and the CSRF header."""

    def __init__(self, url: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, timeout=60)

    async def login(self, username: str, admin: bool = False) -> Client:
        await self.http.get("/login")
        path = "/api/auth/admin-login" if admin else "/api/auth/login"
        res = await self.post(path, {"identifier": username, "password": PASSWORD})
        res.raise_for_status()
        return self

    async def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        token = self.http.cookies.get("csrftoken") or ""
        return await self.http.post(path, json=body, headers={"x-csrftoken": token})


@dataclass
class Case:
    id: int
    version: int
    expert: int | None


class Load:
    def __init__(self, cfg: Config, platform: Platform, db: Db, token: str) -> None:
        self.cfg, self.platform, self.db, self.token = cfg, platform, db, token
        self.tally = Tally()
        self.instances = make_instances(cfg.instances, cfg.seed, token)
        self.by_sop = {i.sop: i for i in self.instances}
        half = cfg.instances // 2
        self.stow_pending = collections.deque(self.instances[:half])
        self.cstore_pending = collections.deque(self.instances[half:])
        self.pending_lock = threading.Lock()
        self.scu_aet = f"FLT{token[:8].upper()}"
        self.cases: list[Case] = []
        self.run_floor = 0  # migration runs with a larger id are this run's
        self.done = threading.Event()

    # set-up, over HTTP as an admin and the doctors would
    async def prepare(self) -> None:
        users = {
            r["username"]: r["id"]
            for r in await self.db.rows(
                "SELECT id, username FROM app_user WHERE username IN ($1, $2, $3)",
                REVIEWER,
                OTHER_EXPERT,
                APPLICANT,
            )
        }
        self.experts = (users[REVIEWER], users[OTHER_EXPERT])
        self.department = await self.db.value(
            "SELECT d.id FROM department d JOIN hospital h ON d.hospital = h.id "
            "WHERE h.code = 'CITY' AND d.name LIKE 'Radiology%' ORDER BY d.id",
        )
        self.run_floor = int(await self.db.value("SELECT coalesce(max(id), 0) FROM migration_run"))
        admin = await Client(self.platform.url).login(ADMIN, admin=True)
        res = await admin.post("/api/tokens/", {"user_id": users[REVIEWER], "name": "faults"})
        res.raise_for_status()
        self.bearer = {"Authorization": f"Bearer {res.json()['token']}"}
        res = await admin.post(
            "/api/ingest/nodes",
            {"ae_title": self.scu_aet, "host": "127.0.0.1", "description": "fault harness"},
        )
        res.raise_for_status()
        await admin.http.aclose()
        self.applicant = await Client(self.platform.url).login(APPLICANT)
        self.reviewer = await Client(self.platform.url).login(REVIEWER)
        when = (datetime.now(UTC) + timedelta(days=7)).isoformat()
        for n in range(self.cfg.consultations):
            res = await self.applicant.post(
                "/api/consultations",
                {
                    "topic": f"fault harness {self.token[:8]} {n}",
                    "scheduled_at": when,
                    "invites": [{"department_id": self.department, "mandatory": False}],
                    "patient": {"name": "Fault Harness"},
                },
            )
            res.raise_for_status()
            self.cases.append(Case(res.json()["id"], res.json()["version"], None))
        for case in self.cases:
            await self.resync(case)

    async def resync(self, case: Case) -> None:
        """The consultation as it is now (after an error or a lost answer)."""
        while True:
            with contextlib.suppress(httpx.HTTPError, KeyError, ValueError):
                res = await self.reviewer.http.get(f"/api/consultations/{case.id}")
                if res.status_code == 200:
                    body = res.json()
                    case.version = body["version"]
                    invite = next(
                        i for i in body["invites"] if i["department_id"] == self.department
                    )
                    case.expert = invite["expert"]["id"] if invite["expert"] else None
                    return
            await asyncio.sleep(0.2)

    async def transitions(self, case: Case) -> None:
        http = Client(self.platform.url)
        http.http.cookies = self.reviewer.http.cookies
        tally, target = self.tally, self.cfg.transitions
        try:
            while len(tally.transitions) < target:
                expert = self.experts[0] if case.expert == self.experts[1] else self.experts[1]
                body = {"department_id": self.department, "user_id": expert}
                try:
                    res = await http.post(
                        f"/api/consultations/{case.id}/expert", {**body, "version": case.version}
                    )
                except httpx.HTTPError as exc:
                    tally.transition_errors[type(exc).__name__] += 1
                    await asyncio.sleep(0.1)
                    await self.resync(case)
                    continue
                if res.status_code == 200:
                    version = int(res.json()["version"])
                    with tally.lock:
                        tally.transitions.append(Ack(case.id, version, expert))
                    case.version, case.expert = version, expert
                    continue
                tally.transition_errors[str(res.status_code)] += 1
                if res.status_code not in (400, 409, 500, 502, 503):
                    raise RuntimeError(f"transition refused: {res.status_code} {res.text[:300]}")
                await asyncio.sleep(0.05)
                await self.resync(case)
        finally:
            await http.http.aclose()

    def _take(self, pending: collections.deque[Instance], n: int) -> list[Instance]:
        with self.pending_lock:
            return [pending.popleft() for _ in range(min(n, len(pending)))]

    def _give_back(self, pending: collections.deque[Instance], items: list[Instance]) -> None:
        with self.pending_lock:
            pending.extend(items)
            self.tally.resent += len(items)

    def _acked(self, sops: list[str], how: str = "") -> None:
        with self.tally.lock:
            self.tally.instances.update(sops)
            for sop in sops:
                self.tally.how[sop] = f"{how} at {self.tally.operations_locked()} acknowledged"

    async def stow(self) -> None:
        http = httpx.AsyncClient(base_url=self.platform.url, timeout=60, headers=self.bearer)
        errors = self.tally.instance_errors
        try:
            while True:
                batch = self._take(self.stow_pending, self.cfg.stow_batch)
                if not batch:
                    if self.stow_outstanding == 0:
                        return
                    await asyncio.sleep(0.1)
                    continue
                self.stow_outstanding += 1
                try:
                    body, content_type = multipart_related([i.data for i in batch])
                    try:
                        res = await http.post(
                            "/dicomweb/studies",
                            content=body,
                            headers={
                                "Content-Type": content_type,
                                "Accept": "application/dicom+json",
                                "User-Agent": f"faults-{self.token[:8]}",
                            },
                        )
                    except httpx.HTTPError as exc:
                        errors[f"stow {type(exc).__name__}"] += 1
                        self._give_back(self.stow_pending, batch)
                        await asyncio.sleep(0.2)
                        continue
                    stored: set[str] = set()
                    if res.status_code in (200, 202):
                        for item in res.json().get("00081199", {}).get("Value", []):
                            stored.update(item.get("00081155", {}).get("Value", []))
                    else:
                        errors[f"stow {res.status_code}"] += 1
                    self._acked(
                        [i.sop for i in batch if i.sop in stored], f"STOW-RS {res.status_code}"
                    )
                    again = [i for i in batch if i.sop not in stored]
                    if again:
                        self._give_back(self.stow_pending, again)
                        await asyncio.sleep(0.2)
                finally:
                    self.stow_outstanding -= 1
        finally:
            await http.aclose()

    def cstore(self) -> None:
        errors = self.tally.instance_errors
        while True:
            batch = self._take(self.cstore_pending, self.cfg.cstore_batch)
            if not batch:
                with self.pending_lock:
                    if self.cstore_outstanding == 0:
                        return
                time.sleep(0.1)
                continue
            with self.pending_lock:
                self.cstore_outstanding += 1
            acked: list[str] = []
            try:
                ae = AE(ae_title=self.scu_aet)
                ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 30
                ae.add_requested_context(uid.CTImageStorage, uid.ExplicitVRLittleEndian)
                assoc = ae.associate("127.0.0.1", self.platform.dicom_port, ae_title=CALLED_AET)
                if not assoc.is_established:
                    errors["cstore association"] += 1
                    time.sleep(0.2)
                    continue
                for item in batch:
                    status = assoc.send_c_store(item.dataset)
                    if "Status" in status and int(status.Status) == 0:
                        acked.append(item.sop)
                    else:
                        errors[f"cstore status {status.get('Status', 'none')}"] += 1
                        if not assoc.is_established:
                            break
                if assoc.is_established:
                    assoc.release()
            except Exception as exc:  # the receiver killed under the association
                errors[f"cstore {type(exc).__name__}"] += 1
            finally:
                self._acked(acked, "C-STORE 0x0000")
                self._give_back(self.cstore_pending, [i for i in batch if i.sop not in acked])
                with self.pending_lock:
                    self.cstore_outstanding -= 1

    async def killer(self, plan: list[Kill], log: list[str]) -> None:
        """Each kill at its point of the load; the killed process starts again meanwhile.
        One loop per process: a process still starting is killed again only once it is up,
        and that waits for nothing else."""

        async def kills_of(target: str) -> None:
            for kill in (k for k in plan if k.target == target):
                while self.tally.operations < kill.after:
                    if self.done.is_set():
                        break
                    await asyncio.sleep(0.01)
                await asyncio.sleep(kill.delay)
                if self.done.is_set():
                    self.cfg.say(f"  (kill of {target} at {kill.after}: the load was over)")
                    continue
                at = self.tally.operations
                began = time.monotonic()
                self.platform.kill(target)
                await asyncio.to_thread(self.platform.start, target)
                line = (
                    f"  kill -9 {target:<10} at {at:>5} acknowledged "
                    f"(planned {kill.after} + {kill.delay:.3f} s); up again in "
                    f"{time.monotonic() - began:.1f} s"
                )
                log.append(line)
                self.cfg.say(line)

        await asyncio.gather(*(kills_of(t) for t in sorted({k.target for k in plan})))

    async def run(self, plan: list[Kill]) -> list[str]:
        self.stow_outstanding = 0
        self.cstore_outstanding = 0
        log: list[str] = []
        killer = asyncio.create_task(self.killer(plan, log))
        work = [asyncio.create_task(self.transitions(c)) for c in self.cases]
        work += [asyncio.create_task(self.stow()) for _ in range(self.cfg.stow_clients)]
        work += [
            asyncio.create_task(asyncio.to_thread(self.cstore))
            for _ in range(self.cfg.cstore_clients)
        ]
        try:
            await asyncio.gather(*work)
        finally:
            self.done.set()
            await killer
        return log


# --- after the crash: the checks ---------------------------------------------------------------


@dataclass
class Report:
    seed: int
    db: str
    kills: list[str] = field(default_factory=list)
    transitions: dict[str, int] = field(default_factory=dict)
    instances: dict[str, int] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors_seen: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        bad = ("lost", "doubled", "half")
        return (
            not any(self.transitions.get(k) or self.instances.get(k) for k in bad)
            and not self.runs.get("stuck")
            and not self.problems
        )

    def lines(self) -> list[str]:
        def fmt(d: dict[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in d.items())

        return [
            f"seed {self.seed}, {self.db}, {len(self.kills)} kills",
            f"transitions: {fmt(self.transitions)}",
            f"instances:   {fmt(self.instances)}",
            f"migration runs: {fmt(self.runs)}",
            "client-side errors (retried): "
            + (", ".join(f"{k} ×{v}" for k, v in sorted(self.errors_seen.items())) or "none"),
            "time: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
            *(f"note: {n}" for n in self.notes),
            *(f"PROBLEM: {p}" for p in self.problems[:40]),
            "OK: nothing acknowledged lost, doubled or half-applied" if self.ok else "FAILED",
        ]


async def check_transitions(load: Load, report: Report) -> None:
    db, problems = load.db, report.problems
    acked = load.tally.transitions
    cases = [c.id for c in load.cases]
    found = lost = doubled = half = extra = 0
    for cid in cases:
        row = (await db.rows("SELECT state, version FROM consultation WHERE id = $1", cid))[0]
        history = await db.rows(
            "SELECT id, event, summary FROM case_history WHERE case_type = 'consultation' "
            "AND case_id = $1 ORDER BY id",
            cid,
        )
        steps = [h for h in history if h["event"] == "adjust_expert"]
        audits = int(
            await db.value(
                "SELECT count(*) FROM audit_log WHERE action = 'consultation.adjust_expert' "
                "AND target_id = $1",
                str(cid),
            )
        )
        keys = [
            r["idempotency_key"]
            for r in await db.rows(
                "SELECT idempotency_key FROM outbox WHERE idempotency_key LIKE $1",
                f"notify-consultation-{cid}-%",
            )
        ]
        notices: dict[int, int] = collections.Counter()
        for key in keys:
            m = NOTICE_KEY.match(key)
            if m:
                notices[int(m.group(2))] += 1
        ids = {h["id"] for h in history}
        if row["version"] != 1 + len(steps):
            half += 1
            problems.append(
                f"consultation {cid}: version {row['version']} but {len(steps)} expert steps"
            )
        if audits != len(steps):
            half += 1
            problems.append(f"consultation {cid}: {len(steps)} expert steps, {audits} audit rows")
        for h in steps:
            if not notices.get(h["id"]):
                half += 1
                problems.append(f"consultation {cid}: history row {h['id']} has no notice row")
        orphans = [k for k, n in notices.items() if k not in ids for _ in range(n)]
        if orphans:
            half += len(orphans)
            problems.append(f"consultation {cid}: notice rows without history: {orphans}")
        invite = await db.rows(
            "SELECT expert FROM consultation_invite WHERE consultation = $1 AND department = $2",
            cid,
            load.department,
        )
        last = json.loads(steps[-1]["summary"])["expert_id"] if steps else None
        if steps and invite[0]["expert"] != last:
            half += 1
            problems.append(
                f"consultation {cid}: invite's expert {invite[0]['expert']}, last step's {last}"
            )
        mine = [a for a in acked if a.consultation == cid]
        versions = collections.Counter(a.version for a in mine)
        doubled += sum(n - 1 for n in versions.values() if n > 1)
        for a in mine:
            # the acknowledged step took the case from version a.version - 1: the
            # (a.version - 1)-th expert step, which must name the acknowledged expert
            position = a.version - 2
            if position >= len(steps):
                lost += 1
                problems.append(f"consultation {cid}: acknowledged version {a.version} missing")
                continue
            named = json.loads(steps[position]["summary"]).get("expert_id")
            if named != a.expert:
                lost += 1
                problems.append(
                    f"consultation {cid}: version {a.version} acknowledged with expert "
                    f"{a.expert}, history says {named}"
                )
            else:
                found += 1
        extra += len(steps) - len(versions)
    report.transitions = {
        "acknowledged": len(acked),
        "found": found,
        "lost": lost,
        "doubled": doubled,
        "half": half,
        "committed unacknowledged": extra,
    }


async def check_instances(load: Load, report: Report, data_dir: Path) -> None:
    db, problems = load.db, report.problems
    online = data_dir / "dicom" / "online"
    acked = load.tally.instances
    rows = await db.rows(
        "SELECT i.sop_uid, i.sha256, i.storage_path, i.superseded, i.migration, "
        "s.study_uid, se.series_uid FROM instance i "
        "LEFT JOIN study s ON s.id = i.study LEFT JOIN series se ON se.id = i.series "
        "WHERE i.migration > $1",
        load.run_floor,
    )
    by_sop: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for r in rows:
        by_sop[r["sop_uid"]].append(r)
    doubled = half = 0
    for sop, mine in by_sop.items():
        if len(mine) > 1:
            doubled += len(mine) - 1
            problems.append(f"instance {sop}: {len(mine)} rows")
        for r in mine:
            path = online / r["storage_path"]
            if not path.is_file():
                half += 1
                problems.append(f"instance {sop}: row without its file {r['storage_path']}")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != r["sha256"]:
                half += 1
                problems.append(f"instance {sop}: file {r['storage_path']} fails its sha256")
            if r["study_uid"] is None or r["series_uid"] is None:
                half += 1
                problems.append(f"instance {sop}: row without its study or series")
    found = {s for s in acked if any(not r["superseded"] for r in by_sop.get(s, []))}
    for sop in sorted(acked - found):  # what the database knows of it
        items = await db.rows(
            "SELECT mi.migration, mi.status, mi.code, mr.state, mr.source FROM migration_item mi "
            "JOIN migration_run mr ON mr.id = mi.migration WHERE mi.sop_uid = $1",
            sop,
        )
        anywhere = await db.rows(
            "SELECT id, migration, superseded FROM instance WHERE sop_uid = $1", sop
        )
        problems.append(
            f"instance {sop}: acknowledged ({load.tally.how.get(sop)}), not stored; "
            f"items {items}, rows {anywhere}"
        )
    http = httpx.AsyncClient(base_url=f"{load.platform.url}/dicomweb", headers=load.bearer)
    try:
        for sop in sorted(found):
            item = load.by_sop[sop]
            res = await http.get(
                f"/studies/{item.study}/series/{item.series}/instances/{sop}",
                headers={"Accept": 'multipart/related; type="application/dicom"'},
                timeout=60,
            )
            ok = res.status_code == 200
            parts = dicom_parts(res.headers.get("content-type", ""), res.content) if ok else []
            if len(parts) != 1 or not same_dataset(dcmread(io.BytesIO(parts[0])), item.dataset):
                found.discard(sop)
                problems.append(f"instance {sop}: WADO-RS {res.status_code}, not what was sent")
        for study in sorted({load.by_sop[s].study for s in acked}):
            res = await http.get(f"/studies/{study}/instances", timeout=60)
            listed = {
                v
                for item in (res.json() if res.status_code == 200 else [])
                for v in item.get("00080018", {}).get("Value", [])
            }
            missing = {s for s in found if load.by_sop[s].study == study} - listed
            if missing:
                found -= missing
                problems.append(f"study {study}: QIDO-RS does not list {len(missing)} instances")
    finally:
        await http.aclose()
    duplicates = await db.value(
        "SELECT count(*) FROM migration_item WHERE migration > $1 AND status = 'duplicate'",
        load.run_floor,
    )
    referenced = {r["storage_path"] for r in await db.rows("SELECT storage_path FROM instance")}
    on_disk = [p for p in online.rglob("*") if p.is_file()] if online.exists() else []
    unreferenced = [p for p in on_disk if str(p.relative_to(online)) not in referenced]
    temp = [p for p in unreferenced if p.name.startswith(".tmp")]
    left = abandoned_receiving_folders(data_dir)
    if left:
        half += len(left)
        problems.append(f"receiving folders a killed process left: {left[:5]}")
    report.instances = {
        "acknowledged": len(acked),
        "found": len(found),
        "lost": len(acked) - len(found),
        "doubled": doubled,
        "half": half,
        "sent again after no answer": load.tally.resent,
        "recognised as duplicates": int(duplicates or 0),
        "files without row (invisible)": len(unreferenced) - len(temp),
        "temp files": len(temp),
    }


def abandoned_receiving_folders(data_dir: Path) -> list[str]:
    """Receiving folders whose lock no live process holds (api/ingest/receiving.py)."""
    incoming = data_dir / "dicom" / "spool" / "incoming"
    left = []
    for folder in incoming.iterdir() if incoming.exists() else []:
        if not folder.is_dir():
            continue
        lock = Path(f"{folder}.lock")
        if not lock.exists():
            left.append(folder.name)
            continue
        with lock.open("a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live receiver's
            fcntl.flock(f, fcntl.LOCK_UN)
            left.append(folder.name)
    return left


SWEEP = (
    "import asyncio\n"
    "from flows.housekeeping import requeue_stale_migrations\n"
    "print('requeued', asyncio.run(requeue_stale_migrations()))\n"
)


async def settle_runs(load: Load, report: Report, stall: float) -> None:
    """Wait until every run of this harness has ended (the held follow-ups of killed
    receivers fall due after the hold, the dispatcher runs them); the stale-run sweep runs
    once on the way, as its deployment does every 10 minutes. A run is stuck when no run has
    moved and no outbox row has finished for ``stall`` seconds."""
    db = load.db
    began = moved = said = time.monotonic()
    last: list[tuple[int, str]] = []
    swept = False
    while True:
        runs = await db.rows(
            "SELECT id, state, error FROM migration_run WHERE id > $1", load.run_floor
        )
        open_ = [r for r in runs if r["state"] not in ("notified", "failed")]
        # moving: a run's state, or any outbox row finished (the runs' follow-ups share the
        # dispatcher's routine slots with the notices of the transitions)
        finished = await db.value("SELECT count(*) FROM outbox WHERE status IN ('done', 'failed')")
        now = [(r["id"], r["state"]) for r in open_] + [(-1, str(finished))]
        if now != last:
            last, moved = now, time.monotonic()
        if not open_ or time.monotonic() - moved > stall:
            break
        if time.monotonic() > said + 10:
            said = time.monotonic()
            waiting = collections.Counter(r["state"] for r in open_)
            load.cfg.say(f"  waiting for {len(open_)} migration runs: {dict(waiting)}")
        if not swept and time.monotonic() > began + 15:
            out = await asyncio.to_thread(load.platform.run_flow, SWEEP)
            load.cfg.say(f"  stale-run sweep: {out.strip().splitlines()[-1]}")
            swept = True
        await asyncio.sleep(0.5)
    states = collections.Counter(r["state"] for r in runs)
    report.runs = {
        "total": len(runs),
        "notified": states["notified"],
        "failed": states["failed"],
        "stuck": len(open_),
    }
    for r in open_[:10]:
        follow = await db.rows(
            "SELECT idempotency_key, status, attempts, error FROM outbox "
            "WHERE idempotency_key = $1 OR idempotency_key LIKE $2",
            f"migration-{r['id']}",
            f"migration-{r['id']}-retry-%",
        )
        report.problems.append(f"migration run {r['id']} stuck in {r['state']}: {follow}")
    failed = collections.Counter(r["error"][:200] for r in runs if r["state"] == "failed")
    for error, n in failed.items():  # an end too (e.g. a request killed before its first file)
        report.notes.append(f"{n} migration run(s) failed: {error}")


async def harness(cfg: Config, env: dict[str, str], db_label: str, prefect_api: str = "") -> Report:
    """Start the platform on ``env``'s data folder and database, drive, kill, restart, check.
    ``prefect_api``: a Prefect server to use (never killed) instead of one of its own."""
    data_dir = Path(env["AIMIS_DATA_DIR"])
    logs = Path(tempfile.mkdtemp(prefix="aimis-faults-logs-"))
    platform = Platform(env, logs, prefect_api)
    targets = [t for t in cfg.targets if t in platform.procs]
    plan = kill_plan(cfg, targets)
    report = Report(cfg.seed, db_label)
    token = uuid.uuid4().hex
    cfg.say(
        f"seed {cfg.seed}; kill plan ({len(plan)}): "
        + ", ".join(f"{k.target}@{k.after}+{k.delay:.2f}s" for k in plan)
    )
    began = time.monotonic()
    try:
        platform.start_all()
        load = Load(cfg, platform, Db(platform.env), token)
        await load.prepare()
        report.seconds["start"] = time.monotonic() - began
        cfg.say(
            f"platform up in {report.seconds['start']:.1f} s; {cfg.transitions} transitions on "
            f"{len(load.cases)} consultations, {cfg.instances} instances "
            f"({cfg.stow_clients} STOW-RS clients × {cfg.stow_batch}, "
            f"{cfg.cstore_clients} C-STORE × {cfg.cstore_batch})"
        )
        t0 = time.monotonic()
        report.kills = await load.run(plan)
        report.seconds["load"] = time.monotonic() - t0
        errors = {f"transition {k}": v for k, v in load.tally.transition_errors.items()}
        errors.update(load.tally.instance_errors)
        report.errors_seen = errors
        # the last crash: everything at once, then everything again
        t0 = time.monotonic()
        for name in platform.procs:
            platform.kill(name)
        platform.start_all()
        report.kills.append("  kill -9 of every process after the load, then a restart")
        await settle_runs(load, report, cfg.stall_seconds)
        report.seconds["recovery"] = time.monotonic() - t0
        t0 = time.monotonic()
        await check_transitions(load, report)
        await check_instances(load, report, data_dir)
        report.seconds["checks"] = time.monotonic() - t0
        report.seconds["total"] = time.monotonic() - began
        for client in (load.applicant, load.reviewer):
            await client.http.aclose()
    except BaseException:
        for name in platform.procs:
            log = platform.procs[name].log_path(logs)
            if log.exists():
                print(f"--- {name}.log ends:\n{log.read_text(errors='replace')[-3000:]}")
        raise
    finally:
        platform.stop_all()
        if report.ok:
            import shutil

            shutil.rmtree(logs, ignore_errors=True)
        else:
            print(f"the processes' logs are kept in {logs}", flush=True)
    return report


# --- the benchmark's scratch platform ------------------------------------------------------------


@contextlib.contextmanager
def scratch(postgres: bool, keep: list[bool]) -> Iterator[dict[str, str]]:
    """A data folder and a migrated database with the demo alliance (no studies, no history),
    removed afterwards unless ``keep`` holds True by then (the caller sets it: ``--keep``, or
    a failed check, so that what was found can be looked at)."""
    from bench.aimis_app import Aimis

    app = Aimis(Path(tempfile.mkdtemp(prefix="aimis-faults-")) / "data", postgres=postgres)
    try:
        app.prepare(skip_db=True)
        app.env.update(
            {
                "AIMIS_DEMO_STUDY_PATIENTS": "0",
                "AIMIS_DEMO_HISTORY_DAYS": "0",
                "PREFECT_HOME": str(app.data_dir / "prefect"),
            }
        )
        app.cli("migrate")
        app.cli("demo")
        yield app.env
    finally:
        if keep[0]:
            app.keep_data = True
            print(f"kept: the data folder {app.data_dir}", flush=True)
            if postgres:  # Aimis.stop would drop it
                print(f"kept: the database {app.env['AIMIS_DATABASE_URL']}", flush=True)
                app._pg_name = ""
        app.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transitions", type=int, default=1000)
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=24)
    parser.add_argument("--seed", type=int, default=None, help="default: a new one, printed")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--consultations", type=int, default=6)
    parser.add_argument(
        "--keep", action="store_true", help="keep the data and database (kept when a check fails)"
    )
    args = parser.parse_args()
    from bench.measure import load_now, machine, stop_on_sigterm

    stop_on_sigterm()
    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    cfg = Config(
        transitions=args.transitions,
        instances=args.instances,
        kills=args.kills,
        seed=seed,
        targets=tuple(t for t in args.targets.split(",") if t),
        consultations=args.consultations,
    )
    print(machine())
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    print(f"commit {commit}; python -m bench.faults --seed {seed} --db {args.db} ...", flush=True)
    began = time.monotonic()
    keep = [args.keep]
    with scratch(args.db == "postgres", keep) as env:
        print(
            f"scratch data folder {env['AIMIS_DATA_DIR']} ready in "
            f"{time.monotonic() - began:.1f} s",
            flush=True,
        )
        report = asyncio.run(harness(cfg, env, args.db))
        keep[0] = keep[0] or not report.ok
    print()
    print("\n".join(report.lines()))
    print(f"load average after: {load_now()}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
