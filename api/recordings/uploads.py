"""The tus 1.0.0 server of recordings (creation, HEAD, PATCH, termination).

The bytes of each PATCH are appended to ``storage.incoming(id)`` as they arrive
(``request.stream()``, never the whole body in memory) and fsynced; the row's ``received``
is the offset the server vouches for, moved forward by a compare-and-set on the old offset,
so two chunks sent at once cannot both land. A connection that breaks mid-chunk keeps what
arrived (the offset moves to it): the client asks HEAD and resumes there, as tus says. While
a chunk is being written the part file is locked (``fcntl.flock``); a second PATCH meanwhile
is a 409. The last byte turns the row to ``processing`` and writes the outbox row
``recording.process`` in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from api.recordings import access, storage
from api.recordings.containers import SNIFF_BYTES, container_of
from api.recordings.service import clean_name
from kernel.errors import AppError, BadRequest, Conflict, NotFound, TooLarge
from kernel.i18n import N_
from kernel.settings import get_settings
from store.tables import Recording
from store.uow import Actor, Ctx, now, unit_of_work

TUS_VERSION = "1.0.0"
TUS_HEADERS = {"Tus-Resumable": TUS_VERSION}
OFFSET_TYPE = "application/offset+octet-stream"
BUFFER = 1024 * 1024  # written to disk every MiB of a chunk


class PreconditionFailed(AppError):
    status_code = 412


class UnsupportedType(AppError):
    status_code = 415


def _headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**TUS_HEADERS, **(extra or {})}


def check_version(value: str | None) -> None:
    if value != TUS_VERSION:
        raise PreconditionFailed(
            N_("This server speaks tus {version}; send the header Tus-Resumable: {version}."),
            version=TUS_VERSION,
            headers=_headers({"Tus-Version": TUS_VERSION}),
        )


def parse_metadata(header: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs."""
    found: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in (header or "").split(","))):
        key, _, value = pair.partition(" ")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest(
                "The upload's metadata {key!r} is not base64-encoded UTF-8.",
                key=key,
                headers=_headers(),
            ) from None
    return found


def _int_header(value: str | None, name: str) -> int:
    if value is None or not value.isdigit() or len(value) > 19:
        raise BadRequest(
            "The header {name} must be a whole number of bytes.", name=name, headers=_headers()
        )
    return int(value)


def _not_found(recording_id: int | str) -> NotFound:
    return NotFound(
        "There is no upload {upload_id} you may send to.",
        upload_id=recording_id,
        headers=_headers(),
    )


