"""Render one frame to an 8-bit picture (JPEG or PNG) the way a DICOM viewer would show it.

Grayscale: stored values → modality LUT (rescale slope/intercept or a Modality LUT
Sequence) → VOI (an explicit window, else the VOI LUT Sequence, else the file's first window,
else the frame's own value range) → MONOCHROME1 / INVERSE presentation flips it. Colour: RGB
as decoded (pydicom converts YBR to RGB), PALETTE COLOR through its lookup table; more than
8 bits are scaled down. Enhanced multi-frame files keep rescale and window per frame in
functional groups; those apply to the frame being drawn.

Speed: an integer frame's values span at most 65,536 levels, so the whole grayscale chain is
computed once per level into a 256-level table and the frame is one table lookup. Nothing
loops per pixel in Python.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, convert_color_space

from imaging.framecache import LoadedFrame
from imaging.frames import DecodedFrame, FrameUndecodable, decode_open_frame, first_line
from imaging.read import Source, open_instance

FloatArray = npt.NDArray[np.floating[Any]]
THUMBNAIL_SIZE = 128
_LUT_LEVELS = 1 << 16  # beyond this many distinct levels, compute per pixel instead


class WindowFunction(StrEnum):
    """PS3.3 C.11.2.1.2 VOI LUT Function."""

    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"


@dataclass(frozen=True, slots=True)
class Window:
    center: float
    width: float
    function: WindowFunction = WindowFunction.LINEAR

    @classmethod
    def parse(cls, text: str) -> Window:
        """Parse WADO-RS ``window=center,width[,function]`` (function case-insensitive)."""
        parts = [p.strip() for p in text.split(",")]
        if len(parts) not in (2, 3):
            raise ValueError("window must be 'center,width' or 'center,width,function'")
        try:
            center, width = float(parts[0]), float(parts[1])
        except ValueError:
            raise ValueError("window center and width must be numbers") from None
        if not (np.isfinite(center) and np.isfinite(width)) or width <= 0:
            raise ValueError("window width must be a positive number")
        function = WindowFunction.LINEAR
        if len(parts) == 3:
            try:
                function = WindowFunction(parts[2].upper())
            except ValueError:
                raise ValueError(
                    "window function must be LINEAR, LINEAR_EXACT or SIGMOID"
                ) from None
        return cls(center, width, function)


def parse_viewport(text: str) -> tuple[int, int]:
    """Parse WADO-RS ``viewport=width,height`` (both positive, at most 8192)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise ValueError("viewport must be 'width,height' in pixels")
    width, height = int(parts[0]), int(parts[1])
    if not (0 < width <= 8192 and 0 < height <= 8192):
        raise ValueError("viewport width and height must be between 1 and 8192")
    return width, height


def apply_window(values: np.ndarray, window: Window) -> np.ndarray:
    """Map modality values to 0–255 by the PS3.3 C.11.2.1.2 formulas (float result)."""
    x: FloatArray = np.asarray(
        values, dtype=np.float64 if values.dtype == np.float64 else np.float32
    )
    c, w = window.center, window.width
    if window.function is WindowFunction.SIGMOID:
        return 255.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
    if window.function is WindowFunction.LINEAR_EXACT:
        y = ((x - c) / w + 0.5) * 255.0
    elif w <= 1:  # LINEAR with width 1 is a threshold at c - 0.5
        return np.where(x > c - 0.5, 255.0, 0.0)
    else:
        y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255.0
    return np.clip(y, 0.0, 255.0, out=y)


def to_display(
    frame: DecodedFrame, header: Dataset, index: int = 0, *, window: Window | None = None
) -> np.ndarray:
    """The decoded frame as uint8 pixels: (rows, cols) grayscale or (rows, cols, 3) RGB."""
    view = frame_view(header, index)
    photometric = frame.photometric_interpretation
    arr = frame.array
    if photometric == "PALETTE COLOR":
        return _to_uint8_color(apply_color_lut(arr, view)[..., :3], None)
    if frame.samples_per_pixel == 3 or arr.ndim == 3:
        if photometric in ("YBR_FULL", "YBR_FULL_422"):
            arr = convert_color_space(arr, photometric, "RGB")
        return _to_uint8_color(arr, frame.bits_stored)
    invert = photometric == "MONOCHROME1"
    if str(view.get("PresentationLUTShape", "")).upper() == "INVERSE":
        invert = not invert
    return _to_uint8_gray(arr, view, window, invert)


