"""The images a share link shows: the current instances of its examination's study only.
Every lookup is by the link's study id *and* the UIDs asked for, so a changed study, series
or instance UID is a 404, never another study's image."""

from __future__ import annotations

from typing import Any

import anyio

from api.dicomweb import rendered
from api.dicomweb.lookup import STORED_COLUMNS, Stored, stored_of
from kernel.errors import NotFound
from store.scoping import study_images
from store.tables import Instance

MAX_IMAGES = 500
JPEG = "image/jpeg"


def _query(study_id: int, *columns: Any) -> Any:
    return study_images(Instance, study_id, *columns).where(
        Instance.superseded == False,  # noqa: E712
    )


async def image_list(study_id: int) -> list[dict[str, Any]]:
    rows = await (
        _query(
            study_id,
            Instance.series.series_uid.as_alias("series_uid"),
            Instance.series.modality.as_alias("modality"),
            Instance.series.series_number.as_alias("series_number"),
            Instance.sop_uid,
            Instance.frames,
        )
        .where(Instance.rows > 0)  # images only: not the report's PDF (``images_in``)
        .order_by(Instance.series.series_number)
        .order_by(Instance.series.id)
        .order_by(Instance.instance_number)
        .order_by(Instance.id)
        .limit(MAX_IMAGES)
    )
    return [dict(r) for r in rows]


async def one(study_id: int, study_uid: str, series_uid: str, sop_uid: str) -> Stored:
    row = (
        await _query(study_id, *STORED_COLUMNS)
        .where(
            Instance.study.study_uid == study_uid,
            Instance.series.series_uid == series_uid,
            Instance.sop_uid == sop_uid,
        )
        .first()
    )
    if row is None:
        raise NotFound("No such image is part of this shared examination.")
    return stored_of(row)


async def picture(stored: Stored, frame: int, thumb: bool) -> bytes:
    if frame < 1 or frame > max(1, stored.frames or 1):
        raise NotFound("No frame {frame} in this image.", frame=frame)
    params = rendered.RenderParams()
    if thumb:
        return await anyio.to_thread.run_sync(rendered.thumbnail_of, stored, JPEG, params)
    return await anyio.to_thread.run_sync(rendered.rendered, stored, frame - 1, JPEG, params)
