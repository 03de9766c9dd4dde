"""Servers pre-filled with the QIDO set, built once into ``bench/.cache`` and cloned for each
run: the clone hard-links the DICOM files (nobody writes them) and copies the databases
(both servers write to theirs while answering: Orthanc its properties, AIMIS its audit).

How each side is filled, the fastest honest way each offers:
- Orthanc: every file POSTed to its REST ``/instances`` (4 connections at once);
- AIMIS: ``fill="bulk"`` (the default): each file through the same checks as ingest and
  its rows built by the same functions, written in bulk (``bench.aimis_setup bulk``) —
  ingest fills at ~20-60 files/s on this shared machine, 30-80 minutes for 100,000;
  ``fill="ingest"``: every file through ``api.ingest.steps.ingest_files`` in-process
  (the function STOW-RS and C-STORE call), 32 files a transaction.

``both`` fills (when not cached) and starts the two at the same time.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

import httpx

from bench import orthanc as orthanc_mod
from bench.aimis_app import Aimis
from bench.datasets import CACHE, read_pack

DATABASE_FILES = (
    "index",
    "index-wal",
    "index-shm",
    "aimis.sqlite",
    "aimis.sqlite-wal",
    "aimis.sqlite-shm",
)


def clone(src: Path, dst: Path, is_database: Callable[[Path], bool]) -> None:
    """Copy ``src`` to ``dst``: databases copied, every other file hard-linked."""
    for folder, _dirs, names in os.walk(src):
        target = dst / Path(folder).relative_to(src)
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            path = Path(folder) / name
            if is_database(path):
                shutil.copy2(path, target / name)
            else:
                os.link(path, target / name)


def _is_database(path: Path) -> bool:
    return path.name in DATABASE_FILES or path.suffix == ".log"


def orthanc(pack: Path) -> orthanc_mod.Orthanc:
    """A started Orthanc on a clone of the filled storage (filled first if not cached)."""
    cached = CACHE / f"{pack.stem}-orthanc"
    if not (cached / "complete").exists():
        shutil.rmtree(cached, ignore_errors=True)
        _fill_orthanc(pack, cached / "storage")
        (cached / "complete").touch()
    storage = Path(tempfile.mkdtemp(prefix="aimis-bench-orthanc-storage-"))
    clone(cached / "storage", storage, _is_database)
    return orthanc_mod.Orthanc(storage=storage).start()


def _fill_orthanc(pack: Path, storage: Path) -> None:
    server = orthanc_mod.Orthanc(storage=storage, keep_storage=True).start()
    lock, counts = threading.Lock(), {"done": 0, "failed": 0}
    local = threading.local()
    start = time.perf_counter()

    def post(data: bytes) -> None:
        if not hasattr(local, "http"):
            local.http = httpx.Client(base_url=server.url, timeout=60)
        res = local.http.post(
            "/instances", content=data, headers={"Content-Type": "application/dicom"}
        )
        with lock:
            counts["done"] += 1
            counts["failed"] += res.status_code != 200
            if counts["done"] % 10000 == 0:
                rate = counts["done"] / (time.perf_counter() - start)
                print(f"  Orthanc: {counts['done']} filed, {rate:.0f}/s", flush=True)

    try:
        print(f"filling Orthanc with {pack.name} (once; cached under {storage.parent}) …")
        with ThreadPoolExecutor(4) as pool:
            for _ in pool.map(post, read_pack(pack)):
                pass
        seconds = time.perf_counter() - start
        print(
            f"filed {counts['done']} files in {seconds:.0f} s "
            f"({counts['done'] / seconds:.0f}/s), {counts['failed']} refused"
        )
        if counts["failed"]:
            raise RuntimeError(f"Orthanc refused {counts['failed']} files")
    finally:
        server.stop()


def both(
    pack: Path, *, sqlite_journal: str = "", fill: str = "bulk"
) -> tuple[orthanc_mod.Orthanc, Aimis]:
    """Orthanc and AIMIS on clones of their filled storage, filled side by side."""
    with ThreadPoolExecutor(2) as pool:
        peer = pool.submit(orthanc, pack)
        ours = pool.submit(aimis, pack, sqlite_journal=sqlite_journal, fill=fill)
        wait((peer,))
        wait((ours,))
    failed = [e for e in (peer.exception(), ours.exception()) if e is not None]
    if failed:
        if peer.exception() is None:
            peer.result().stop()
        if ours.exception() is None:
            ours.result().stop()
        raise failed[0]
    return peer.result(), ours.result()


def aimis(pack: Path, *, sqlite_journal: str = "", fill: str = "bulk") -> Aimis:
    """A started AIMIS on a clone of the filled data folder (filled first if not cached)."""
    cached = CACHE / f"{pack.stem}-aimis"
    if not (cached / "complete").exists():
        _fill_aimis(pack, cached / "data", fill)  # resumes an interrupted fill
        (cached / "complete").touch()
    data = Path(tempfile.mkdtemp(prefix="aimis-bench-app-")) / "data"
    clone(cached / "data", data, _is_database)
    app = Aimis(data, sqlite_journal=sqlite_journal)
    app.prepare(skip_db=True)
    app.cli("migrate")  # a migration added since the cache was filled
    return app.start(prepared=True)


def _fill_aimis(pack: Path, data: Path, fill: str) -> None:
    app = Aimis(data, keep_data=True)
    print(f"filling AIMIS with {pack.name} (once; cached under {data.parent}) …", flush=True)
    app.prepare(skip_db=(data / "aimis.sqlite").exists())
    command = "bulk" if fill == "bulk" else "populate"
    app.cli("-m", "bench.aimis_setup", command, str(pack), timeout=7200, echo=True)
