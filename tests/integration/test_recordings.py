"""Recordings (issue 16 point 3) through the real app: the tus upload (creation, HEAD,
PATCH, resume at the server's offset, refusals), the processing steps on a real clip made
with ffmpeg's test sources (probe, faststart MP4, poster), HTTP Range playback, and who may
see it (the owner's answer: a consultation's participants)."""

from __future__ import annotations

import base64
import subprocess
from typing import Any

import pytest

from api.recordings import processing, storage
from api.recordings.containers import faststart, top_boxes
from store.tables import AuditLog, Recording
from tests.fixtures.consultations import make_user, simple_case
from tests.fixtures.hospitals import PASSWORD
from tests.fixtures.waiting import until

pytestmark = pytest.mark.integration

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """Three seconds of testsrc + sine as H.264/AAC MP4, index at the end (no faststart)."""
    out = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", "3", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(out)],
        check=True,
    )  # fmt: skip
    assert not faststart(out)
    return out.read_bytes()


def meta(**fields: str) -> str:
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in fields.items())


async def start(api: Any, cid: int, length: int, name: str = "round.mp4") -> Any:
    return await api.post(
        "/api/recordings/uploads",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": meta(owner_kind="consultation", owner_id=str(cid), filename=name),
        },
    )


async def send(api: Any, url: str, offset: int, data: bytes) -> Any:
    return await api.patch(
        url,
        content=data,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
    )


async def row(rid: int) -> dict[str, Any]:
    return dict(await Recording.select().where(Recording.id == rid).first())


