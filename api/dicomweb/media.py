"""Content negotiation (PS3.18 8.7) and multipart/related bodies.

Frames are passed through in their stored transfer syntax when the client accepts it
(``transfer-syntax=*`` or the stored UID, with ``application/octet-stream`` or the syntax's
own image type) and are decoded to Explicit VR Little Endian otherwise. Instances are sent
as stored; asking for another transfer syntax is a 406 (this server does not transcode).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from pydicom.uid import UID, ExplicitVRLittleEndian

from api.dicomweb.errors import NotAcceptable

OCTET = "application/octet-stream"
DICOM = "application/dicom"
# The image media type of each compressed transfer syntax (PS3.18 Table 8.7.3-2).
IMAGE_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.5": "image/dicom-rle",
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
}
ALIASES = {"image/x-dicom-rle": "image/dicom-rle", "image/x-jls": "image/jls"}
DEFAULT_SYNTAX = {
    "image/jpeg": "1.2.840.10008.1.2.4.50",
    "image/jls": "1.2.840.10008.1.2.4.80",
    "image/jp2": "1.2.840.10008.1.2.4.90",
    "image/jpx": "1.2.840.10008.1.2.4.92",
    "image/dicom-rle": "1.2.840.10008.1.2.5",
}


@dataclass(frozen=True)
class MediaRange:
    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0


def _split(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside double quotes."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == sep and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def parse_accept(header: str) -> list[MediaRange]:
    """The media ranges of an Accept header, best first; an empty header accepts anything."""
    ranges = []
    for raw in _split(header or "*/*", ","):
        pieces = [p.strip() for p in _split(raw, ";")]
        if not pieces[0]:
            continue
        params: dict[str, str] = {}
        q = 1.0
        for piece in pieces[1:]:
            name, _, value = piece.partition("=")
            name, value = name.strip().lower(), value.strip().strip('"').strip()
            if name == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
            elif name:
                params[name] = value
        ranges.append(MediaRange(pieces[0].lower(), params, q))
    return sorted((r for r in ranges if r.q > 0), key=lambda r: -r.q)


class FrameMode(StrEnum):
    PASS_THROUGH = "pass-through"
    NATIVE = "native"


@dataclass(frozen=True)
class FrameChoice:
    mode: FrameMode
    part_type: str  # Content-Type of each part, with its transfer-syntax parameter


def _part_ranges(ranges: list[MediaRange]) -> Iterable[tuple[str, str | None]]:
    """(part media type, transfer-syntax or None) for each acceptable range."""
    for r in ranges:
        if r.type == "multipart/related":
            part = ALIASES.get(r.params.get("type", OCTET).lower(), r.params.get("type", OCTET))
            yield part.lower(), r.params.get("transfer-syntax")
        elif r.type in ("*/*", "multipart/*"):
            yield "*/*", r.params.get("transfer-syntax")
        else:
            yield ALIASES.get(r.type, r.type), r.params.get("transfer-syntax")


def choose_frames(accept: str, stored_syntax: str) -> FrameChoice:
    """How to send frames stored in ``stored_syntax`` to a client sending ``accept``."""
    compressed = UID(stored_syntax).is_compressed
    native = FrameChoice(FrameMode.NATIVE, f"{OCTET}; transfer-syntax={ExplicitVRLittleEndian}")
    stored_type = IMAGE_TYPES.get(stored_syntax, OCTET)
    passed = FrameChoice(FrameMode.PASS_THROUGH, f"{stored_type}; transfer-syntax={stored_syntax}")
    passed_octet = FrameChoice(FrameMode.PASS_THROUGH, f"{OCTET}; transfer-syntax={stored_syntax}")
    for part, syntax in _part_ranges(parse_accept(accept)):
        if part in ("*/*", OCTET):
            if syntax in (None, ExplicitVRLittleEndian):
                return native if part == OCTET or not compressed else passed
            if syntax == "*":
                if not compressed:
                    return native
                return passed_octet if part == OCTET else passed
            if compressed and syntax == stored_syntax:
                return passed_octet if part == OCTET else passed
        elif compressed and part == stored_type:
            wanted = syntax or DEFAULT_SYNTAX.get(part)
            if wanted in ("*", stored_syntax):
                return passed
    raise NotAcceptable(
        f"The frames are stored as {UID(stored_syntax).name} ({stored_syntax}). Ask for "
        f'multipart/related; type="{OCTET}" (decoded, Explicit VR Little Endian), or '
        f"transfer-syntax=* or transfer-syntax={stored_syntax} to get them as stored."
    )


def single_part(accept: str) -> bool:
    """The client asks for a bare body (``application/octet-stream``, ``image/jls``…), not
    multipart/related: OHIF does for bulk data with ``singlepart``."""
    ranges = parse_accept(accept)
    return bool(ranges) and not ranges[0].type.startswith(("multipart/", "*/*"))


def check_dicom_accept(accept: str, stored_syntaxes: set[str]) -> None:
    """Instances go out as stored: refuse an Accept that only allows another syntax."""
    for part, syntax in _part_ranges(parse_accept(accept)):
        if part not in (DICOM, "*/*"):
            continue
        if syntax in (None, "*") or {syntax} >= stored_syntaxes:
            return
    raise NotAcceptable(
        'Instances are sent as stored; ask for multipart/related; type="application/dicom" '
        "with transfer-syntax=* or with the stored syntax "
        f"({', '.join(sorted(stored_syntaxes))}). This server does not transcode."
    )


def wants_json(accept: str) -> bool:
    for r in parse_accept(accept):
        if r.type in ("application/dicom+json", "application/json", "*/*", "application/*"):
            return True
    return False


def choose_image(accept: str) -> str:
    """``image/jpeg`` or ``image/png`` for /rendered and /thumbnail."""
    for r in parse_accept(accept):
        if r.type in ("image/jpeg", "image/png"):
            return r.type
        if r.type in ("*/*", "image/*"):
            return "image/jpeg"
    raise NotAcceptable("Rendered images are image/jpeg or image/png; ask for one of them.")


def new_boundary() -> str:
    return f"aimis-{secrets.token_hex(12)}"


def multipart_type(part_type: str, boundary: str) -> str:
    media = part_type.split(";")[0].strip()
    return f'multipart/related; type="{media}"; boundary={boundary}'


def part_header(boundary: str, content_type: str, location: str = "") -> bytes:
    lines = [f"--{boundary}", f"Content-Type: {content_type}"]
    if location:
        lines.append(f"Content-Location: {location}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def multipart(boundary: str, parts: Iterable[tuple[str, bytes]]) -> bytes:
    """A whole multipart/related body of (content type, bytes) parts."""
    out = bytearray()
    for content_type, data in parts:
        out += part_header(boundary, content_type)
        out += data
        out += b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


async def multipart_stream(
    boundary: str, parts: AsyncIterator[tuple[str, str, AsyncIterator[bytes]]]
) -> AsyncIterator[bytes]:
    """Stream a multipart body of (content type, location, chunks) parts."""
    async for content_type, location, chunks in parts:
        yield part_header(boundary, content_type, location)
        async for chunk in chunks:
            yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()