def frame_view(header: Dataset, index: int) -> Dataset:
    """The attributes that shape frame ``index``: top level, then the shared and per-frame
    functional groups of an enhanced multi-frame image (later ones win)."""
    shared = header.get("SharedFunctionalGroupsSequence")
    per_frame = header.get("PerFrameFunctionalGroupsSequence")
    if not shared and not per_frame:
        return header  # only read from here on, so no copy is needed
    view = Dataset()
    for keyword in (
        "PhotometricInterpretation",
        "BitsStored",
        "BitsAllocated",
        "PixelRepresentation",
        "RescaleSlope",
        "RescaleIntercept",
        "RescaleType",
        "ModalityLUTSequence",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        "VOILUTSequence",
        "PresentationLUTShape",
        "RedPaletteColorLookupTableDescriptor",
        "GreenPaletteColorLookupTableDescriptor",
        "BluePaletteColorLookupTableDescriptor",
        "RedPaletteColorLookupTableData",
        "GreenPaletteColorLookupTableData",
        "BluePaletteColorLookupTableData",
        "SegmentedRedPaletteColorLookupTableData",
        "SegmentedGreenPaletteColorLookupTableData",
        "SegmentedBluePaletteColorLookupTableData",
    ):
        if keyword in header:
            view[keyword] = header[keyword]
    groups = []
    if shared:
        groups.append(shared[0])
    if per_frame and index < len(per_frame):
        groups.append(per_frame[index])
    for group in groups:
        for macro in ("PixelValueTransformationSequence", "FrameVOILUTSequence"):
            if items := group.get(macro):
                for elem in items[0]:
                    view[elem.tag] = elem
    return view


def _to_uint8_color(arr: np.ndarray, bits_stored: int | None) -> np.ndarray:
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if bits_stored is None:  # a palette: 16-bit entries
        bits_stored = 16
    shifted = arr >> (bits_stored - 8) if bits_stored > 8 else arr << (8 - bits_stored)
    return np.clip(shifted, 0, 255).astype(np.uint8)


def _to_uint8_gray(
    arr: np.ndarray, view: Dataset, window: Window | None, invert: bool
) -> np.ndarray:
    if arr.dtype.kind in "iub" and arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if hi - lo < _LUT_LEVELS:
            levels = np.arange(lo, hi + 1, dtype=np.int64)
            table = _gray_chain(levels, view, window, invert)
            offset = arr.astype(np.int32, copy=False) - lo if lo else arr
            return np.take(table, offset)
    return _gray_chain(arr, view, window, invert)


def _gray_chain(
    values: np.ndarray, view: Dataset, window: Window | None, invert: bool
) -> np.ndarray:
    x = _modality(values, view)
    chosen = window or _file_window(view)
    if chosen is not None:
        y = apply_window(x, chosen)
    elif "VOILUTSequence" in view:
        y = _stretch(apply_voi(np.rint(x).astype(np.int64), view))
    else:
        y = _stretch(x)
    if invert:
        y = 255.0 - y
    return (y + 0.5).astype(np.uint8)


def _modality(values: np.ndarray, view: Dataset) -> np.ndarray:
    if "ModalityLUTSequence" in view:
        return np.asarray(apply_modality_lut(values, view), dtype=np.float32)
    slope = float(view.get("RescaleSlope", 1) or 1)
    intercept = float(view.get("RescaleIntercept", 0) or 0)
    dtype = np.float64 if values.dtype == np.float64 else np.float32
    x: FloatArray = values.astype(dtype)
    if slope != 1:
        x *= slope
    if intercept:
        x += intercept
    return x


def _file_window(view: Dataset) -> Window | None:
    if "VOILUTSequence" in view:
        return None  # the table is preferred over the window when both are given
    try:
        center, width = _first(view.get("WindowCenter")), _first(view.get("WindowWidth"))
    except (TypeError, ValueError):
        return None
    if center is None or width is None or width <= 0:
        return None
    try:
        function = WindowFunction(str(view.get("VOILUTFunction") or "LINEAR").strip().upper())
    except ValueError:
        function = WindowFunction.LINEAR
    return Window(center, width, function)


def _first(value: object) -> float | None:
    """The first of a multi-valued number (a file may offer several windows)."""
    if isinstance(value, MultiValue | list | tuple):
        value = value[0] if value else None
    if value is None or value == "":
        return None
    return float(value)  # type: ignore[arg-type]


def _stretch(x: np.ndarray) -> np.ndarray:
    """Map the range of ``x`` onto 0–255 (no window in the file: show every value)."""
    x = np.asarray(x, dtype=np.float32)
    finite = x[np.isfinite(x)] if x.dtype.kind == "f" else x
    if not finite.size:
        return np.zeros_like(x)
    lo, hi = float(finite.min()), float(finite.max())
    if hi <= lo:
        return np.full_like(x, 0.0 if hi <= 0 else 255.0)
    y = (np.nan_to_num(x, nan=lo) - lo) * (255.0 / (hi - lo))
    return np.clip(y, 0.0, 255.0, out=y)


