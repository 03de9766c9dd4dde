"""HTTP Range (RFC 9110 §14) for the recordings' files: one range a request, streamed.

``bytes=a-b``, ``bytes=a-`` and ``bytes=-n`` (the last n bytes) are served as 206 with
``Content-Range``; a range starting beyond the end, an empty suffix or one that cannot be
read is 416 with ``Content-Range: bytes */<size>``; several ranges at once are answered
with the whole file (200), which RFC 9110 allows.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from litestar.response import Response, Stream

CHUNK = 256 * 1024
NO_STORE = {"Cache-Control": "private, no-store", "Accept-Ranges": "bytes"}
_ONE = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")


class Unsatisfiable(Exception):
    pass


def parse(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) byte of ``header``; None: the whole file."""
    if not header:
        return None
    value = header.strip().replace(" ", "")
    if value.startswith("bytes=") and "," in value:
        return None
    found = _ONE.match(value)
    if found is None:
        raise Unsatisfiable(header)
    first, last = found.group(1), found.group(2)
    if not first:
        if not last or int(last) == 0:
            raise Unsatisfiable(header)
        return max(0, size - int(last)), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        raise Unsatisfiable(header)
    return start, end


async def _chunks(path: Path, start: int, end: int) -> AsyncIterator[bytes]:
    async with await anyio.open_file(path, "rb") as f:
        await f.seek(start)
        left = end - start + 1
        while left > 0:
            data = await f.read(min(CHUNK, left))
            if not data:
                return
            left -= len(data)
            yield data


def serve(path: Path, size: int, content_type: str, range_header: str | None) -> Response:
    try:
        wanted = parse(range_header, size)
    except Unsatisfiable:
        return Response(
            content=b"",
            status_code=416,
            media_type=content_type,
            headers={**NO_STORE, "Content-Range": f"bytes */{size}"},
        )
    if wanted is None:
        return Stream(
            _chunks(path, 0, size - 1),
            status_code=200,
            media_type=content_type,
            headers={**NO_STORE, "Content-Length": str(size)},
        )
    start, end = wanted
    return Stream(
        _chunks(path, start, end),
        status_code=206,
        media_type=content_type,
        headers={
            **NO_STORE,
            "Content-Range": f"bytes {start}-{end}/{size}",
            "Content-Length": str(end - start + 1),
        },
    )
