"""What the touch viewer (``ui/templates/studies/_touch_viewer.html``) is given: the images
of one study, its series (shown first, as thumbnails), window presets and where its frames
come from. Nothing here knows who is looking: the caller passes the DICOMweb base it may
read (a staff session's ``/dicomweb`` today, a patient's archive tomorrow) and whether a
full viewer exists for that reader."""

from __future__ import annotations

import msgspec

from api.viewer.studies import ImageRef
from kernel.i18n import N_


class SeriesRef(msgspec.Struct, frozen=True):
    """One series in the strip shown first: its label, first image and image count."""

    series_uid: str
    label: str
    first: int
    count: int


class Preset(msgspec.Struct, frozen=True):
    """A window preset: ``window=center,width`` on the rendered frame (WADO-RS)."""

    key: str
    label: str
    window: str


# CT window presets in Hounsfield units (center, width), as radiology reading rooms use them.
CT_PRESETS = (
    Preset("soft", N_("Soft tissue"), "40,400"),
    Preset("lung", N_("Lung"), "-600,1500"),
    Preset("bone", N_("Bone"), "400,1800"),
    Preset("brain", N_("Brain"), "40,80"),
)


class TouchViewer(msgspec.Struct, frozen=True):
    """Everything the touch viewer's template needs, whoever the reader is."""

    wado: str  # the study's WADO-RS base, e.g. /dicomweb/studies/{uid}
    images: list[ImageRef]
    series: list[SeriesRef]
    presets: tuple[Preset, ...]
    full_viewer: str | None  # a desktop viewer for this reader, if there is one


def series_of(images: list[ImageRef]) -> list[SeriesRef]:
    """The series in the order their images come (images are grouped by series)."""
    found: list[SeriesRef] = []
    for n, image in enumerate(images):
        if found and found[-1].series_uid == image.series_uid:
            last = found[-1]
            found[-1] = SeriesRef(last.series_uid, last.label, last.first, last.count + 1)
        else:
            found.append(SeriesRef(image.series_uid, image.series_label, n, 1))
    return found


def touch_viewer(
    wado: str, images: list[ImageRef], modalities: str, full_viewer: str | None
) -> TouchViewer:
    presets = CT_PRESETS if "CT" in modalities.split("\\") else ()
    return TouchViewer(wado, images, series_of(images), presets, full_viewer)
