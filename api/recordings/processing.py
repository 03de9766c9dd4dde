"""The steps that turn an uploaded file into a playable recording (the flow
``process-recording`` in ``flows/recordings.py`` runs them, one task each, with retries).

1. ``probe``: ``ffprobe``; a file that is no video (no video stream) or is truncated (an
   MP4 whose last box runs past the end or that has no index) fails for good with the reason.
2. ``make_playable``: browser-playable codecs (H.264 in 8-bit 4:2:0, with AAC or MP3 audio or
   none) are copied into an MP4 with its index first (``-c copy -movflags +faststart``);
   anything else is transcoded to H.264/AAC. Written as a ``.tmp-*`` file, renamed into place.
3. ``make_poster``: one frame at a tenth of the duration as a JPEG, at most 640 wide.
4. ``finish``: the row becomes ``ready`` and the received file is removed.

Each step is idempotent: a retry starts it again from the received file.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from api.recordings import storage
from api.recordings.containers import container_of, truncated
from store.files import move_atomic
from store.tables import Recording
from store.uow import now

PLAYABLE_VIDEO = {"h264"}
PLAYABLE_PIXELS = {"yuv420p", "yuvj420p"}
PLAYABLE_AUDIO = {"aac", "mp3"}
TIMEOUT = 6 * 3600  # a transcode of hours of video


class NotPlayable(Exception):
    """The file can never become a recording; the sentence says why (kept as the reason)."""


@dataclass(frozen=True)
class Probe:
    duration: float
    width: int
    height: int
    video_codec: str
    pixel_format: str
    audio_codec: str

    @property
    def playable(self) -> bool:
        return (
            self.video_codec in PLAYABLE_VIDEO
            and self.pixel_format in PLAYABLE_PIXELS
            and self.audio_codec in PLAYABLE_AUDIO | {""}
        )


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def probe_file(path: Path) -> Probe:
    with open(path, "rb") as f:
        head = f.read(512)
    kind = container_of(head)
    if kind is None:
        raise NotPlayable("The file is not a video (its first bytes are no video container).")
    if kind == "mp4" and truncated(path):
        raise NotPlayable(
            "The file is truncated or damaged: its MP4 structure ends before the file says "
            "it does (or its index is missing). Upload the whole file again."
        )
    done = _run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         str(path)]
    )  # fmt: skip
    if done.returncode != 0:
        raise NotPlayable(f"The file cannot be read as a video: {_last_line(done.stderr)}")
    info: dict[str, Any] = json.loads(done.stdout or "{}")
    streams = info.get("streams", [])
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)  # fmt: skip
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    if video is None:
        raise NotPlayable("The file holds no video stream.")
    duration = float(info.get("format", {}).get("duration") or video.get("duration") or 0)
    if duration <= 0:
        raise NotPlayable("The file's video has no duration; it may be truncated.")
    return Probe(
        duration=duration,
        width=int(video.get("width") or 0),
        height=int(video.get("height") or 0),
        video_codec=str(video.get("codec_name", "")),
        pixel_format=str(video.get("pix_fmt", "")),
        audio_codec=str(audio.get("codec_name", "")) if audio else "",
    )


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return (lines[-1] if lines else "ffprobe gave no reason")[:300]


def _temp_beside(dest: Path, suffix: str) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=dest.parent)
    os.close(fd)
    return Path(name)


def remux_or_transcode(src: Path, dest: Path, probe: Probe) -> bool:
    """Write ``dest`` (MP4, index first); return whether it was transcoded."""
    tmp = _temp_beside(dest, ".mp4")
    if probe.playable:
        codecs = ["-c", "copy"]
    else:
        codecs = ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
        codecs += ["-c:a", "aac", "-b:a", "128k"] if probe.audio_codec else ["-an"]
    try:
        done = _run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-map", "0:v:0",
             "-map", "0:a:0?", "-sn", "-dn", *codecs, "-movflags", "+faststart",
             "-f", "mp4", str(tmp)]
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"ffmpeg could not write the MP4: {_last_line(done.stderr)}")
        move_atomic(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return not probe.playable


def poster(src: Path, dest: Path, duration: float) -> None:
    tmp = _temp_beside(dest, ".jpg")
    try:
        done = _run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", f"{duration / 10:.3f}",
             "-i", str(src), "-frames:v", "1", "-vf", "scale='min(640,iw)':-2",
             "-q:v", "4", "-f", "image2", str(tmp)]
        )  # fmt: skip
        if done.returncode != 0 or tmp.stat().st_size == 0:
            raise RuntimeError(f"ffmpeg could not make the poster: {_last_line(done.stderr)}")
        move_atomic(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


async def row_of(recording_id: int) -> dict[str, Any]:
    row = await Recording.select().where(Recording.id == recording_id).first()
    if row is None:
        raise LookupError(f"recording {recording_id} does not exist")
    return dict(row)


async def probe(recording_id: int) -> Probe:
    """Step 1; ``NotPlayable`` when it can never become a recording."""
    row = await row_of(recording_id)
    found = await anyio.to_thread.run_sync(probe_file, storage.incoming(recording_id))
    await Recording.update(
        {
            Recording.duration_ms: round(found.duration * 1000),
            Recording.width: found.width,
            Recording.height: found.height,
            Recording.video_codec: found.video_codec,
            Recording.audio_codec: found.audio_codec,
            Recording.version: Recording.version + 1,
        }
    ).where(Recording.id == row["id"])
    return found


async def make_playable(recording_id: int, found: Probe) -> None:
    row = await row_of(recording_id)
    name = storage.video_name(row["hospital"], recording_id)
    dest = storage.root() / name
    transcoded = await anyio.to_thread.run_sync(
        remux_or_transcode, storage.incoming(recording_id), dest, found
    )
    await Recording.update(
        {
            Recording.stored_path: name,
            Recording.stored_size: dest.stat().st_size,
            Recording.transcoded: transcoded,
            Recording.version: Recording.version + 1,
        }
    ).where(Recording.id == recording_id)


async def make_poster(recording_id: int, found: Probe) -> None:
    row = await row_of(recording_id)
    name = storage.poster_name(row["hospital"], recording_id)
    await anyio.to_thread.run_sync(
        poster, storage.resolve(row["stored_path"]), storage.root() / name, found.duration
    )
    await Recording.update(
        {Recording.poster_path: name, Recording.version: Recording.version + 1}
    ).where(Recording.id == recording_id)


async def finish(recording_id: int) -> None:
    await Recording.update(
        {
            Recording.status: "ready",
            Recording.failure_reason: "",
            Recording.ready_at: now(),
            Recording.version: Recording.version + 1,
        }
    ).where(Recording.id == recording_id, Recording.status == "processing")
    storage.incoming(recording_id).unlink(missing_ok=True)


async def fail(recording_id: int, reason: str) -> None:
    await Recording.update(
        {
            Recording.status: "failed",
            Recording.failure_reason: reason[:1000],
            Recording.version: Recording.version + 1,
        }
    ).where(Recording.id == recording_id, Recording.status == "processing")


async def process_inline(recording_id: int) -> str:
    """All steps without Prefect (the demo, the benchmark's reference): the final status."""
    try:
        found = await probe(recording_id)
        await make_playable(recording_id, found)
        await make_poster(recording_id, found)
        await finish(recording_id)
        return "ready"
    except NotPlayable as exc:
        await fail(recording_id, str(exc))
        return "failed"
