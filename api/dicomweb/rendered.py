"""WADO-RS ``/rendered`` and ``/thumbnail`` (PS3.18 8.3.5, 10.4.1.1.3): one frame as JPEG or
PNG, with ``window=center,width[,function]``, ``viewport=width,height`` and ``quality``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from api.dicomweb.cache import PICTURES
from api.dicomweb.errors import Undecodable
from api.dicomweb.lookup import Stored
from api.dicomweb.wado import frame_error
from imaging.frames import FrameError
from imaging.read import IngestRefused
from imaging.render import THUMBNAIL_SIZE, Window, parse_viewport, render, thumbnail
from kernel.errors import BadRequest


@dataclass(frozen=True)
class RenderParams:
    window: Window | None = None
    viewport: tuple[int, int] | None = None
    quality: int = 90


SUPPORTED = {"window", "viewport", "quality"}


def ignored_parameters(names: Iterable[str]) -> list[str]:
    """The warning for parameters /rendered does not implement (``annotation``…)."""
    ignored = sorted(
        name if name.isascii() and name.isprintable() else "(unreadable name)"
        for name in set(names) - SUPPORTED
    )
    if not ignored:
        return []
    return [f"These parameters are not supported and were ignored: {', '.join(ignored)[:300]}"]


def parse_render_params(window: str, viewport: str, quality: str) -> RenderParams:
    try:
        parsed_window = Window.parse(window) if window else None
    except ValueError as exc:
        raise BadRequest(f"The parameter 'window' is malformed: {exc}.") from None
    try:
        parsed_viewport = parse_viewport(viewport) if viewport else None
    except ValueError as exc:
        raise BadRequest(f"The parameter 'viewport' is malformed: {exc}.") from None
    level = 90
    if quality:
        if (
            not (quality.strip().isascii() and quality.strip().isdigit())
            or not 1 <= int(quality) <= 100
        ):
            raise BadRequest("The parameter 'quality' must be a whole number from 1 to 100.")
        level = int(quality)
    return RenderParams(parsed_window, parsed_viewport, level)


def _fmt(media_type: str) -> str:
    return "png" if media_type == "image/png" else "jpeg"


def rendered(stored: Stored, index: int, media_type: str, params: RenderParams) -> bytes:
    """Frame ``index`` rendered (blocking: run it in a worker thread)."""
    key = (stored.id, stored.sha256, index, media_type, params)
    try:
        return PICTURES.get_or_make(
            key,
            lambda: render(
                stored.path,
                index,
                window=params.window,
                viewport=params.viewport,
                fmt=_fmt(media_type),
                quality=params.quality,
            ),
        )
    except FrameError as exc:
        raise frame_error(exc) from exc
    except IngestRefused as exc:
        raise Undecodable(exc.reason) from exc


def thumbnail_of(stored: Stored, media_type: str, params: RenderParams) -> bytes:
    size = max(params.viewport) if params.viewport else THUMBNAIL_SIZE
    key = (stored.id, stored.sha256, "thumbnail", media_type, size, params.quality)
    try:
        return PICTURES.get_or_make(
            key, lambda: thumbnail(stored.path, size, fmt=_fmt(media_type), quality=params.quality)
        )
    except FrameError as exc:
        raise frame_error(exc) from exc
    except IngestRefused as exc:
        raise Undecodable(exc.reason) from exc
