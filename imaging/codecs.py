"""Which DICOM transfer syntaxes this installation can decode, and which decoder runs first.

pydicom tries a transfer syntax's decoding plugins in the order they were registered and
keeps the first that succeeds. For JPEG-LS it registers pylibjpeg (libjpeg) before pyjpegls
(CharLS), and CharLS is about four times faster on a 512² 16-bit CT frame (DESIGN.md), so
``prefer_fast_decoders()`` moves CharLS to the front (and Pillow for JPEG baseline). The other
plugins stay behind as fallbacks: a frame CharLS refuses is still tried with libjpeg.
"""

from __future__ import annotations

import re
import threading
from functools import cache

from pydicom.pixels import get_decoder, get_encoder
from pydicom.uid import (
    UID,
    AllTransferSyntaxes,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

# Where pydicom's own decoding plugins live (pydicom.pixels.decoders.*), needed to re-register
# a plugin after moving it; a plugin missing from this table is left where it is.
_DECODER_PATHS: dict[str, tuple[str, str]] = {
    "gdcm": ("pydicom.pixels.decoders.gdcm", "_decode_frame"),
    "pylibjpeg": ("pydicom.pixels.decoders.pylibjpeg", "_decode_frame"),
    "pyjpegls": ("pydicom.pixels.decoders.pyjpegls", "_decode_frame"),
    "pillow": ("pydicom.pixels.decoders.pillow", "_decode_frame"),
    "pydicom": ("pydicom.pixels.decoders.rle", "_decode_frame"),
}

# The plugin to try first, per transfer syntax, when it is installed.
PREFERRED_DECODERS: dict[str, tuple[str, ...]] = {
    # Pillow's libjpeg-turbo: ~15 ms against ~27 ms (libjpeg) for a 640×480 ultrasound frame,
    # same pixels within rounding on every bundled pydicom JPEG baseline file.
    JPEGBaseline8Bit: ("pillow",),
    JPEGLSLossless: ("pyjpegls",),
    JPEGLSNearLossless: ("pyjpegls",),
}

# Plugins dropped when another one is installed for the syntax. pydicom's own RLE decoder
# (pure Python) expands each segment without bound (up to 64 times its size, however small
# the frame) before checking the length; pylibjpeg-rle decodes into the frame's size.
DROPPED_FALLBACKS: dict[str, tuple[str, ...]] = {RLELossless: ("pydicom",)}

_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")
_lock = threading.Lock()
_ordered = False


def prefer_fast_decoders() -> None:
    """Put the fastest installed plugin first for each syntax in ``PREFERRED_DECODERS``.

    Idempotent and cheap after the first call; every imaging entry point calls it, so
    nothing depends on import order.
    """
    global _ordered
    if _ordered:
        return
    with _lock:
        if _ordered:
            return
        for uid, preferred in PREFERRED_DECODERS.items():
            _reorder(UID(uid), preferred)
        for uid, dropped in DROPPED_FALLBACKS.items():
            _drop(UID(uid), dropped)
        _ordered = True


def _drop(uid: UID, names: tuple[str, ...]) -> None:
    decoder = get_decoder(uid)
    if any(name not in names for name in decoder._available):
        for name in names:
            if name in decoder._available:
                decoder.remove_plugin(name)


def _reorder(uid: UID, preferred: tuple[str, ...]) -> None:
    decoder = get_decoder(uid)
    current = list(decoder._available)  # registration order is pydicom's try order
    first = [name for name in preferred if name in current]
    if not first:
        return
    # Removing and re-adding a plugin appends it, so re-add everything that must come after.
    for name in current:
        if name not in first and name in _DECODER_PATHS:
            decoder.remove_plugin(name)
            decoder.add_plugin(name, _DECODER_PATHS[name])


def decoder_plugins(transfer_syntax_uid: str) -> tuple[str, ...]:
    """The decoding plugins pydicom will try for this syntax, in order (empty when native)."""
    prefer_fast_decoders()
    try:
        decoder = get_decoder(UID(transfer_syntax_uid))
    except NotImplementedError:
        return ()
    return tuple(decoder._available)


def is_decodable(transfer_syntax_uid: str) -> bool:
    """True when pixel data in this transfer syntax can be decoded here.

    Native syntaxes (implicit/explicit VR, big endian, deflated) always can; encapsulated ones
    need an installed plugin; syntaxes pydicom has no decoder for (MPEG, JPIP, …) cannot.
    """
    if not _UID_RE.fullmatch(transfer_syntax_uid or ""):
        return False
    try:
        uid = UID(transfer_syntax_uid)
        if not uid.is_transfer_syntax:
            return False
        return bool(get_decoder(uid).is_available)
    except (NotImplementedError, ValueError):
        return False


def is_encodable(transfer_syntax_uid: str) -> bool:
    """True when pydicom can compress into this transfer syntax here (used by the generator)."""
    if not _UID_RE.fullmatch(transfer_syntax_uid or ""):
        return False
    try:
        return bool(get_encoder(UID(transfer_syntax_uid)).is_available)
    except (NotImplementedError, ValueError):
        return False


@cache
def transfer_syntax_report() -> dict[str, list[str]]:
    prefer_fast_decoders()
    decodable: list[str] = []
    missing: list[str] = []
    for raw in AllTransferSyntaxes:
        uid = UID(raw)
        try:
            decoder = get_decoder(uid)
        except NotImplementedError:
            continue  # not a pixel-data encoding pydicom knows (e.g. MPEG, JPIP)
        (decodable if decoder.is_available else missing).append(f"{uid.name} ({uid})")
    return {"decodable": sorted(decodable), "missing": sorted(missing)}
