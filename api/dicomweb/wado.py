"""WADO-RS retrieval (PS3.18 10.4): instances as stored, frames, bulk data.

Blocking file work (parsing, decoding) runs in worker threads; instance bodies are streamed
from disk in chunks, never read whole into memory. A frame request reads only its frames
(``imaging.frames``), never the whole multi-frame file.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
from pydicom.uid import UID

from api.dicomweb.cache import FRAMES
from api.dicomweb.errors import Undecodable
from api.dicomweb.lookup import Stored
from api.dicomweb.media import DICOM, FrameChoice, FrameMode, choose_frames, multipart
from api.dicomweb.metadata import PIXEL_TAGS, instance_url
from imaging.frames import (
    FrameError,
    FrameOutOfRange,
    FrameUndecodable,
    encoded_frame,
    native_frame,
)
from imaging.read import IngestRefused, parse_instance
from kernel.errors import BadRequest, NotFound

CHUNK = 512 * 1024
MAX_FRAMES_PER_REQUEST = 2000


def parse_frame_list(text: str) -> list[int]:
    """``"1,3,5"`` → 0-based indexes ``[0, 2, 4]``; frame numbers start at 1."""
    numbers = []
    for part in text.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()) or int(part) < 1:
            raise BadRequest(
                "The frame list {text!r} is malformed: frame numbers are whole numbers "
                "from 1, separated by commas.",
                text=text[:60],
            )
        numbers.append(int(part) - 1)
    if len(numbers) > MAX_FRAMES_PER_REQUEST:
        raise BadRequest(f"At most {MAX_FRAMES_PER_REQUEST} frames can be asked for at once.")
    return numbers


def frame_error(exc: FrameError) -> Exception:
    if isinstance(exc, FrameOutOfRange):
        return NotFound(exc.reason)
    if isinstance(exc, FrameUndecodable):
        return Undecodable(exc.reason)
    return NotFound(exc.reason)


def _frame(stored: Stored, index: int, choice: FrameChoice) -> bytes:
    compressed = UID(stored.transfer_syntax).is_compressed
    if choice.mode is FrameMode.PASS_THROUGH and compressed:
        key: tuple = (stored.id, stored.sha256, index, "stored")
        return FRAMES.get_or_make(key, lambda: encoded_frame(stored.path, index))
    key = (stored.id, stored.sha256, index, "native")
    return FRAMES.get_or_make(key, lambda: native_frame(stored.path, index).data)


def one_frame(stored: Stored, index: int, choice: FrameChoice) -> bytes:
    """One frame's bytes (blocking: run it in a worker thread)."""
    return frames_parts(stored, [index], choice)[0]


def frames_parts(stored: Stored, indexes: list[int], choice: FrameChoice) -> list[bytes]:
    try:
        return [_frame(stored, i, choice) for i in indexes]
    except FrameError as exc:
        raise frame_error(exc) from exc
    except IngestRefused as exc:
        raise Undecodable(exc.reason) from exc


def frames_body(stored: Stored, indexes: list[int], choice: FrameChoice, boundary: str) -> bytes:
    """The multipart body of the asked frames (blocking: run it in a worker thread)."""
    return multipart(
        boundary, [(choice.part_type, d) for d in frames_parts(stored, indexes, choice)]
    )


def frame_choice(stored: Stored, accept: str) -> FrameChoice:
    return choose_frames(accept, stored.transfer_syntax)


async def _chunks(stored: Stored) -> AsyncIterator[bytes]:
    async with await anyio.open_file(stored.path, "rb") as f:
        while chunk := await f.read(CHUNK):
            yield chunk


async def instance_parts(
    stored: list[Stored], base_url: str
) -> AsyncIterator[tuple[str, str, AsyncIterator[bytes]]]:
    for s in stored:
        yield (
            f"{DICOM}; transfer-syntax={s.transfer_syntax}",
            instance_url(base_url, s),
            _chunks(s),
        )


def bulk_value(stored: Stored, tag: str) -> bytes:
    """The value of a top-level binary element of the header (blocking)."""
    try:
        tag_int = int(tag, 16)
    except ValueError:
        raise BadRequest(f"{tag[:20]!r} is not a tag (8 hexadecimal digits).") from None
    parsed = parse_instance(stored.path)
    if tag_int not in parsed.dataset:
        raise NotFound(f"The instance has no element {tag.upper()}.")
    value = parsed.dataset[tag_int].value
    if not isinstance(value, bytes):
        raise NotFound(f"The element {tag.upper()} is not bulk data.")
    return value


def is_pixel_tag(tag: str) -> bool:
    return tag.upper() in PIXEL_TAGS.values()
