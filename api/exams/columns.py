"""The list's column choice and row height, per user and persisted (``ListPreference``
``"<user>:exams"``)."""

from __future__ import annotations

from typing import Any

import msgspec

from api.exams.schemas import ColumnPrefs
from api.management.service import actor_of
from kernel.errors import BadRequest
from kernel.i18n import Listed
from store.tables import ListPreference
from store.uow import Actor, Ctx, unit_of_work

COLUMNS = (
    "patient_name",
    "patient_sex",
    "patient_age",
    "patient_id",
    "accession_number",
    "his_number",
    "id_number",
    "check_item",
    "device_type",
    "body_part",
    "exam_category",
    "scanning_method",
    "department",
    "hospital",
    "exam_time",
    "print_time",
    "status",
)
DEFAULT_COLUMNS = [
    "patient_name",
    "patient_sex",
    "patient_age",
    "device_type",
    "check_item",
    "exam_time",
    "status",
    "hospital",
]
LIST_NAME = "exams"
DENSITIES = ("normal", "compact")


def _pref_key(actor: Actor) -> str:
    return f"{actor.user_id}:{LIST_NAME}"


async def get_columns(actor: Actor) -> ColumnPrefs:
    row = (
        await ListPreference.select(ListPreference.columns, ListPreference.density)
        .where(ListPreference.pref_key == _pref_key(actor))
        .first()
    )
    chosen = msgspec.json.decode(row["columns"]) if row and row["columns"] else []
    chosen = [c for c in chosen if c in COLUMNS] or list(DEFAULT_COLUMNS)
    density = row["density"] if row and row["density"] in DENSITIES else DENSITIES[0]
    return ColumnPrefs(
        columns=chosen, available=list(COLUMNS), default=list(DEFAULT_COLUMNS), density=density
    )


async def _save(ctx: Ctx, values: dict[Any, Any], action: str, detail: str) -> None:
    """Update the user's preference row, or insert it with ``values`` (the rest default)."""
    actor = actor_of(ctx)
    key = _pref_key(actor)
    async with unit_of_work(ctx) as uow:
        updated = (
            await ListPreference.update(
                {**values, ListPreference.version: ListPreference.version + 1}
            )
            .where(ListPreference.pref_key == key)
            .returning(ListPreference.id)
        )
        if not updated:
            row = ListPreference(pref_key=key, user=actor.user_id)
            for column, value in values.items():
                setattr(row, column._meta.name, value)
            await ListPreference.insert(row)
        await uow.audit(action, "list_preference", key, detail=detail)


async def set_density(ctx: Ctx, density: str) -> ColumnPrefs:
    """The list's row height: normal or compact (radiologists' worklists)."""
    if density not in DENSITIES:
        raise BadRequest(
            "The row height is one of {densities}, not {density!r}.",
            densities=Listed(DENSITIES),
            density=density[:30],
        )
    await _save(ctx, {ListPreference.density: density}, "exam.density", density)
    return await get_columns(actor_of(ctx))


async def set_columns(ctx: Ctx, columns: list[str]) -> ColumnPrefs:
    actor = actor_of(ctx)
    unknown = [c for c in columns if c not in COLUMNS]
    if unknown:
        raise BadRequest(
            "Unknown columns: {unknown}. Choose from: {columns}.",
            unknown=Listed(c[:30] for c in unknown[:5]),
            columns=Listed(COLUMNS),
        )
    if not columns:
        raise BadRequest("Choose at least one column.")
    if len(set(columns)) != len(columns):
        raise BadRequest("Each column may be chosen once.")
    encoded = msgspec.json.encode(columns).decode()
    await _save(ctx, {ListPreference.columns: encoded}, "exam.columns", ",".join(columns))
    return await get_columns(actor)
