"""The cloud-film rule an examination follows (SPEC 8.7), and when a match under it becomes
visible: the check item's own rule (``CheckItem.cloud_film*``), else the hospital's
``CloudFilmRule`` row; nothing at a hospital without the cloud-film module. Read by the
admin's service (``rules``), by ``visibility`` and by ``matching``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

from kernel.domain import Module
from store.tables import CheckItem, CloudFilmRule, Hospital

AT_ONCE, AFTER_REVIEW, AFTER_HOURS = "at_once", "after_review", "after_hours"


@dataclass(frozen=True)
class Rule:
    enabled: bool
    when: str
    hours: int = 0


OFF = Rule(False, AFTER_REVIEW)


async def hospital_has_cloud_film(hospital_id: int) -> bool:
    row = (
        await Hospital.select(Hospital.modules, Hospital.active)
        .where(Hospital.id == hospital_id)
        .first()
    )
    if row is None or not row["active"]:
        return False
    return Module.cloud_film.value in msgspec.json.decode(row["modules"] or "[]")


async def stored_default(hospital_id: int) -> dict[str, Any] | None:
    """The hospital's row without creating it (reads in the flows)."""
    return await CloudFilmRule.select().where(CloudFilmRule.hospital == hospital_id).first()


async def rule_for(hospital_id: int, check_item_id: int | None) -> Rule:
    """The rule an examination of ``hospital_id`` with this check item follows."""
    if not await hospital_has_cloud_film(hospital_id):
        return OFF
    if check_item_id is not None:
        item = (
            await CheckItem.select(
                CheckItem.cloud_film, CheckItem.cloud_film_visible, CheckItem.cloud_film_hours
            )
            .where(CheckItem.id == check_item_id, CheckItem.hospital == hospital_id)
            .first()
        )
        if item is not None:
            return Rule(
                bool(item["cloud_film"]), item["cloud_film_visible"], item["cloud_film_hours"]
            )
    row = await stored_default(hospital_id)
    if row is None:
        return OFF
    return Rule(bool(row["enabled"]), row["visible_when"], row["visible_hours"])


def visible_from(
    rule: Rule, *, matched_at: datetime, exam_time: datetime, reviewed_at: datetime | None
) -> datetime | None:
    """When a match under ``rule`` becomes visible; None: not (yet) — off, or waiting for
    the review."""
    if not rule.enabled:
        return None
    if rule.when == AT_ONCE:
        return matched_at
    if rule.when == AFTER_HOURS:
        return exam_time + timedelta(hours=rule.hours)
    return reviewed_at