async def create(ctx: Ctx, actor: Actor, headers: dict[str, str]) -> int:
    check_version(headers.get("tus-resumable"))
    if "upload-defer-length" in headers:
        raise BadRequest(
            "Say the upload's length (Upload-Length); deferred lengths are not accepted.",
            headers=_headers(),
        )
    length = _int_header(headers.get("upload-length"), "Upload-Length")
    limit = get_settings().recording.max_bytes
    if length > limit:
        raise TooLarge(
            "The recording is {size} MB; at most {limit} MB may be uploaded.",
            size=length // 1024**2,
            limit=limit // 1024**2,
            headers=_headers({"Tus-Max-Size": str(limit)}),
        )
    if length == 0:
        raise BadRequest("The recording is empty; choose a video file.", headers=_headers())
    meta = parse_metadata(headers.get("upload-metadata", ""))
    owner_kind = meta.get("owner_kind", "")
    owner_id_text = meta.get("owner_id", "")
    if not owner_kind or not owner_id_text.isdigit() or len(owner_id_text) > 9:
        raise BadRequest(
            "Say what the recording belongs to: metadata owner_kind and owner_id.",
            headers=_headers(),
        )
    owner_id = int(owner_id_text)
    if actor.hospital_id is None or not await access.may_upload(actor, owner_kind, owner_id):
        raise NotFound(
            "There is no {owner_kind} {owner_id} you may add a recording to.",
            owner_kind=owner_kind,
            owner_id=owner_id,
            headers=_headers(),
        )
    name = clean_name(meta.get("filename") or meta.get("name") or "")
    async with unit_of_work(ctx) as uow:
        inserted = await Recording.insert(
            Recording(
                hospital=actor.hospital_id,
                owner_kind=owner_kind,
                owner_id=owner_id,
                uploader=actor.user_id,
                filename=name,
                declared_size=length,
                received=0,
                status="uploading",
                created_at=now(),
            )
        ).returning(Recording.id)
        recording_id = int(inserted[0]["id"])
        await uow.audit(
            "recording.upload_start",
            "recording",
            recording_id,
            detail=f"{owner_kind} {owner_id}: {name}, {length} bytes",
        )
    path = storage.incoming(recording_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()
    return recording_id


async def _uploadable(actor: Actor, recording_id: int) -> dict[str, Any]:
    row = await Recording.select().where(Recording.id == recording_id).first()
    if row is None or not await access.may_upload(actor, row["owner_kind"], row["owner_id"]):
        raise _not_found(recording_id)
    return row


async def offset(actor: Actor, recording_id: int, tus_resumable: str | None) -> dict[str, Any]:
    check_version(tus_resumable)
    return await _uploadable(actor, recording_id)


@dataclass
class _Written:
    size: int = 0
    refused: AppError | None = None


def _lock(path: Path) -> int:
    fd = os.open(path, os.O_WRONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise Conflict(
            "Another chunk of this upload is being received; ask for its offset (HEAD) "
            "and go on from there.",
            headers=_headers(),
        ) from None
    return fd


async def append(
    ctx: Ctx,
    actor: Actor,
    recording_id: int,
    headers: dict[str, str],
    body: AsyncIterator[bytes],
) -> int:
    """Append one PATCH's body; return the new offset."""
    check_version(headers.get("tus-resumable"))
    if headers.get("content-type", "").split(";")[0].strip() != OFFSET_TYPE:
        raise UnsupportedType("A chunk is sent as {type}.", type=OFFSET_TYPE, headers=_headers())
    start = _int_header(headers.get("upload-offset"), "Upload-Offset")
    row = await _uploadable(actor, recording_id)
    if row["status"] != "uploading":
        raise Conflict(
            "This upload is {status}; it takes no more bytes.",
            status=row["status"],
            headers=_headers({"Upload-Offset": str(row["received"])}),
        )
    if start != row["received"]:
        raise Conflict(
            "The chunk starts at byte {offset} but the server has {received}; resume from there.",
            offset=start,
            received=row["received"],
            headers=_headers({"Upload-Offset": str(row["received"])}),
        )
    declared = int(row["declared_size"])
    room = declared - start
    limit = get_settings().recording.chunk_bytes
    if (length := headers.get("content-length")) is not None:
        size = _int_header(length, "Content-Length")
        if size > room:
            raise TooLarge(
                "The chunk goes {over} bytes beyond the upload's declared length.",
                over=size - room,
                headers=_headers({"Upload-Offset": str(start)}),
            )
        if size > limit:
            raise TooLarge(
                "A chunk may be at most {limit} MB.",
                limit=limit // 1024**2,
                headers=_headers({"Upload-Offset": str(start)}),
            )
    path = storage.incoming(recording_id)
    if not path.is_file():
        raise _not_found(recording_id)
    fd = await anyio.to_thread.run_sync(_lock, path)
    written = _Written()
    try:
        await _receive(written, fd, start, room, limit, body)
        if written.refused is not None:
            raise written.refused
    except BaseException:
        # what arrived before a broken connection is kept; a refused chunk is not
        if written.refused is not None or written.size == 0:
            await anyio.to_thread.run_sync(os.ftruncate, fd, start)
        raise
    finally:
        with contextlib.suppress(BaseException):
            await _advance(ctx, row, start, written, declared)
        os.close(fd)
    return start + written.size


async def _receive(
    written: _Written, fd: int, start: int, room: int, limit: int, body: AsyncIterator[bytes]
) -> None:
    """Append the body at ``start`` (what lies beyond it is dropped first); ``written``
    counts what is on disk, also when the connection breaks midway."""
    pending = bytearray()
    sniffed = start > 0

    def flush() -> None:
        os.pwrite(fd, pending, start + written.size)
        written.size += len(pending)
        pending.clear()

    await anyio.to_thread.run_sync(os.ftruncate, fd, start)
    try:
        async for part in body:
            if written.size + len(pending) + len(part) > min(room, limit):
                written.refused = TooLarge(
                    "The chunk goes beyond the upload's declared length or the chunk limit "
                    "of {limit} MB.",
                    limit=limit // 1024**2,
                    headers=_headers({"Upload-Offset": str(start)}),
                )
                written.size = 0
                pending.clear()
                return
            pending += part
            if not sniffed and len(pending) >= min(SNIFF_BYTES, room):
                sniffed = True
                if container_of(bytes(pending[:SNIFF_BYTES])) is None:
                    written.refused = _not_a_video()
                    pending.clear()
                    return
            if len(pending) >= BUFFER:
                await anyio.to_thread.run_sync(flush)
        if not sniffed and pending and container_of(bytes(pending)) is None:
            written.refused = _not_a_video()
            pending.clear()
            return
    finally:
        if pending:
            await anyio.to_thread.run_sync(flush)
        await anyio.to_thread.run_sync(os.fsync, fd)


def _not_a_video() -> UnsupportedType:
    return UnsupportedType(
        "The file is not a video: its first bytes are none of MP4/MOV, Matroska/WebM, AVI, "
        "MPEG, FLV, Ogg or WMV.",
        headers=_headers({"Upload-Offset": "0"}),
    )


async def _advance(
    ctx: Ctx, row: dict[str, Any], start: int, written: _Written, declared: int
) -> None:
    """Move the offset (compare-and-set on the old one); a refused first chunk fails the
    upload with its reason; the last byte hands the file to processing."""
    recording_id = int(row["id"])
    async with unit_of_work(ctx) as uow:
        if written.refused is not None and isinstance(written.refused, UnsupportedType):
            await Recording.update(
                {
                    Recording.status: "failed",
                    Recording.failure_reason: written.refused.message,
                    Recording.version: Recording.version + 1,
                }
            ).where(Recording.id == recording_id, Recording.status == "uploading")
            await uow.audit(
                "recording.upload_refused",
                "recording",
                recording_id,
                outcome="failure",
                detail=written.refused.message,
            )
            return
        if written.size == 0:
            return
        end = start + written.size
        done = end == declared
        changes: dict[Any, Any] = {
            Recording.received: end,
            Recording.version: Recording.version + 1,
        }
        if done:
            changes[Recording.status] = "processing"
            changes[Recording.uploaded_at] = now()
        moved = (
            await Recording.update(changes)
            .where(
                Recording.id == recording_id,
                Recording.received == start,
                Recording.status == "uploading",
            )
            .returning(Recording.id)
        )
        if moved and done:
            await uow.outbox(
                "recording.process",
                {"recording_id": recording_id},
                key=f"recording-{recording_id}",
            )
            await uow.audit(
                "recording.uploaded",
                "recording",
                recording_id,
                detail=f"{row['filename']}: {declared} bytes",
            )


async def terminate(ctx: Ctx, actor: Actor, recording_id: int, tus_resumable: str | None) -> None:
    check_version(tus_resumable)
    row = await _uploadable(actor, recording_id)
    if row["status"] not in ("uploading", "failed"):
        raise Conflict(
            "This upload is {status}; only an unfinished or failed upload can be removed.",
            status=row["status"],
            headers=_headers(),
        )
    async with unit_of_work(ctx) as uow:
        await Recording.delete().where(
            Recording.id == recording_id, Recording.status.is_in(["uploading", "failed"])
        )
        await uow.audit("recording.upload_removed", "recording", recording_id)
    storage.incoming(recording_id).unlink(missing_ok=True)
