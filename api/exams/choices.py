"""What the examination pages offer to choose from, read by the same rule and scoping as the
API: the hospitals whose examinations the reader sees (``store.examinations``' visibility:
his own and those sharing one with his hospital by an open request), his hospital's
departments, and an editable examination's check items and departments
(``store.scoping.visible``: administrative rows of the reader's hospital)."""

from __future__ import annotations

from typing import Any

from store.examinations import get_examination, visible_hospital_ids
from store.scoping import visible
from store.tables import CheckItem, Department, Examination, Hospital
from store.uow import Actor


async def hospitals(actor: Actor) -> list[dict[str, Any]]:
    """Id and name of every hospital whose examinations ``actor`` sees, by name."""
    ids = set(await visible_hospital_ids(actor))
    if ids and actor.hospital_id is not None:
        shared = await (
            Examination.select(Examination.hospital)
            .where(
                Examination.shared_with == actor.hospital_id,
                Examination.hospital.not_in(list(ids)),
                Examination.deleted_at.is_null(),
            )
            .distinct()
        )
        ids |= {int(s["hospital"]) for s in shared}
    if not ids:
        return []
    return list(
        await Hospital.select(Hospital.id, Hospital.name)
        .where(Hospital.id.is_in(sorted(ids)))
        .order_by(Hospital.name)
    )


async def departments(actor: Actor) -> list[dict[str, Any]]:
    """The departments of the reader's hospital, by name."""
    if actor.hospital_id is None:
        return []
    return list(
        await visible(Department, actor, Department.id, Department.name)
        .where(Department.hospital == actor.hospital_id)
        .order_by(Department.name)
    )


async def edit_choices(actor: Actor, exam_id: int) -> tuple[list[dict[str, Any]], ...]:
    """(check items, departments) an administrator may set on examination ``exam_id``."""
    row = await get_examination(actor, exam_id)
    items = (
        await visible(CheckItem, actor, CheckItem.id, CheckItem.name)
        .where(CheckItem.hospital == row["hospital"], CheckItem.active.eq(True))
        .order_by(CheckItem.name)
    )
    rooms = (
        await visible(Department, actor, Department.id, Department.name)
        .where(Department.hospital == row["hospital"])
        .order_by(Department.name)
    )
    return list(items), list(rooms)
