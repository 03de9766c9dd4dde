"""WADO-RS ``/rendered`` and ``/thumbnail`` (PS3.18 8.3.5, 10.4.1.1.3): one frame as JPEG or
PNG, with ``window=center,width[,function]``, ``viewport=width,height`` and ``quality``.

Three layers, each keyed by the instance row and its sha256 (a replaced instance is a new
row with another hash; a deleted one is never looked up again, the lookup refuses it
first), so none can serve pixels that changed:
- ``PICTURES`` (``api.dicomweb.cache``): the encoded picture of one frame with one set of
  parameters, in memory;
- ``DECODED``: the decoded frame and its header, in memory, so another window, viewport,
  quality or format of the same frame is not decoded again (issue 18);
- the pictures the thumbnail step pre-rendered on disk (``prerender``: the series' middle
  slice as the viewers first ask for it, and the thumbnails), found by the file's sha256,
  written by the flow's process and read by every web process.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from api.dicomweb.cache import PICTURES
from api.dicomweb.errors import Undecodable
from api.dicomweb.lookup import Stored
from api.dicomweb.wado import frame_error
from imaging.framecache import FrameCache, LoadedFrame
from imaging.frames import FrameError
from imaging.read import IngestRefused
from imaging.render import (
    THUMBNAIL_SIZE,
    Window,
    load_frame,
    parse_viewport,
    render_loaded,
    thumbnail_loaded,
)
from kernel.errors import BadRequest
from store import files
from store.tables import Instance

# A 512² 16-bit CT slice is 0.5 MiB decoded: 192 of them; a 4k×4k RGB frame (48 MiB) is not kept.
DECODED = FrameCache(96 * 1024 * 1024, largest=32 * 1024 * 1024)

# Part of every pre-rendered file's name: raise it when rendering changes what it draws, so
# pictures drawn by an older version are not served (they are left to be swept).
RENDER_VERSION = 1


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


def rendered_key(stored: Stored, index: int, media_type: str, params: RenderParams) -> tuple:
    return (stored.id, stored.sha256, index, media_type, params)


def thumbnail_key(stored: Stored, media_type: str, params: RenderParams) -> tuple:
    size = thumbnail_size(params)
    return (stored.id, stored.sha256, "thumbnail", media_type, size, params.quality)


def thumbnail_size(params: RenderParams) -> int:
    return max(params.viewport) if params.viewport else THUMBNAIL_SIZE


def decoded(stored: Stored, index: int) -> LoadedFrame:
    """Frame ``index`` decoded, from ``DECODED`` when it is there (blocking)."""
    return DECODED.get_or_load(
        (stored.id, stored.sha256, index), lambda: load_frame(stored.path, index)
    )


# --- pre-rendered pictures on disk ------------------------------------------------------------


def prerendered_root() -> Path:
    return files.thumbnails_root() / "rendered"


def _variant(kind: str, media_type: str, params: RenderParams) -> str | None:
    """The file-name part of a picture that may be pre-rendered (no window: the file's own,
    which is what a viewer asks for first); None for any other."""
    if params.window is not None:
        return None
    view = f"{params.viewport[0]}x{params.viewport[1]}" if params.viewport else "full"
    return f"{kind}-{view}-q{params.quality}.{_fmt(media_type)}"


def prerendered_path(sha256: str, variant: str) -> Path:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return prerendered_root() / sha256[:2] / f"{sha256}-v{RENDER_VERSION}-{variant}"


def _read_prerendered(stored: Stored, variant: str | None) -> bytes | None:
    if variant is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        return prerendered_path(stored.sha256, variant).read_bytes()
    return None


def _rendered_variant(index: int, media_type: str, params: RenderParams) -> str | None:
    return _variant(f"f{index + 1}", media_type, params)


def _thumbnail_variant(media_type: str, params: RenderParams) -> str | None:
    size = thumbnail_size(params)
    return _variant("thumb", media_type, RenderParams(None, (size, size), params.quality))


# --- what the routes call (blocking: run them in a worker thread) -----------------------------


def cached_rendered(
    stored: Stored, index: int, media_type: str, params: RenderParams
) -> bytes | None:
    """The picture when memory holds it already (cheap: fine on the event loop)."""
    return PICTURES.peek(rendered_key(stored, index, media_type, params))


def cached_thumbnail(stored: Stored, media_type: str, params: RenderParams) -> bytes | None:
    return PICTURES.peek(thumbnail_key(stored, media_type, params))


def _make_rendered(stored: Stored, index: int, media_type: str, params: RenderParams) -> bytes:
    ready = _read_prerendered(stored, _rendered_variant(index, media_type, params))
    if ready is not None:
        return ready
    return render_loaded(
        decoded(stored, index),
        index,
        window=params.window,
        viewport=params.viewport,
        fmt=_fmt(media_type),
        quality=params.quality,
    )


def _make_thumbnail(stored: Stored, media_type: str, params: RenderParams) -> bytes:
    ready = _read_prerendered(stored, _thumbnail_variant(media_type, params))
    if ready is not None:
        return ready
    return thumbnail_loaded(
        decoded(stored, 0), thumbnail_size(params), fmt=_fmt(media_type), quality=params.quality
    )


def rendered(stored: Stored, index: int, media_type: str, params: RenderParams) -> bytes:
    """Frame ``index`` rendered (blocking: run it in a worker thread)."""
    try:
        return PICTURES.get_or_make(
            rendered_key(stored, index, media_type, params),
            lambda: _make_rendered(stored, index, media_type, params),
        )
    except FrameError as exc:
        raise frame_error(exc) from exc
    except IngestRefused as exc:
        raise Undecodable(exc.reason) from exc


def thumbnail_of(stored: Stored, media_type: str, params: RenderParams) -> bytes:
    try:
        return PICTURES.get_or_make(
            thumbnail_key(stored, media_type, params),
            lambda: _make_thumbnail(stored, media_type, params),
        )
    except FrameError as exc:
        raise frame_error(exc) from exc
    except IngestRefused as exc:
        raise Undecodable(exc.reason) from exc


# --- the thumbnail step's pre-rendering ---------------------------------------------------------

# What a viewer asks for first of a series' middle slice: the touch viewer's stage
# (``/frames/1/rendered``), its strip (``/frames/1/thumbnail``, the frame at thumbnail size)
# and the series and study thumbnails (``/thumbnail``); all JPEG, the file's own window.
FIRST_VIEW = RenderParams()
STRIP_VIEW = RenderParams(None, (THUMBNAIL_SIZE, THUMBNAIL_SIZE), FIRST_VIEW.quality)


def prerender(sha256: str, path: Path) -> list[Path]:
    """Draw a middle slice's first views once and keep them on disk (the thumbnail step,
    blocking). Skips what is there already; a frame that cannot be drawn raises
    ``FrameError`` / ``IngestRefused`` and leaves nothing behind. Returns the files written."""
    jpeg = "image/jpeg"
    wanted = [
        (_rendered_variant(0, jpeg, FIRST_VIEW), "rendered", FIRST_VIEW),
        (_rendered_variant(0, jpeg, STRIP_VIEW), "rendered", STRIP_VIEW),
        (_thumbnail_variant(jpeg, FIRST_VIEW), "thumbnail", FIRST_VIEW),
    ]
    todo = [
        (prerendered_path(sha256, variant), kind, params)
        for variant, kind, params in wanted
        if variant is not None and not prerendered_path(sha256, variant).exists()
    ]
    if not todo:
        return []
    loaded = load_frame(path, 0)
    pictures = [
        (
            dest,
            render_loaded(loaded, 0, viewport=params.viewport, quality=params.quality)
            if kind == "rendered"
            else thumbnail_loaded(loaded, thumbnail_size(params), quality=params.quality),
        )
        for dest, kind, params in todo
    ]
    for dest, data in pictures:
        files.write_atomic(dest, data, sync_folder=False)
    return [dest for dest, _ in pictures]


# --- sweeping pre-rendered pictures nobody can ask for any more --------------------------------

SERVED_TIERS = ("online", "available")  # a study whose files a request may read
_SWEEP_BATCH = 500


def _prerendered_files() -> list[tuple[Path, str, str]]:
    """(path, sha256, version part) of every pre-rendered picture on disk (blocking)."""
    root = prerendered_root()
    found = []
    if root.is_dir():
        for path in root.glob("??/*"):
            sha, _, rest = path.name.partition("-")
            version = rest.partition("-")[0]
            found.append((path, sha, version))
    return found


async def sweep_prerendered(older_than: float = 0.0) -> tuple[int, int]:
    """Remove the pre-rendered pictures no request can be answered with any more: those
    drawn by another ``RENDER_VERSION``, and those of a file that is no current instance of a
    study whose files are online (its instance replaced by a new revision, its study
    archived; a soft-deleted study keeps them, it may be restored). ``older_than`` (seconds)
    spares pictures just written. Returns (how many, bytes freed)."""
    files_now = await asyncio.to_thread(_prerendered_files)
    cutoff = time.time() - older_than
    tag = f"v{RENDER_VERSION}"
    shas = sorted({sha for _, sha, version in files_now if version == tag})
    needed: set[str] = set()
    for start in range(0, len(shas), _SWEEP_BATCH):
        rows = await Instance.select(Instance.sha256).where(
            Instance.sha256.is_in(shas[start : start + _SWEEP_BATCH]),
            Instance.superseded == False,  # noqa: E712
            Instance.study.tier.is_in(list(SERVED_TIERS)),
        )
        needed |= {r["sha256"] for r in rows}

    def remove() -> tuple[int, int]:
        removed = freed = 0
        for path, sha, version in files_now:
            if version == tag and sha in needed:
                continue
            with contextlib.suppress(OSError):  # gone meanwhile: another sweep
                stat = path.stat()
                if stat.st_mtime > cutoff:
                    continue
                path.unlink()
                removed += 1
                freed += stat.st_size
        return removed, freed

    return await asyncio.to_thread(remove)
