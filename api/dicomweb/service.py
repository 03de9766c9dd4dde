"""DICOMweb services behind the thin handlers: each checks, reads, describes the read for its
audit row and returns what the handler sends. Every successful search and retrieve writes
one audit row: the routes are declared (``api.phi``), the services ``note`` what was read."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec

from api.dicomweb import metadata as meta
from api.dicomweb import qido, rendered, wado
from api.dicomweb.access import Reader
from api.dicomweb.attributes import Level
from api.dicomweb.errors import NotAcceptable
from api.dicomweb.lookup import Stored, stored_instance, stored_instances
from api.dicomweb.media import (
    DICOM,
    check_dicom_accept,
    choose_image,
    multipart_stream,
    multipart_type,
    new_boundary,
    single_part,
    wants_json,
)
from api.dicomweb.params import parse_qido
from imaging.render import THUMBNAIL_SIZE
from kernel.errors import BadRequest
from store.reads import note
from store.uow import Ctx

DICOM_JSON = "application/dicom+json"


@dataclass
class Body:
    """What a handler sends: bytes or a stream, with its media type and headers."""

    media_type: str
    content: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def warning_header(warnings: list[str]) -> dict[str, str]:
    if not warnings:
        return {}
    texts = [w.replace('"', "'") for w in warnings]
    return {"Warning": ", ".join(f'299 aimis "{t}"' for t in texts)}


def _plain(value: Any) -> Any:
    """pydicom's str/int/float subclasses (UID, IS, DSfloat) as the plain types."""
    for kind in (str, int, float):
        if isinstance(value, kind):
            return kind(value)
    raise NotImplementedError(f"cannot encode {type(value).__name__}")


_encoder = msgspec.json.Encoder(enc_hook=_plain)


def _json(data: Any, warnings: list[str] | None = None) -> Body:
    return Body(DICOM_JSON, _encoder.encode(data), headers=warning_header(warnings or []))


async def search(
    ctx: Ctx,
    reader: Reader,
    level: Level,
    params: list[tuple[str, str]],
    accept: str,
    base_url: str,
    scope: qido.Scope,
) -> Body:
    if not wants_json(accept):
        raise NotAcceptable("QIDO-RS answers application/dicom+json; ask for it.")
    query = parse_qido(params, level)
    result = await qido.search(reader, query, scope, base_url)
    warnings = list(query.warnings)
    if result.more:
        warnings.append(
            "There are more results than returned; ask for them with offset "
            f"{query.offset + len(result.items)}"
        )
    detail = "&".join(f"{k}={v}" for k, v in params)[:1500]
    note(
        target_type=level.value,
        target_id=scope.series_uid or scope.study_uid or "",
        detail=f"{len(result.items)} result(s) for {detail or 'everything'}",
    )
    return _json(result.items, warnings)


def _what(stored: list[Stored]) -> tuple[str, str]:
    first = stored[0]
    return first.study_uid, f"{len(stored)} instance(s), first {first.sop_uid}"


async def _audit_retrieve(ctx: Ctx, what: str, stored: list[Stored], extra: str = "") -> None:
    """What the audit row of this retrieve says (the route's declaration writes it, one
    row per call: ``api.phi``): the study, how many instances, the study's hospital."""
    study_uid, detail = _what(stored)
    note(
        target_type="study",
        target_id=study_uid,
        detail=f"{detail}{'; ' + extra if extra else ''}",
        hospital_id=stored[0].hospital_id,
    )


async def retrieve(ctx: Ctx, reader: Reader, accept: str, base_url: str, *uids: str | None) -> Body:
    """Whole instances (study, series or one instance) as multipart/related, streamed."""
    stored = await stored_instances(reader, *uids)  # type: ignore[arg-type]
    check_dicom_accept(accept, {s.transfer_syntax for s in stored})
    await _audit_retrieve(ctx, "retrieve", stored)
    boundary = new_boundary()
    return Body(
        multipart_type(DICOM, boundary),
        stream=multipart_stream(boundary, wado.instance_parts(stored, base_url)),
    )


async def metadata(ctx: Ctx, reader: Reader, accept: str, base_url: str, *uids: str | None) -> Body:
    if not wants_json(accept):
        raise NotAcceptable("Metadata is application/dicom+json; ask for it.")
    stored = await stored_instances(reader, *uids)  # type: ignore[arg-type]
    data = await anyio.to_thread.run_sync(meta.metadata, stored, base_url)
    await _audit_retrieve(ctx, "metadata", stored)
    return _json(data)


async def _one(reader: Reader, study: str, series: str, instance: str) -> Stored:
    return await stored_instance(reader, study, series, instance)


