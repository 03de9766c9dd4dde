"""WADO-RS ``/metadata``: each instance's header as DICOM JSON (PS3.18 F.2).

The header is read without the pixel data. Binary values up to ``INLINE_LIMIT`` bytes are
inline (palette tables, small overlays); larger ones, and the pixel data, are a
``BulkDataURI`` under the instance (``/bulkdata/{tag}``; pixel data points at the frames).
What OHIF and cornerstone need is in every header: the pixel module, NumberOfFrames
(``1`` when the file omits it), and AvailableTransferSyntaxUID.

Results are cached per instance id and sha256 (the file under an id never changes; a new
revision is a new row), so a viewer opening the same series twice parses nothing.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

from pydicom.dataelem import DataElement

from api.dicomweb.lookup import Stored
from imaging.read import parse_instance

log = logging.getLogger(__name__)

INLINE_LIMIT = 64 * 1024
CACHE_SIZE = 4096
NUMBER_OF_FRAMES = "00280008"
TRANSFER_SYNTAX = "00083002"
PIXEL_TAGS = {
    "PixelData": "7FE00010",
    "FloatPixelData": "7FE00008",
    "DoubleFloatPixelData": "7FE00009",
}

_cache: OrderedDict[tuple[int, str, str], dict[str, Any]] = OrderedDict()
_lock = threading.Lock()


def instance_url(base_url: str, stored: Stored) -> str:
    return (
        f"{base_url}/studies/{stored.study_uid}/series/{stored.series_uid}"
        f"/instances/{stored.sop_uid}"
    )


def _build(stored: Stored, url: str) -> dict[str, Any]:
    parsed = parse_instance(stored.path)

    def bulk(elem: DataElement) -> str:
        return f"{url}/bulkdata/{elem.tag:08X}"

    # Element by element, an unreadable one left out. Not ``to_json_dict(suppress_invalid_tags=
    # True)``: that switches pydicom's process-wide reading mode to RAISE while it runs, and a
    # file read at the same moment in another worker thread is then refused (seen in CI: a
    # /rendered of a file with a wrong explicit-VR header got a 422).
    data: dict[str, Any] = {}
    ds = parsed.dataset
    for key in list(ds.keys()):  # tags; iterating a Dataset converts every element
        try:
            data[f"{key:08X}"] = ds[key].to_json_dict(
                bulk_data_element_handler=bulk, bulk_data_threshold=INLINE_LIMIT * 4 // 3
            )
        except Exception as exc:
            log.warning("metadata of %s: element %08X left out: %s", stored.sop_uid, key, exc)
    if parsed.pixel_data is not None and parsed.pixels is not None:
        location = parsed.pixel_data
        tag = PIXEL_TAGS.get(location.keyword, "7FE00010")
        native_vr = "OB" if parsed.pixels.bits_allocated <= 8 else "OW"
        vr = "OB" if location.encapsulated else (location.vr or native_vr)
        data[tag] = {"vr": vr, "BulkDataURI": f"{url}/bulkdata/{tag}"}
        data.setdefault(NUMBER_OF_FRAMES, {"vr": "IS", "Value": [parsed.pixels.frames]})
    data[TRANSFER_SYNTAX] = {"vr": "UI", "Value": [str(parsed.transfer_syntax_uid)]}
    return dict(sorted(data.items()))


def instance_metadata(stored: Stored, base_url: str) -> dict[str, Any]:
    """The DICOM JSON of one instance (blocking: call from a worker thread)."""
    key = (stored.id, stored.sha256, base_url)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    data = _build(stored, instance_url(base_url, stored))
    with _lock:
        _cache[key] = data
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return data


def metadata(stored: list[Stored], base_url: str) -> list[dict[str, Any]]:
    return [instance_metadata(s, base_url) for s in stored]
