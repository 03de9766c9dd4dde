"""Streaming multipart reader for STOW-RS (``multipart/related``) and uploads
(``multipart/form-data``): every part's bytes go straight to a temp file of its own under
the data folder, so a request of gigabytes never sits in memory, and the total is counted
while it arrives (``AIMIS_INGEST_MAX_UPLOAD_BYTES``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header

from kernel.errors import AppError, BadRequest, TooLarge
from kernel.i18n import Msg


class UnsupportedMediaType(AppError):
    status_code = 415


@dataclass
class Part:
    path: Path
    content_type: str = ""
    field_name: str = ""
    file_name: str = ""
    size: int = 0


@dataclass
class _Collector:
    folder: Path
    parts: list[Part] = field(default_factory=list)
    _out: BinaryIO | None = None
    _field: bytes = b""
    _headers: dict[str, str] = field(default_factory=dict)

    def on_part_begin(self) -> None:
        self._headers = {}
        path = self.folder / f"part-{len(self.parts) + 1:06d}"
        self.parts.append(Part(path))
        self._out = open(path, "wb")  # noqa: SIM115  (closed in on_part_end)

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        name = self._field.decode("latin-1").strip().lower()
        self._headers[name] = self._headers.get(name, "") + data[start:end].decode(
            "utf-8", "replace"
        )

    def on_header_end(self) -> None:
        self._field = b""

    def on_headers_finished(self) -> None:
        part = self.parts[-1]
        part.content_type = self._headers.get("content-type", "").strip()
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        part.field_name = params.get(b"name", b"").decode("utf-8", "replace")
        part.file_name = params.get(b"filename", b"").decode("utf-8", "replace")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        assert self._out is not None
        self._out.write(data[start:end])
        self.parts[-1].size += end - start

    def on_part_end(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


CALLBACKS = (
    "on_part_begin",
    "on_header_field",
    "on_header_value",
    "on_header_end",
    "on_headers_finished",
    "on_part_data",
    "on_part_end",
)


def check_declared_size(content_length: str | None, limit: int) -> None:
    if (
        content_length
        and content_length.isascii()
        and content_length.isdigit()
        and int(content_length) > limit
    ):
        raise TooLarge(
            "The request is {value:,} bytes; at most {limit:,} are accepted.",
            value=int(content_length),
            limit=limit,
        )


async def read_parts(
    body: AsyncIterator[bytes], boundary: bytes, folder: Path, limit: int
) -> list[Part]:
    """Stream ``body`` into one file per part under ``folder``; 413 past ``limit`` bytes."""
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    collector = _Collector(folder)
    callbacks: Any = {name: getattr(collector, name) for name in CALLBACKS}
    parser = MultipartParser(boundary, callbacks)
    total = 0
    try:
        async for chunk in body:
            total += len(chunk)
            if total > limit:
                raise TooLarge(
                    "The request is larger than the {limit:,} bytes accepted.",
                    limit=limit,
                )
            await asyncio.to_thread(parser.write, chunk)
        parser.finalize()
    except AppError:
        raise
    except Exception as exc:  # the body is not the multipart it says it is
        raise BadRequest("The multipart body could not be read: {exc}", exc=exc) from None
    finally:
        collector.on_part_end()
    return collector.parts


def boundary_of(content_type: str, expected: str) -> tuple[bytes, dict[bytes, bytes]]:
    """The boundary of a ``expected`` (e.g. multipart/related) body; 415/400 otherwise."""
    kind, params = parse_options_header(content_type)
    if kind != expected.encode():
        got = kind.decode("latin-1") or Msg("a body without Content-Type")
        raise UnsupportedMediaType("This takes {expected}, not {got}.", expected=expected, got=got)
    boundary = params.get(b"boundary", b"").strip(b'"')
    if not boundary:
        raise BadRequest(
            "The {expected} Content-Type names no boundary.",
            expected=expected,
        )
    return boundary, params