def fit_viewport(img: np.ndarray, viewport: tuple[int, int], *, upscale: bool = True) -> np.ndarray:
    """Scale to fit within ``(width, height)`` keeping the aspect ratio."""
    rows, cols = img.shape[:2]
    scale = min(viewport[0] / cols, viewport[1] / rows)
    if scale == 1 or (scale > 1 and not upscale):
        return img
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    resized = Image.fromarray(img).resize(
        size, Image.Resampling.BILINEAR, reducing_gap=2.0 if scale < 0.5 else None
    )
    return np.asarray(resized)


def encode_image(
    img: np.ndarray, fmt: str = "jpeg", *, quality: int = 90, png_compress_level: int = 1
) -> bytes:
    """JPEG (``quality`` 1–100) or PNG bytes of an 8-bit grayscale or RGB array."""
    out = io.BytesIO()
    picture = Image.fromarray(img)
    fmt = fmt.lower()
    if fmt in ("jpeg", "jpg"):
        picture.save(out, "JPEG", quality=max(1, min(100, quality)))
    elif fmt == "png":
        picture.save(out, "PNG", compress_level=png_compress_level)
    else:
        raise ValueError(f"unsupported image format {fmt!r}: use jpeg or png")
    return out.getvalue()


def _displayed(frame: DecodedFrame, header: Dataset, index: int, window: Window | None) -> Any:
    """``to_display``, its failures on a file's own lies (a palette or LUT that does not fit
    the pixels) turned into the frame's refusal instead of a server error."""
    try:
        return to_display(frame, header, index, window=window)
    except Exception as exc:
        raise FrameUndecodable(
            f"Frame {index + 1} decodes but cannot be displayed: {first_line(exc)}."
        ) from exc


def load_frame(source: Source, index: int = 0) -> LoadedFrame:
    """Frame ``index`` read and decoded on its own, with the header that shapes its display
    (what ``imaging.framecache.FrameCache`` keeps)."""
    with open_instance(source) as inst:
        frame = decode_open_frame(inst, index)
        header = inst.parsed.dataset
    return LoadedFrame(frame, header)


def display_loaded(
    loaded: LoadedFrame,
    index: int = 0,
    *,
    window: Window | None = None,
    viewport: tuple[int, int] | None = None,
    upscale: bool = True,
) -> np.ndarray:
    """A decoded frame as displayable uint8 pixels, fitted to ``viewport`` when given."""
    img = _displayed(loaded.frame, loaded.header, index, window)
    if viewport is not None:
        img = fit_viewport(img, viewport, upscale=upscale)
    return img


def render_frame(
    source: Source,
    index: int = 0,
    *,
    window: Window | None = None,
    viewport: tuple[int, int] | None = None,
) -> np.ndarray:
    """Frame ``index`` as displayable uint8 pixels, read and decoded on its own."""
    return display_loaded(load_frame(source, index), index, window=window, viewport=viewport)


def render_loaded(
    loaded: LoadedFrame,
    index: int = 0,
    *,
    window: Window | None = None,
    viewport: tuple[int, int] | None = None,
    fmt: str = "jpeg",
    quality: int = 90,
) -> bytes:
    """``render`` of a frame already decoded (``load_frame``, or a cache of them)."""
    img = display_loaded(loaded, index, window=window, viewport=viewport)
    return encode_image(img, fmt, quality=quality)


def render(
    source: Source,
    index: int = 0,
    *,
    window: Window | None = None,
    viewport: tuple[int, int] | None = None,
    fmt: str = "jpeg",
    quality: int = 90,
) -> bytes:
    """WADO-RS ``/rendered`` for one frame: JPEG or PNG bytes."""
    loaded = load_frame(source, index)
    return render_loaded(loaded, index, window=window, viewport=viewport, fmt=fmt, quality=quality)


def thumbnail_loaded(
    loaded: LoadedFrame, size: int = THUMBNAIL_SIZE, *, fmt: str = "jpeg", quality: int = 80
) -> bytes:
    """``thumbnail`` of a first frame already decoded."""
    img = display_loaded(loaded, 0, viewport=(size, size), upscale=False)
    return encode_image(img, fmt, quality=quality)


def thumbnail(
    source: Source, size: int = THUMBNAIL_SIZE, *, fmt: str = "jpeg", quality: int = 80
) -> bytes:
    """A small picture of the first frame, at most ``size`` pixels on its longer side."""
    return thumbnail_loaded(load_frame(source, 0), size, fmt=fmt, quality=quality)