async def test_upload_resume_process_and_play(new_api: Any, uniq: Any, clip: bytes) -> None:
    li, cid = await simple_case(new_api, uniq)
    res = await start(li, cid, len(clip))
    assert res.status_code == 201, res.text
    url = res.headers["location"]
    rid = int(url.rsplit("/", 1)[1])

    third = len(clip) // 3
    res = await send(li, url, 0, clip[:third])
    assert res.status_code == 204, res.text
    assert res.headers["upload-offset"] == str(third)
    # a chunk sent at the wrong offset: 409 with the server's offset, nothing appended
    res = await send(li, url, third + 10, clip[third:])
    assert res.status_code == 409 and res.headers["upload-offset"] == str(third), res.text
    # the client asks where to go on (a resume) and sends the rest from there
    res = await li.request("HEAD", url, headers=TUS)
    assert res.status_code == 200 and res.headers["upload-offset"] == str(third)
    assert res.headers["upload-length"] == str(len(clip))
    assert "no-store" in res.headers["cache-control"]
    res = await send(li, url, third, clip[third : 2 * third])
    assert res.status_code == 204
    # a chunk going beyond the declared length is refused whole
    res = await send(li, url, 2 * third, clip[2 * third :] + b"extra")
    assert res.status_code == 413, res.text
    assert (await row(rid))["received"] == 2 * third
    res = await send(li, url, 2 * third, clip[2 * third :])
    assert res.status_code == 204 and res.headers["upload-offset"] == str(len(clip))
    assert storage.incoming(rid).read_bytes() == clip

    got = await row(rid)
    assert got["status"] == "processing"
    assert await processing.process_inline(rid) == "ready"
    got = await row(rid)
    assert got["status"] == "ready" and got["video_codec"] == "h264"
    assert got["audio_codec"] == "aac" and not got["transcoded"]
    assert got["duration_ms"] == pytest.approx(3000, abs=200)
    assert (got["width"], got["height"]) == (320, 240)
    video = storage.resolve(got["stored_path"])
    assert faststart(video), top_boxes(video)  # moov before mdat now
    assert not storage.incoming(rid).exists()

    detail = (await li.get(f"/api/recordings/{rid}")).json()
    assert detail["status"] == "ready" and detail["video_url"] == f"/api/recordings/{rid}/video"
    poster = await li.get(detail["poster_url"])
    assert poster.status_code == 200 and poster.content.startswith(b"\xff\xd8\xff")

    data = video.read_bytes()
    size = len(data)
    whole = await li.get(f"/api/recordings/{rid}/video")
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert (
        "no-store" in whole.headers["cache-control"] and "private" in whole.headers["cache-control"]
    )
    cases = {
        "bytes=0-99": (0, 99),
        f"bytes={size // 2}-{size // 2 + 999}": (size // 2, size // 2 + 999),
        "bytes=-500": (size - 500, size - 1),
        f"bytes={size - 10}-": (size - 10, size - 1),
    }
    for header, (first, last) in cases.items():
        part = await li.get(f"/api/recordings/{rid}/video", headers={"Range": header})
        assert part.status_code == 206, header
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.content == data[first : last + 1]
    for bad in (f"bytes={size}-", "bytes=9-3", "bytes=-0", "items=0-1"):
        part = await li.get(f"/api/recordings/{rid}/video", headers={"Range": bad})
        assert part.status_code == 416, bad
        assert part.headers["content-range"] == f"bytes */{size}"

    # someone taking no part in the consultation: not found, audited, nothing shown
    name, _ = await make_user(uniq, "CITY", "Radiology", "Radiologist")
    outsider = new_api()
    await outsider.login(name, PASSWORD)
    for path in (f"/api/recordings/{rid}", f"/api/recordings/{rid}/video"):
        res = await outsider.get(path)
        assert res.status_code == 404, res.text
    res = await outsider.request("HEAD", url, headers=TUS)
    assert res.status_code == 404
    res = await start(outsider, cid, 100)
    assert res.status_code == 404, res.text
    denied = (
        await AuditLog.select()
        .where(AuditLog.username == name, AuditLog.outcome == "denied")
        .order_by(AuditLog.id)
    )
    assert len(denied) >= 3, denied


async def test_refusals(new_api: Any, uniq: Any, clip: bytes) -> None:
    li, cid = await simple_case(new_api, uniq)
    # over the size limit (4 GiB by default): refused before a byte is sent
    res = await start(li, cid, 5 * 1024**3)
    assert res.status_code == 413 and "MB" in res.json()["detail"], res.text
    # no tus version: 412
    res = await li.post("/api/recordings/uploads", headers={"Upload-Length": "10"})
    assert res.status_code == 412
    # not a video: 415, and the upload failed with the reason
    text = b"%PDF-1.4 this is no video " * 40
    res = await start(li, cid, len(text), "lecture.mp4")
    rid = int(res.headers["location"].rsplit("/", 1)[1])
    res = await send(li, res.headers["location"], 0, text)
    assert res.status_code == 415, res.text
    got = await row(rid)
    assert got["status"] == "failed" and "not a video" in got["failure_reason"]
    assert got["received"] == 0
    # a truncated file (the whole declared length sent, but the MP4 stops mid-way)
    cut = clip[: len(clip) // 2]
    res = await start(li, cid, len(cut), "cut.mp4")
    url = res.headers["location"]
    rid = int(url.rsplit("/", 1)[1])
    assert (await send(li, url, 0, cut)).status_code == 204
    assert await processing.process_inline(rid) == "failed"
    got = await row(rid)
    assert got["status"] == "failed" and "truncated" in got["failure_reason"]
    res = await li.get(f"/api/recordings/{rid}/video")
    assert res.status_code == 404
    # an owner kind nobody registered
    res = await li.post(
        "/api/recordings/uploads",
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": meta(owner_kind="x", owner_id="1"),
        },
    )
    assert res.status_code == 404


async def test_the_flow_makes_it_ready(
    new_api: Any, uniq: Any, clip: bytes, dispatcher: Any, flow_runs: Any
) -> None:
    """The upload's last byte writes the outbox row; the real dispatcher runs the real flow
    ``recording-<id>`` in Prefect, which leaves the recording ready with a poster."""
    li, cid = await simple_case(new_api, uniq)
    res = await start(li, cid, len(clip))
    url = res.headers["location"]
    rid = int(url.rsplit("/", 1)[1])
    assert (await send(li, url, 0, clip)).status_code == 204
    got = await until(
        lambda: row(rid),
        lambda r: r["status"] in ("ready", "failed"),
        120,
        lambda r: f"recording {rid} is {r['status']}\n{dispatcher.output()[-4000:]}",
    )
    assert got["status"] == "ready", got["failure_reason"]
    assert got["poster_path"] and faststart(storage.resolve(got["stored_path"]))
    runs = flow_runs(f"recording-{rid}")
    assert runs and runs[-1]["state_type"] == "COMPLETED", runs
