"""The one place that decides which rows an actor may see (issue: scoping in one place).

Every read of a hospital-owned table goes through ``visible``/``get_visible``:
- an alliance admin sees the hospitals of his alliance and what they own;
- a hospital admin or a doctor sees his own hospital only;
- later processes widen the view explicitly: ``visible_images`` adds the studies shared
  with the actor's hospital by an open remote diagnosis request (SPEC 2.2: the diagnosing
  hospital reads exactly those images), for the viewer paths only (DICOMweb, mobile).
A row outside the scope is reported as not found, so its existence does not leak.
"""

from __future__ import annotations

from typing import Any, TypeVar

from piccolo.columns.combination import Where, WhereRaw
from piccolo.table import Table

from aimis.errors import NotFound
from store.tables import AuditLog, Hospital, Instance, Series, Study
from store.uow import Actor

T = TypeVar("T", bound=Table)

NOTHING = WhereRaw("1 = 0")


def hospital_ids_clause(table: type[Table], actor: Actor) -> Where | WhereRaw | Any:
    """A where-clause limiting ``table`` (Hospital, or any table with a ``hospital`` column)."""
    if table is Hospital:
        if actor.kind == "alliance_admin" and actor.alliance_id is not None:
            return Hospital.alliance == actor.alliance_id
        if actor.hospital_id is not None:
            return Hospital.id == actor.hospital_id
        return NOTHING
    hospital_col = table._meta.get_column_by_name("hospital")
    if actor.kind == "alliance_admin" and actor.alliance_id is not None:
        return hospital_col.alliance == actor.alliance_id  # type: ignore[attr-defined]
    if actor.hospital_id is not None:
        return hospital_col == actor.hospital_id
    return NOTHING


def visible(table: type[T], actor: Actor, *columns: Any) -> Any:
    """``SELECT`` from ``table`` limited to what ``actor`` may see."""
    return table.select(*columns).where(hospital_ids_clause(table, actor))


# Studies of other hospitals shared with hospital {} by a remote diagnosis request that is
# not rejected or cancelled: ``examination.shared_with``, kept by database triggers on
# diagnosis_request (the rule of store.examinations.examination_branches). One small
# subquery on the (shared_with, exam_time, id) index, read once per statement; a study's
# own-hospital rows still pass on the plain hospital test.
_SHARED_STUDIES = (
    "SELECT examination.study FROM examination WHERE examination.shared_with = {} "
    "AND examination.study IS NOT NULL AND examination.deleted_at IS NULL"
)
_STUDY_COLUMN = {Study: "study.id", Series: "series.study", Instance: "instance.study"}


def images_clause(table: type[Table], actor: Actor) -> Where | WhereRaw | Any:
    """``hospital_ids_clause`` for studies, series and instances, widened by the studies
    shared with the actor's hospital for remote diagnosis."""
    own = hospital_ids_clause(table, actor)
    if actor.hospital_id is None or table not in _STUDY_COLUMN:
        return own
    shared = WhereRaw(f"{_STUDY_COLUMN[table]} IN ({_SHARED_STUDIES})", actor.hospital_id)
    return own | shared


def visible_images(table: type[T], actor: Actor, *columns: Any) -> Any:
    """``SELECT`` of images (Study, Series, Instance) the actor may view: his hospital's and
    those shared with it by an open remote diagnosis request. Only for reading images;
    managing them (archive, deletion, migration) stays with the owning hospital."""
    return table.select(*columns).where(images_clause(table, actor))


async def get_visible(table: type[T], row_id: int, actor: Actor, what: str) -> dict[str, Any]:
    row = await visible(table, actor).where(table._meta.primary_key == row_id).first()
    if row is None:
        raise NotFound(f"No {what} with id {row_id} exists, or it belongs to another hospital.")
    return row


async def can_see_hospital(actor: Actor, hospital_id: int) -> bool:
    return bool(
        await Hospital.exists().where(
            hospital_ids_clause(Hospital, actor), Hospital.id == hospital_id
        )
    )


async def audit_clause(actor: Actor) -> Where | WhereRaw | Any:
    """Audit rows an admin may read (SPEC 8.10): a hospital admin those of his hospital; an
    alliance admin those written by his alliance's accounts or about its hospitals."""
    if actor.kind == "alliance_admin" and actor.alliance_id is not None:
        rows = await Hospital.select(Hospital.id).where(Hospital.alliance == actor.alliance_id)
        clause = AuditLog.alliance_id == actor.alliance_id
        ids = [r["id"] for r in rows]
        return clause | AuditLog.hospital_id.is_in(ids) if ids else clause
    if actor.kind == "hospital_admin" and actor.hospital_id is not None:
        return AuditLog.hospital_id == actor.hospital_id
    return NOTHING
