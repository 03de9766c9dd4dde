"""The studies an actor may see, for the study list and the mobile viewer.

Reads go through ``store.scoping.visible`` (another hospital's study is "not found");
soft-deleted studies and superseded instances never appear. Each list and each opened
study is a read of patient data and is audited (``study.list``, ``study.view``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import msgspec

from kernel.errors import BadRequest, NotFound
from kernel.i18n import N_, Msg
from store.reads import note
from store.scoping import visible, visible_images
from store.tables import Instance, Study
from store.uow import Actor, Ctx

PAGE_SIZE = 50
MAX_IMAGES = 2000  # the mobile page lists at most this many frames of a study
MODALITY = re.compile(r"^[A-Z0-9]{1,16}$")
ARCHIVED_TIERS = ("archive", "restoring")


class StudyFilter(msgspec.Struct, frozen=True):
    """What the study list's form sends; empty strings mean "any"."""

    patient_id: str = ""
    patient_name: str = ""
    date_from: str = ""  # YYYY-MM-DD
    date_to: str = ""
    modality: str = ""
    page: int = 1

    def describe(self) -> str:
        parts = [
            f"{k}={v}"
            for k, v in msgspec.structs.asdict(self).items()
            if v not in ("", 1) or (k == "page" and v != 1)
        ]
        return " ".join(parts)[:300]


class StudyRow(msgspec.Struct, frozen=True):
    id: int
    study_uid: str
    hospital_name: str
    patient_id: str
    patient_name: str
    patient_sex: str
    patient_birth_date: str
    study_date: str
    accession_number: str
    description: str
    modalities: str
    num_series: int
    num_instances: int
    tier: str

    @property
    def viewable(self) -> bool:
        """Its images are online (archived ones need a retrieval first)."""
        return self.tier not in ARCHIVED_TIERS


class StudyPage(msgspec.Struct, frozen=True):
    rows: list[StudyRow]
    page: int
    more: bool


class ImageRef(msgspec.Struct, frozen=True):
    """One image of a study as the mobile viewer shows it: a frame of an instance (every
    frame of a multi-frame instance, such as an ultrasound clip, is an image)."""

    series_uid: str
    sop_uid: str
    frame: int
    frames: int
    series_label: str


class StudyImages(msgspec.Struct, frozen=True):
    study: StudyRow
    images: list[ImageRef]


def _dicom_date(value: str, label: str) -> str:
    if not value:
        return ""
    try:
        return date.fromisoformat(value).strftime("%Y%m%d")
    except ValueError:
        raise BadRequest(
            "{label} must be a date like 2026-11-27, not {value!r}.",
            label=Msg(label),
            value=value,
        ) from None


def _columns() -> list:  # type: ignore[type-arg]
    return [
        Study.id,
        Study.study_uid,
        Study.hospital.name.as_alias("hospital_name"),
        Study.patient_id,
        Study.patient_name,
        Study.patient_sex,
        Study.patient_birth_date,
        Study.study_date,
        Study.accession_number,
        Study.description,
        Study.modalities,
        Study.num_series,
        Study.num_instances,
        Study.tier,
    ]


async def list_studies(ctx: Ctx, actor: Actor, f: StudyFilter) -> StudyPage:
    """One page of visible studies, newest examination first."""
    date_from = _dicom_date(f.date_from, N_("From"))
    date_to = _dicom_date(f.date_to, N_("To"))
    if date_from and date_to and date_from > date_to:
        raise BadRequest("The 'from' date is after the 'to' date.")
    modality = f.modality.strip().upper()
    if modality and not MODALITY.match(modality):
        raise BadRequest(
            "{modality!r} is not a modality code such as CT, MR or US.",
            modality=f.modality,
        )
    page = max(1, f.page)
    query = visible(Study, actor, *_columns())
    if f.patient_id.strip():
        query = query.where(Study.patient_id == f.patient_id.strip())
    name = re.sub(r"[%_\\]", "", f.patient_name.strip()).upper()
    if name:
        query = query.where(Study.patient_name_search.like(f"%{name}%"))
    if date_from:
        query = query.where(Study.study_date >= date_from)
    if date_to:
        query = query.where(Study.study_date <= date_to)
    if modality:
        query = query.where(
            (Study.modalities == modality)
            | Study.modalities.like(f"{modality}\\%")
            | Study.modalities.like(f"%\\{modality}")
            | Study.modalities.like(f"%\\{modality}\\%")
        )
    rows = (
        await query.order_by(Study.study_date, ascending=False)
        .order_by(Study.id, ascending=False)
        .limit(PAGE_SIZE + 1)
        .offset((page - 1) * PAGE_SIZE)
    )
    note(detail=f.describe() or "all")  # audited by the route's declaration (api.phi)
    return StudyPage(
        rows=[msgspec.convert(r, StudyRow) for r in rows[:PAGE_SIZE]],
        page=page,
        more=len(rows) > PAGE_SIZE,
    )


async def study_images(ctx: Ctx, actor: Actor, study_id: int) -> StudyImages:
    """A visible study and its current instances in series and instance order."""
    row = await visible_images(Study, actor).where(Study.id == study_id).first()
    if row is None:
        raise NotFound(
            "No study with id {study_id} exists, or it belongs to another hospital.",
            study_id=study_id,
        )
    study = await visible_images(Study, actor, *_columns()).where(Study.id == study_id).first()
    images = await images_in(visible_images(Instance, actor, *image_columns()), study_id)
    note(hospital_id=row["hospital"])
    return StudyImages(study=msgspec.convert(study, StudyRow), images=images)


async def study_id_of(actor: Actor, study_uid: str) -> int:
    """The id of the visible study with this Study Instance UID (for links that know the UID)."""
    row = (
        await visible_images(Study, actor, Study.id)
        .where(Study.study_uid == study_uid, Study.deleted_at.is_null())
        .first()
    )
    if row is None:
        raise NotFound(
            "No study {uid!r} exists, or it belongs to another hospital.", uid=study_uid[:80]
        )
    return int(row["id"])


def image_columns() -> tuple[Any, ...]:
    """The columns of an ``Instance`` select that ``images_in`` reads."""
    return (
        Instance.series.series_uid.as_alias("series_uid"),
        Instance.series.series_number.as_alias("series_number"),
        Instance.series.modality.as_alias("modality"),
        Instance.series.description.as_alias("series_description"),
        Instance.sop_uid,
        Instance.frames,
        Instance.instance_number,
    )


async def images_in(select: Any, study_id: int) -> list[ImageRef]:
    """The current instances of a study in series and instance order, as images (every
    frame of a multi-frame instance one), at most ``MAX_IMAGES``; ``select`` is whoever's
    select of ``image_columns()`` (a staff actor's visible images, a patient's study).
    Only instances with pixels: an encapsulated PDF (the report's DOC series) or a
    structured report has no frame to draw (``rows`` empty)."""
    instances = await (
        select.where(
            Instance.study == study_id,
            Instance.superseded == False,  # noqa: E712
            Instance.rows > 0,
        )
        .order_by(Instance.series.series_number)
        .order_by(Instance.series.id)
        .order_by(Instance.instance_number)
        .order_by(Instance.id)
    )
    images: list[ImageRef] = []
    for i in instances:
        frames = max(1, i["frames"] or 1)
        label = " ".join(
            str(x)
            for x in (i["modality"], i["series_number"], i["series_description"])
            if x not in (None, "")
        )
        for frame in range(1, min(frames, MAX_IMAGES - len(images)) + 1):
            images.append(ImageRef(i["series_uid"], i["sop_uid"], frame, frames, label))
    return images
