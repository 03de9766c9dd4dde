"""Find the stored instances a WADO-RS request names, as the caller may see them.

A study of another hospital, a soft-deleted study and a superseded instance are "not
found"; a study whose files are in the archive tier is a 409 that says how to get it back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.crud import from_row
from api.dicomweb.access import Reader, StudyScope, images
from kernel.errors import Conflict, NotFound
from store import files
from store.scoping import patient_hospital_ids
from store.sql import instance_read
from store.tables import Instance

ARCHIVED_TIERS = ("archive", "restoring")


@dataclass(frozen=True, slots=True)
class Stored:
    id: int
    hospital_id: int
    study_id: int
    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str
    transfer_syntax: str
    frames: int
    sha256: str
    storage_path: str

    @property
    def path(self) -> Path:
        return files.online_path(self.storage_path)


def archived_message(study_uid: str, tier: str) -> str:
    if tier == "restoring":
        return (
            f"The study {study_uid} is archived and is being restored right now; "
            "try again when the retrieval is available."
        )
    return (
        f"The study {study_uid} is archived: its images are in the archive tier and cannot be "
        "retrieved directly. An administrator can request a retrieval (Data management)."
    )


# The columns ``stored_of`` reads (on an ``Instance`` select).
STORED_COLUMNS = (
    Instance.id,
    Instance.hospital,
    Instance.study,
    Instance.study.study_uid,
    Instance.study.tier,
    Instance.series.series_uid,
    Instance.sop_uid,
    Instance.sop_class_uid,
    Instance.transfer_syntax,
    Instance.frames,
    Instance.sha256,
    Instance.storage_path,
)


def stored_of(row: dict) -> Stored:
    """A row of ``STORED_COLUMNS`` as a ``Stored``; 409 when its study is archived."""
    if row["study.tier"] in ARCHIVED_TIERS:
        raise Conflict(archived_message(row["study.study_uid"], row["study.tier"]))
    return from_row(
        Stored,
        row,
        hospital_id=row["hospital"],
        study_id=row["study"],
        study_uid=row["study.study_uid"],
        series_uid=row["series.series_uid"],
    )


async def stored_instances(
    reader: Reader, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None
) -> list[Stored]:
    """The current instances of a study, series or one instance, ordered for display."""
    query = images(Instance, reader, *STORED_COLUMNS).where(
        Instance.study.study_uid == study_uid,
        Instance.superseded == False,  # noqa: E712
    )
    if series_uid is not None:
        query = query.where(Instance.series.series_uid == series_uid)
    if sop_uid is not None:
        query = query.where(Instance.sop_uid == sop_uid)
    rows = await query.order_by(Instance.series.series_number, Instance.series).order_by(
        Instance.instance_number, Instance.id
    )
    if not rows:
        what = (
            f"instance {sop_uid}"
            if sop_uid
            else f"series {series_uid}"
            if series_uid
            else f"study {study_uid}"
        )
        raise NotFound(f"No {what} exists in this study, or you may not see it.")
    return [stored_of(row) for row in rows]


def _own(reader: Reader, row: dict) -> bool:
    """Would the scope rule show ``row`` to ``reader`` as his own (his hospital's, or the one
    study of a share link), not deleted? Anything else is left to ``images_clause``."""
    if row["study.deleted_at"] is not None:
        return False
    if isinstance(reader, StudyScope):
        return bool(row["study"] == reader.study_id)
    return row["hospital"] in patient_hospital_ids(reader)


async def stored_instance(reader: Reader, study_uid: str, series_uid: str, sop_uid: str) -> Stored:
    """One current instance, as ``stored_instances(reader, study, series, sop)[0]``: one plain
    statement (``store.sql.instance_read``) when every row of those UIDs is the reader's own
    (the common case); otherwise the full scope rule decides (shared studies, consultations,
    another hospital's: not found)."""
    rows = await instance_read.CURRENT_BY_UIDS.fetch(
        study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid
    )
    if rows and all(_own(reader, r) for r in rows):
        return stored_of(rows[0])
    return (await stored_instances(reader, study_uid, series_uid, sop_uid))[0]
