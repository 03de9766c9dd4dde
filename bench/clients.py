"""What both sides are driven with: STOW-RS bodies sent by httpx, C-STORE by dcmtk's
``storescu``, QIDO-RS and ``/rendered`` by plain GETs. One client code for both peers, so
the only difference measured is the server."""

from __future__ import annotations

import os
import subprocess
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Peer:
    """One server under test: its DICOMweb root, the headers its clients send (a token or a
    session cookie), and where ``storescu`` reaches its DICOM port."""

    name: str
    dicomweb: str
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    dicom_port: int = 0
    called_aet: str = ""

    def client(self, timeout: float = 120) -> httpx.Client:
        return httpx.Client(
            base_url=self.dicomweb, headers=self.headers, cookies=self.cookies, timeout=timeout
        )


def multipart_related(parts: Sequence[bytes]) -> tuple[bytes, str]:
    """A STOW-RS request body (PS3.18 10.5): one ``application/dicom`` part per file."""
    boundary = f"aimis-bench-{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for part in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        chunks.append(part)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    return b"".join(chunks), content_type


@dataclass
class StowResult:
    seconds: float
    stored: int
    failed: int
    errors: list[str]


def stow(peer: Peer, bodies: list[tuple[bytes, str, int]], clients: int) -> StowResult:
    """POST every prepared body to ``/studies`` with ``clients`` connections at once.

    ``bodies``: (body, content type, number of files in it). Counts the stored and failed
    instances from each response (ReferencedSOPSequence / FailedSOPSequence)."""
    lock = threading.Lock()
    totals = {"stored": 0, "failed": 0}
    errors: list[str] = []
    local = threading.local()

    def send(item: tuple[bytes, str, int]) -> None:
        body, content_type, count = item
        if not hasattr(local, "http"):
            local.http = peer.client()
        res = local.http.post(
            "/studies",
            content=body,
            headers={"Content-Type": content_type, "Accept": "application/dicom+json"},
        )
        stored = failed = 0
        if res.status_code in (200, 202, 409) and res.content:
            answer = res.json()
            stored = len(answer.get("00081199", {}).get("Value", []))
            failed = len(answer.get("00081198", {}).get("Value", []))
        else:
            failed = count
        with lock:
            totals["stored"] += stored
            totals["failed"] += failed
            if res.status_code not in (200, 202) and len(errors) < 5:
                errors.append(f"{res.status_code}: {res.text[:300]}")

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, bodies))
    seconds = time.perf_counter() - start
    return StowResult(seconds, totals["stored"], totals["failed"], errors)


@dataclass
class StoreScuResult:
    seconds: float
    returncode: int
    output: str


# storescu proposes one transfer syntax family per run unless a profile lists several; this
# one proposes every syntax of the data set, each in its own presentation context, so each
# file goes as it is stored (no transcoding on the way).
DCMTK_STORESCU = "/usr/bin/storescu"
STORESCU_PROFILE = """\
[[TransferSyntaxes]]
[Uncompressed]
TransferSyntax1 = 1.2.840.10008.1.2.1
TransferSyntax2 = 1.2.840.10008.1.2
[JPEGLS]
TransferSyntax1 = 1.2.840.10008.1.2.4.80
[J2K]
TransferSyntax1 = 1.2.840.10008.1.2.4.90
[RLE]
TransferSyntax1 = 1.2.840.10008.1.2.5

[[PresentationContexts]]
[BenchCT]
PresentationContext1 = 1.2.840.10008.5.1.4.1.1.2\\Uncompressed
PresentationContext2 = 1.2.840.10008.5.1.4.1.1.2\\JPEGLS
PresentationContext3 = 1.2.840.10008.5.1.4.1.1.2\\J2K
PresentationContext4 = 1.2.840.10008.5.1.4.1.1.2\\RLE

[[Profiles]]
[Bench]
PresentationContexts = BenchCT
"""


def storescu(peer: Peer, calling_aet: str, files: Sequence[Path], log: Path) -> StoreScuResult:
    """Send ``files`` in one association with dcmtk's ``storescu``, each in its own transfer
    syntax. A file the peer did not take makes a non-zero ``returncode``."""
    exe = DCMTK_STORESCU  # not the venv's pynetdicom app of the same name
    if not Path(exe).exists():
        raise RuntimeError("storescu is missing: apt-get install -y dcmtk")
    profile = log.with_suffix(".cfg")
    profile.write_text(STORESCU_PROFILE)
    args = [exe, "-aet", calling_aet, "-aec", peer.called_aet, "-xf", str(profile), "Bench"]
    args += ["-nh", "-to", "60", "127.0.0.1", str(peer.dicom_port), *map(str, files)]
    start = time.perf_counter()
    env = {**os.environ, "TCP_NODELAY": "1"}  # see bench.orthanc.DCMTK_ENV
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    output = proc.stdout + proc.stderr
    log.write_text(output)
    failed = output.count("Store Failed")
    return StoreScuResult(seconds, proc.returncode or (1 if failed else 0), output[-2000:])
