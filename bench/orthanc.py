"""Orthanc, the peer of the imaging benchmarks: Debian's ``orthanc`` with its DICOMweb and
GDCM plugins, started with a temporary configuration and stopped again by the benchmark.

Never the system service: each run gets free loopback ports, its own storage folder (or a
cached one, for the read-only QIDO benchmark), no authentication, DICOMweb under
``/dicom-web/`` and one known modality (AE title ``BENCHSCU`` on 127.0.0.1) so that
``storescu`` is accepted while unknown callers are not. Everything else is Orthanc's
default, as Debian ships it (SQLite index, files fsynced, ``StorageAccessOnFind: Always``),
except Nagle's algorithm, switched off in its DICOM layer (``DCMTK_ENV``).
The GDCM plugin decodes JPEG 2000 only (the core cannot); the core decodes the rest.

    uv run python -m bench.orthanc   # start one, print its addresses, stop on Enter
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.measure import Server

ORTHANC = Path("/usr/sbin/Orthanc")
PLUGINS = Path("/usr/share/orthanc/plugins")
NEEDED_PLUGINS = ("libOrthancDicomWeb.so", "libOrthancGdcm.so")
DEBIAN_PACKAGES = ("orthanc", "orthanc-dicomweb", "orthanc-gdcm", "dcmtk")
SCU_AET = "BENCHSCU"
ORTHANC_AET = "ORTHANC"
# Debian's dcmtk (Orthanc's DICOM layer, and storescu) leaves Nagle's algorithm on unless
# TCP_NODELAY=1: each C-STORE response then waits ~40 ms for a delayed ACK twice (measured:
# 18 instead of ~400 instances/s on loopback). Both sides run with it off.
DCMTK_ENV = {"TCP_NODELAY": "1"}
JPEG2000 = (
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.92",
    "1.2.840.10008.1.2.4.93",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_installed() -> None:
    """Install Orthanc, its plugins and dcmtk from Debian when any is missing."""
    missing = not ORTHANC.exists() or not Path("/usr/bin/storescu").exists()
    missing = missing or any(not (PLUGINS / p).exists() for p in NEEDED_PLUGINS)
    if not missing:
        return
    print("installing", " ".join(DEBIAN_PACKAGES), "from Debian …", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *DEBIAN_PACKAGES], check=True, env=env)


def version() -> str:
    out = subprocess.run([str(ORTHANC), "--version"], capture_output=True, text=True)
    return out.stdout.splitlines()[0] if out.stdout else "Orthanc ?"


@dataclass
class Orthanc(Server):
    """A running Orthanc: ``url`` (REST), ``dicomweb`` (DICOMweb root), ``dicom_port``."""

    storage: Path
    keep_storage: bool = False
    http_port: int = 0
    dicom_port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    _tmp: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    @property
    def log(self) -> Path:
        assert self._tmp is not None
        return self._tmp / "orthanc.log"

    def config(self) -> dict[str, object]:
        return {
            "Name": "aimis-bench",
            "StorageDirectory": str(self.storage),
            "IndexDirectory": str(self.storage),
            "Plugins": [str(PLUGINS / p) for p in NEEDED_PLUGINS],
            "HttpPort": self.http_port,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "DicomServerEnabled": True,
            "DicomAet": ORTHANC_AET,
            "DicomPort": self.dicom_port,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": True,
            "DicomModalities": {
                "bench": {
                    "AET": SCU_AET,
                    "Host": "127.0.0.1",
                    "Port": 104,
                    "AllowEcho": True,
                    "AllowStore": True,
                }
            },
            "DefaultEncoding": "Utf8",
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "SaveJobs": False,
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": False,
                "QidoCaseSensitive": False,
            },
            "Gdcm": {"Enable": True, "RestrictTransferSyntaxes": list(JPEG2000)},
        }

    def start(self, timeout: float = 60) -> Orthanc:
        ensure_installed()
        self._tmp = Path(tempfile.mkdtemp(prefix="aimis-bench-orthanc-"))
        self.storage.mkdir(parents=True, exist_ok=True)
        self.http_port, self.dicom_port = free_port(), free_port()
        config = self._tmp / "orthanc.json"
        config.write_text(json.dumps(self.config(), indent=2))
        self.proc = subprocess.Popen(
            [str(ORTHANC), str(config)],
            env={**os.environ, **DCMTK_ENV},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"Orthanc exited early:\n{self.log.read_text()[-3000:]}")
            try:
                res = httpx.get(f"{self.url}/plugins", timeout=1)
                if res.status_code == 200:
                    missing = {"dicom-web", "gdcm"} - set(res.json())
                    if missing:
                        raise RuntimeError(f"Orthanc plugins missing: {sorted(missing)}")
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"Orthanc did not answer within {timeout} s:\n{self.log.read_text()}")

    def statistics(self) -> dict[str, object]:
        return dict(httpx.get(f"{self.url}/statistics", timeout=30).json())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if not self.keep_storage:
            shutil.rmtree(self.storage, ignore_errors=True)


def temporary() -> Orthanc:
    """An Orthanc on empty temporary storage, removed when it stops."""
    return Orthanc(storage=Path(tempfile.mkdtemp(prefix="aimis-bench-orthanc-storage-")))


if __name__ == "__main__":
    with temporary() as orthanc:
        print(
            f"{version()}: REST {orthanc.url}, DICOMweb {orthanc.dicomweb}, "
            f"DICOM {ORTHANC_AET}@127.0.0.1:{orthanc.dicom_port} (calling AE {SCU_AET})"
        )
        print(orthanc.statistics())
        input("Enter stops it … ")
