"""Recordings (issue 16, point 3): a 1 GB upload with one resume, then a seek in the middle
of a two-hour video in Chromium.

Two H.264 MP4s are generated with ffmpeg's test sources into a temporary folder: a ~1 GB
one (``testsrc2`` 1280×720, 25 fps, with temporal noise so that it does not compress,
``-preset ultrafast -crf 18``, 100 s) and a two-hour one (320×240, 5 fps,
``-preset ultrafast -tune stillimage``). Then the real thing: a Prefect server (temporary
home, SQLite), the app (``bench.aimis_app``: migrated SQLite, demo data, ``aimis serve``)
and ``aimis dispatcher``, which runs the ``process-recording`` flow of each finished
upload. The demo's dr.wang (City) gets ``teaching.host`` on his role, logs in, creates and
publishes a course (as ``tests/integration/test_recording_courses.py``), and then:

- **upload**: tus 1.0 (``POST`` creation, ``PATCH`` chunks of ``--chunk-mib``, streamed
  from the file in 1 MiB blocks — never whole in memory here either); once, half way, a
  chunk's connection is aborted after half its bytes; ``HEAD`` gives the offset the
  server kept and the upload resumes there. Printed: throughput (MB/s, 10⁶ bytes, wall
  time from creation to the last ``204`` including the resume), the web process's
  resident memory before, its peak while uploading (``/proc/<pid>/status`` sampled every
  20 ms, and ``VmHWM``), the difference (aim: < 200 MB);
- **playable**: from the last chunk's ``204`` to ``GET /api/recordings/<id>`` saying
  ``ready`` (the outbox, the dispatcher's poll, probe, faststart remux, poster);
- **seek**: the two-hour video uploaded the same way, processed, then opened in headless
  Chromium (Debian's, through Playwright, the session's cookie) at its URL
  (``/api/recordings/<id>/video``, a media document: one ``<video>``); per repetition a
  new browser context (an empty cache), metadata loaded, then ``currentTime`` set to the
  middle (a few seconds apart per repetition) and timed to ``seeked`` and to the first
  frame presented after ``play()`` (``requestVideoFrameCallback``). p50 and max (aim:
  ≤ 500 ms on loopback).

    uv run --frozen python -m bench.recording_upload [--reps 5] [--chunk-mib 32]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.aimis_app import DEMO_PASSWORD, DEMO_USER, Aimis
from bench.measure import percentile, stop_on_sigterm
from bench.transition_latency import prefect_server

TUS = {"Tus-Resumable": "1.0.0"}
BLOCK = 1 << 20
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
BIG = ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"]
BIG += ["-vf", "noise=alls=12:allf=t", "-c:v", "libx264", "-preset", "ultrafast"]
BIG += ["-crf", "18", "-pix_fmt", "yuv420p"]
LONG = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=5"]
LONG += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "stillimage", "-pix_fmt", "yuv420p"]
SEEK = """async (target) => {
  const v = document.querySelector('video');
  v.pause();
  const t0 = performance.now();
  const seeked = new Promise(r => v.addEventListener('seeked', r, {once: true}));
  v.currentTime = target;
  await seeked;
  const t1 = performance.now();
  const frame = new Promise(r => v.requestVideoFrameCallback((now, m) => r(m.mediaTime)));
  v.muted = true;
  await v.play();
  const at = await frame;
  return {seeked: t1 - t0, frame: performance.now() - t0, at: at};
}"""


def generate(path: Path, args: list[str]) -> float:
    """``ffmpeg`` with ``args`` into ``path``: the seconds it took."""
    start = time.perf_counter()
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(path)], check=True)
    return time.perf_counter() - start


def memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in bytes."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) * 1024
    return out


class PeakRss:
    """The highest VmRSS of ``pid`` seen while the ``with`` block runs (every 20 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._stop = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, memory(self.pid)["VmRSS"])
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, memory(self.pid)["VmRSS"])


class Aborted(Exception):
    """Raised inside a chunk's body: the connection is dropped half way."""


def body(path: Path, start: int, length: int, abort_after: int | None = None) -> Iterator[bytes]:
    """``length`` bytes of ``path`` from ``start``, in 1 MiB blocks; with ``abort_after``,
    an exception after that many bytes (httpx then drops the connection)."""
    sent = 0
    with path.open("rb") as f:
        f.seek(start)
        while sent < length:
            if abort_after is not None and sent >= abort_after:
                raise Aborted
            block = f.read(min(BLOCK, length - sent))
            sent += len(block)
            yield block


