"""The list's column choice, per user and persisted (``ListPreference`` ``"<user>:exams"``)."""

from __future__ import annotations

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


def _pref_key(actor: Actor) -> str:
    return f"{actor.user_id}:{LIST_NAME}"


async def get_columns(actor: Actor) -> ColumnPrefs:
    row = (
        await ListPreference.select(ListPreference.columns)
        .where(ListPreference.pref_key == _pref_key(actor))
        .first()
    )
    chosen = msgspec.json.decode(row["columns"]) if row and row["columns"] else []
    chosen = [c for c in chosen if c in COLUMNS] or list(DEFAULT_COLUMNS)
    return ColumnPrefs(columns=chosen, available=list(COLUMNS), default=list(DEFAULT_COLUMNS))


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
    key = _pref_key(actor)
    async with unit_of_work(ctx) as uow:
        updated = (
            await ListPreference.update(
                {
                    ListPreference.columns: encoded,
                    ListPreference.version: ListPreference.version + 1,
                }
            )
            .where(ListPreference.pref_key == key)
            .returning(ListPreference.id)
        )
        if not updated:
            await ListPreference.insert(
                ListPreference(pref_key=key, user=actor.user_id, columns=encoded)
            )
        await uow.audit("exam.columns", "list_preference", key, detail=",".join(columns))
    return await get_columns(actor)
