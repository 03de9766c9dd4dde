"""Reading recordings: one, an owner's list, and the files to play (only to those the
owner's module lets see them, ``api.recordings.access``; anyone else gets "not found")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from api.recordings import access, storage
from api.schemas import Base
from kernel.errors import NotFound
from store.tables import Recording
from store.uow import Actor

STATUSES = ("uploading", "processing", "ready", "failed")


class RecordingRead(Base):
    id: int
    owner_kind: str
    owner_id: int
    filename: str
    status: str  # uploading | processing | ready | failed
    failure_reason: str
    declared_size: int
    received: int
    duration_seconds: float | None
    width: int | None
    height: int | None
    video_codec: str
    audio_codec: str
    transcoded: bool
    created_at: str
    ready_at: str | None
    video_url: str | None  # only when ready
    poster_url: str | None
    upload_url: str
    version: int


def clean_name(name: str) -> str:
    """The name shown to people: no folders, no control characters, at most 255 long."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().strip(".") or "recording"
    return base[-255:]


def read(row: dict[str, Any]) -> RecordingRead:
    rid = int(row["id"])
    ready = row["status"] == "ready"
    return RecordingRead(
        id=rid,
        owner_kind=row["owner_kind"],
        owner_id=int(row["owner_id"]),
        filename=row["filename"],
        status=row["status"],
        failure_reason=row["failure_reason"],
        declared_size=int(row["declared_size"]),
        received=int(row["received"]),
        duration_seconds=row["duration_ms"] / 1000 if row["duration_ms"] is not None else None,
        width=row["width"],
        height=row["height"],
        video_codec=row["video_codec"],
        audio_codec=row["audio_codec"],
        transcoded=bool(row["transcoded"]),
        created_at=row["created_at"].isoformat(),
        ready_at=row["ready_at"].isoformat() if row["ready_at"] else None,
        video_url=f"/api/recordings/{rid}/video" if ready else None,
        poster_url=f"/api/recordings/{rid}/poster" if ready and row["poster_path"] else None,
        upload_url=f"/api/recordings/uploads/{rid}",
        version=int(row["version"]),
    )


def _missing(recording_id: int) -> NotFound:
    return NotFound("There is no recording {recording_id}.", recording_id=recording_id)


async def _viewable(actor: Actor, recording_id: int) -> dict[str, Any]:
    row = await Recording.select().where(Recording.id == recording_id).first()
    if row is None or not await access.may_view(actor, row["owner_kind"], row["owner_id"]):
        raise _missing(recording_id)
    return row


async def one(actor: Actor, recording_id: int) -> RecordingRead:
    return read(await _viewable(actor, recording_id))


async def of_owner(actor: Actor, owner_kind: str, owner_id: int) -> list[RecordingRead]:
    if not await access.may_view(actor, owner_kind, owner_id):
        raise NotFound(
            "There is no {owner_kind} {owner_id} whose recordings you may see.",
            owner_kind=owner_kind,
            owner_id=owner_id,
        )
    rows = (
        await Recording.select()
        .where(Recording.owner_kind == owner_kind, Recording.owner_id == owner_id)
        .order_by(Recording.id)
    )
    return [read(row) for row in rows]


@dataclass(frozen=True)
class Media:
    path: Path
    size: int
    content_type: str


async def media(actor: Actor, recording_id: int, which: str) -> Media:
    """The processed video (``which="video"``) or its poster, of a ready recording."""
    row = await _viewable(actor, recording_id)
    relative = row["stored_path"] if which == "video" else row["poster_path"]
    if row["status"] != "ready" or not relative:
        raise NotFound(
            "Recording {recording_id} is {status}; it cannot be played yet.",
            recording_id=recording_id,
            status=row["status"],
        )
    path = storage.resolve(relative)
    if not path.is_file():
        raise _missing(recording_id)
    return Media(path, path.stat().st_size, "video/mp4" if which == "video" else "image/jpeg")