def meta(**pairs: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def head_offset(http: httpx.Client, url: str) -> int:
    res = http.head(url, headers=TUS)
    res.raise_for_status()
    return int(res.headers["upload-offset"])


def upload(
    http: httpx.Client, path: Path, course: int, chunk: int, interrupt: bool
) -> dict[str, Any]:
    """The file through tus, with one aborted chunk half way when ``interrupt``."""
    size = path.stat().st_size
    csrf = {"x-csrftoken": http.cookies.get("csrftoken") or ""}
    started = time.perf_counter()
    res = http.post(
        "/api/recordings/uploads",
        headers={
            **TUS,
            **csrf,
            "Upload-Length": str(size),
            "Upload-Metadata": meta(owner_kind="course", owner_id=str(course), filename=path.name),
        },
    )
    assert res.status_code == 201, res.text
    url = res.headers["location"]
    offset, resumed_at, aborted_at = 0, -1, -1
    pending_abort = interrupt
    while offset < size:
        length = min(chunk, size - offset)
        abort = length // 2 if pending_abort and offset + length > size // 2 else None
        headers = {
            **TUS,
            **csrf,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": str(offset),
            "Content-Length": str(length),
        }
        try:
            res = http.patch(url, headers=headers, content=body(path, offset, length, abort))
        except (Aborted, httpx.HTTPError):
            if abort is None:
                raise
            pending_abort = False
            aborted_at = offset + abort
            time.sleep(0.2)  # the server notices the broken connection
            offset = resumed_at = head_offset(http, url)
            continue
        if res.status_code == 409:  # the aborted chunk's lock not yet released
            time.sleep(0.05)
            offset = head_offset(http, url)
            continue
        assert res.status_code == 204, (res.status_code, res.text)
        offset = int(res.headers["upload-offset"])
    ended = time.perf_counter()
    return {
        "url": url,
        "id": int(url.rsplit("/", 1)[1]),
        "seconds": ended - started,
        "ended": ended,
        "size": size,
        "aborted_at": aborted_at,
        "resumed_at": resumed_at,
    }


def wait_ready(http: httpx.Client, rid: int, timeout: float = 600) -> tuple[float, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rec = http.get(f"/api/recordings/{rid}").json()
        if rec["status"] in ("ready", "failed"):
            assert rec["status"] == "ready", rec
            return time.perf_counter(), rec
        time.sleep(0.1)
    raise RuntimeError(f"recording {rid} not ready within {timeout} s")


def grant_teaching(app: Aimis) -> None:
    """dr.wang's role (City) may host courses: the one thing the demo does not give him."""
    with sqlite3.connect(app.data_dir / "aimis.sqlite", timeout=30) as db:
        role_id, perms = db.execute(
            "SELECT r.id, r.permissions FROM role r JOIN app_user u ON u.role = r.id"
            " WHERE u.username = ?",
            (DEMO_USER,),
        ).fetchone()
        granted = sorted({*json.loads(perms), "teaching.host"})
        db.execute("UPDATE role SET permissions = ? WHERE id = ?", (json.dumps(granted), role_id))


def lecturer(app: Aimis) -> httpx.Client:
    http = httpx.Client(base_url=app.url, timeout=120)
    http.get("/login")
    csrf = {"x-csrftoken": http.cookies.get("csrftoken") or ""}
    res = http.post(
        "/api/auth/login", json={"identifier": DEMO_USER, "password": DEMO_PASSWORD}, headers=csrf
    )
    res.raise_for_status()
    return http


def course(app: Aimis, http: httpx.Client, topic: str) -> int:
    dept = app.query_one(
        "SELECT d.id FROM department d JOIN hospital h ON d.hospital = h.id"
        " WHERE h.code = 'CITY' ORDER BY d.id LIMIT 1"
    )
    now = datetime.now(UTC)
    csrf = {"x-csrftoken": http.cookies.get("csrftoken") or ""}
    res = http.post(
        "/api/teaching/courses",
        json={
            "topic": topic,
            "starts_at": (now - timedelta(minutes=6)).isoformat(),
            "ends_at": (now + timedelta(hours=1)).isoformat(),
            "place": "Room 3",
            "introduction": "benchmark",
            "meeting_url": "https://meet.example/bench",
            "department_ids": [dept],
        },
        headers=csrf,
    )
    assert res.status_code == 201, res.text
    cid = int(res.json()["id"])
    res = http.post(f"/api/teaching/courses/{cid}/steps/publish", json={}, headers=csrf)
    assert res.is_success, res.text
    return cid


async def seeks(app: Aimis, http: httpx.Client, rid: int, duration: float, reps: int) -> list[Any]:
    from playwright.async_api import async_playwright

    cookies: Any = [
        {"name": c.name, "value": c.value or "", "url": app.url} for c in http.cookies.jar
    ]
    out = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            for rep in range(reps):
                context = await browser.new_context()
                await context.add_cookies(cookies)
                page = await context.new_page()
                await page.goto(f"{app.url}/api/recordings/{rid}/video")
                await page.wait_for_function(
                    "() => { const v = document.querySelector('video');"
                    " return v && v.readyState >= 1; }"
                )
                target = duration / 2 + 7 * rep
                result = await page.evaluate(SEEK, target)
                assert abs(result["at"] - target) < 5, (result, target)
                out.append(result)
                await context.close()
        finally:
            await browser.close()
    return out


def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aimis-bench-rec-"))
    home = Path(tempfile.mkdtemp(prefix="aimis-bench-prefect-"))
    try:
        big, long = tmp / "big.mp4", tmp / "two-hours.mp4"
        g_big = generate(big, ["-t", str(args.big_seconds), *BIG])
        g_long = generate(long, ["-t", str(args.long_seconds), *LONG])
        print(
            f"generated {big.stat().st_size / 1e6:.0f} MB in {g_big:.0f} s, "
            f"two hours ({long.stat().st_size / 1e6:.0f} MB) in {g_long:.0f} s",
            flush=True,
        )
        with prefect_server(home) as penv:
            app = Aimis(tmp / "app")
            app.prepare()
            app.env.update(
                {k: penv[k] for k in ("PREFECT_HOME", "PREFECT_API_URL")}
                | {"AIMIS_PREFECT_API_URL": penv["PREFECT_API_URL"]}
            )
            grant_teaching(app)
            app.start(prepared=True)  # not `with app:`, which would start it again
            try:
                app._spawn("dispatcher", ["dispatcher"])
                http = lecturer(app)
                web = app.procs["web"].pid
                before = memory(web)
                with PeakRss(web) as peak:
                    up = upload(http, big, course(app, http, "1 GB"), args.chunk_mib << 20, True)
                after = memory(web)
                ready_at, rec = wait_ready(http, up["id"])
                mb = up["size"] / 1e6
                print(f"upload {mb:.0f} MB in {up['seconds']:.1f} s: {mb / up['seconds']:.0f} MB/s")
                print(
                    f"  aborted at {up['aborted_at'] / 1e6:.0f} MB, "
                    f"resumed at {up['resumed_at'] / 1e6:.0f} MB (HEAD)"
                )
                print(
                    f"  web RSS before {before['VmRSS'] / 1e6:.0f} MB, peak during "
                    f"{peak.peak / 1e6:.0f} MB (+{(peak.peak - before['VmRSS']) / 1e6:.0f} MB); "
                    f"VmHWM {before['VmHWM'] / 1e6:.0f} → {after['VmHWM'] / 1e6:.0f} MB"
                )
                print(
                    f"upload end → ready: {ready_at - up['ended']:.1f} s "
                    f"({rec['width']}×{rec['height']}, {rec['duration_seconds']:.0f} s)"
                )
                up2 = upload(http, long, course(app, http, "2 h"), args.chunk_mib << 20, False)
                ready2, rec2 = wait_ready(http, up2["id"])
                print(
                    f"two-hour video {up2['size'] / 1e6:.0f} MB: uploaded in "
                    f"{up2['seconds']:.1f} s, ready {ready2 - up2['ended']:.1f} s later",
                    flush=True,
                )
                res = asyncio.run(
                    seeks(app, http, up2["id"], float(rec2["duration_seconds"]), args.reps)
                )
                seeked = [r["seeked"] for r in res]
                frame = [r["frame"] for r in res]
                print(
                    f"seek to the middle ({args.reps} reps, cold cache each): 'seeked' p50 "
                    f"{percentile(seeked, 50):.0f} ms max {max(seeked):.0f} ms; first frame "
                    f"p50 {percentile(frame, 50):.0f} ms max {max(frame):.0f} ms"
                )
                print(
                    "  each (seeked/frame ms):",
                    ", ".join(f"{s:.0f}/{f:.0f}" for s, f in zip(seeked, frame, strict=True)),
                )
            finally:
                app.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--chunk-mib", type=int, default=32)
    parser.add_argument("--big-seconds", type=int, default=100, help="~10 MB a second")
    parser.add_argument("--long-seconds", type=int, default=7200)
    stop_on_sigterm()
    run(parser.parse_args())


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