async def frames(
    ctx: Ctx, reader: Reader, accept: str, study: str, series: str, instance: str, frame_list: str
) -> Body:
    indexes = wado.parse_frame_list(frame_list)
    stored = await _one(reader, study, series, instance)
    return await _frames_body(ctx, "frames", stored, indexes, accept, f"frames {frame_list[:200]}")


async def _frames_body(
    ctx: Ctx, what: str, stored: Stored, indexes: list[int], accept: str, detail: str
) -> Body:
    """Frames as multipart/related, or as one bare body when the client asks for that."""
    choice = wado.frame_choice(stored, accept)
    single = single_part(accept)
    if single and len(indexes) != 1:
        raise NotAcceptable(
            f"{len(indexes)} frames need multipart/related; a single-part answer holds one."
        )
    boundary = new_boundary()
    if single:
        data = await anyio.to_thread.run_sync(wado.one_frame, stored, indexes[0], choice)
        await _audit_retrieve(ctx, what, [stored], detail)
        return Body(choice.part_type, data)
    body = await anyio.to_thread.run_sync(wado.frames_body, stored, indexes, choice, boundary)
    await _audit_retrieve(ctx, what, [stored], detail)
    return Body(multipart_type(choice.part_type, boundary), body)


async def bulkdata(
    ctx: Ctx, reader: Reader, accept: str, study: str, series: str, instance: str, tag: str
) -> Body:
    stored = await _one(reader, study, series, instance)
    if wado.is_pixel_tag(tag):
        indexes = list(range(stored.frames))
        detail = f"pixel data, {len(indexes)} frame(s)"
        return await _frames_body(ctx, "bulkdata", stored, indexes, accept, detail)
    value = await anyio.to_thread.run_sync(wado.bulk_value, stored, tag)
    await _audit_retrieve(ctx, "bulkdata", [stored], f"element {tag.upper()}")
    part = "application/octet-stream"
    if single_part(accept):
        return Body(part, value)
    boundary = new_boundary()
    return Body(multipart_type(part, boundary), wado.multipart(boundary, [(part, value)]))


def _single_frame(frame_list: str | None) -> int:
    if frame_list is None:
        return 0
    indexes = wado.parse_frame_list(frame_list)
    if len(indexes) != 1:
        raise BadRequest("A rendered frame is one frame: ask for /frames/{n}/rendered.")
    return indexes[0]


async def render(
    ctx: Ctx,
    reader: Reader,
    accept: str,
    params: rendered.RenderParams,
    study: str,
    series: str,
    instance: str,
    frame_list: str | None = None,
) -> Body:
    media_type = choose_image(accept)
    index = _single_frame(frame_list)
    stored = await _one(reader, study, series, instance)
    data = await _rendered(stored, index, media_type, params)
    await _audit_retrieve(ctx, "rendered", [stored], f"frame {index + 1}")
    return Body(media_type, data)


async def thumbnail(
    ctx: Ctx,
    reader: Reader,
    accept: str,
    params: rendered.RenderParams,
    study: str,
    series: str | None = None,
    instance: str | None = None,
    frame_list: str | None = None,
) -> Body:
    media_type = choose_image(accept)
    index = _single_frame(frame_list)
    if series is not None and instance is not None:
        chosen = await _one(reader, study, series, instance)
    else:  # the series' or the study's middle instance
        stored = await stored_instances(reader, study, series, instance)
        chosen = stored[len(stored) // 2]
    data = await thumbnail_bytes(chosen, None if frame_list is None else index, media_type, params)
    await _audit_retrieve(ctx, "thumbnail", [chosen])
    return Body(media_type, data)


async def thumbnail_bytes(
    chosen: Stored, index: int | None, media_type: str, params: rendered.RenderParams
) -> bytes:
    """The instance's thumbnail (``index`` None), or frame ``index`` at thumbnail size."""
    if index is None:
        held = rendered.cached_thumbnail(chosen, media_type, params)
        if held is not None:
            return held
        return await anyio.to_thread.run_sync(rendered.thumbnail_of, chosen, media_type, params)
    small = rendered.RenderParams(
        params.window, params.viewport or (THUMBNAIL_SIZE, THUMBNAIL_SIZE), params.quality
    )
    return await _rendered(chosen, index, media_type, small)


async def _rendered(
    stored: Stored, index: int, media_type: str, params: rendered.RenderParams
) -> bytes:
    """The picture from memory on the event loop when it is held (no worker thread for a
    warm picture), else drawn in a worker thread."""
    held = rendered.cached_rendered(stored, index, media_type, params)
    if held is not None:
        return held
    return await anyio.to_thread.run_sync(rendered.rendered, stored, index, media_type, params)
