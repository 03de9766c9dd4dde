"""Cloud-film rules (SPEC 8.7): whether a hospital's examination reaches its patient's
archive, and when.

- The check type is the check item (SPEC 8.5/8.7, ``CheckItem``): each carries its rule
  (``cloud_film`` on/off, ``cloud_film_visible``: ``at_once`` | ``after_review`` |
  ``after_hours`` with ``cloud_film_hours``), edited here and on the dictionary page, both
  with the row's version. An examination without a check item follows the hospital's own
  row (``CloudFilmRule``), which also says whether examinations may be matched by phone and
  whether patients may download the originals (SPEC 10.6).
- Nothing is visible at a hospital that has not switched the cloud-film module on.
- Reads and edits are the hospital admin's, of his own hospital; another hospital's check
  item is "not found". The alliance admin sees counts per hospital only (``overview``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from api.crud import versioned_update
from api.dictionaries.dictionaries import _cloud_film as check_visibility
from api.management.service import own_hospital
from api.patient_archive import visibility
from api.patient_archive.policy import AFTER_HOURS, hospital_has_cloud_film, stored_default
from api.patient_archive.schemas import (
    CheckItemRule,
    CheckItemRuleUpdate,
    DefaultRule,
    DefaultRuleUpdate,
    HospitalFigures,
    RulesRead,
)
from kernel.domain import Module
from kernel.errors import Forbidden, NotFound
from kernel.i18n import N_
from store.db import transaction
from store.tables import CheckItem, CloudFilmRule, Hospital, PatientMatch
from store.uow import Actor, Ctx, now, unit_of_work


async def default_rule_row(hospital_id: int) -> dict[str, Any]:
    """The hospital's own row, created (off) the first time it is asked for."""
    row = await stored_default(hospital_id)
    if row is not None:
        return row
    async with transaction():
        await CloudFilmRule.insert(
            CloudFilmRule(hospital=hospital_id, updated_at=now())
        ).on_conflict(target=CloudFilmRule.hospital, action="DO NOTHING")
    row = await CloudFilmRule.select().where(CloudFilmRule.hospital == hospital_id).first()
    assert row is not None
    return row


# --- the hospital admin's page and API ---------------------------------------------------


def _hospital_admin(actor: Actor) -> int:
    if actor.kind != "hospital_admin":
        raise Forbidden(
            "Only a hospital administrator edits his hospital's cloud-film rules; an "
            "alliance administrator sees how many patients each hospital reaches."
        )
    return own_hospital(actor)


async def _counts(hospital_id: int) -> dict[int | None, tuple[int, int]]:
    """Per check item (None: none): live matches, and distinct patients notified."""
    rows = await PatientMatch.select(
        PatientMatch.examination.check_item.as_alias("item"),
        PatientMatch.person,
        PatientMatch.notified_at,
    ).where(
        PatientMatch.hospital == hospital_id,
        PatientMatch.unmatched_at.is_null(),
        PatientMatch.examination.deleted_at.is_null(),
    )
    matched: dict[int | None, int] = {}
    notified: dict[int | None, set[int]] = {}
    for r in rows:
        matched[r["item"]] = matched.get(r["item"], 0) + 1
        if r["notified_at"] is not None:
            notified.setdefault(r["item"], set()).add(int(r["person"]))
    return {k: (n, len(notified.get(k, set()))) for k, n in matched.items()}


async def read_rules(actor: Actor) -> RulesRead:
    hospital_id = _hospital_admin(actor)
    default = await default_rule_row(hospital_id)
    counts = await _counts(hospital_id)
    items = (
        await CheckItem.select(
            CheckItem.id,
            CheckItem.code,
            CheckItem.name,
            CheckItem.device_type.code.as_alias("device_type_code"),
            CheckItem.cloud_film,
            CheckItem.cloud_film_visible,
            CheckItem.cloud_film_hours,
            CheckItem.active,
            CheckItem.version,
        )
        .where(CheckItem.hospital == hospital_id)
        .order_by(CheckItem.code)
        .order_by(CheckItem.id)
    )
    return RulesRead(
        module_on=await hospital_has_cloud_film(hospital_id),
        default=DefaultRule(
            enabled=default["enabled"],
            visible_when=default["visible_when"],
            visible_hours=default["visible_hours"],
            match_by_phone=default["match_by_phone"],
            allow_download=default["allow_download"],
            version=default["version"],
            matched=counts.get(None, (0, 0))[0],
            notified=counts.get(None, (0, 0))[1],
        ),
        check_items=[
            CheckItemRule(
                id=i["id"],
                code=i["code"],
                name=i["name"],
                device_type_code=i["device_type_code"] or "",
                enabled=i["cloud_film"],
                visible_when=i["cloud_film_visible"],
                visible_hours=i["cloud_film_hours"],
                active=i["active"],
                version=i["version"],
                matched=counts.get(i["id"], (0, 0))[0],
                notified=counts.get(i["id"], (0, 0))[1],
            )
            for i in items
        ],
    )


def _detail(enabled: bool, when: str, hours: int) -> str:
    if not enabled:
        return "off"
    return f"{when} {hours} h" if when == AFTER_HOURS else when


async def update_default(ctx: Ctx, data: DefaultRuleUpdate) -> RulesRead:
    assert ctx.actor is not None
    hospital_id = _hospital_admin(ctx.actor)
    check_visibility(data.visible_when, data.visible_hours)
    row = await default_rule_row(hospital_id)
    async with unit_of_work(ctx) as uow:
        await versioned_update(
            CloudFilmRule,
            int(row["id"]),
            {
                CloudFilmRule.enabled: data.enabled,
                CloudFilmRule.visible_when: data.visible_when,
                CloudFilmRule.visible_hours: data.visible_hours,
                CloudFilmRule.match_by_phone: data.match_by_phone,
                CloudFilmRule.allow_download: data.allow_download,
                CloudFilmRule.updated_at: now(),
            },
            data.version,
            N_("cloud-film rule"),
        )
        moved = await visibility.reschedule(hospital_id, None)
        detail = (
            f"examinations without a check item: "
            f"{_detail(data.enabled, data.visible_when, data.visible_hours)}; "
            f"match by phone {'on' if data.match_by_phone else 'off'}; "
            f"download {'on' if data.allow_download else 'off'}; {moved} match(es) rescheduled"
        )
        await uow.audit("cloud_film.rule", "cloud_film_rule", row["id"], detail=detail)
    return await read_rules(ctx.actor)


async def update_check_item(ctx: Ctx, item_id: int, data: CheckItemRuleUpdate) -> RulesRead:
    assert ctx.actor is not None
    hospital_id = _hospital_admin(ctx.actor)
    item = (
        await CheckItem.select(CheckItem.id, CheckItem.code)
        .where(CheckItem.id == item_id, CheckItem.hospital == hospital_id)
        .first()
    )
    if item is None:
        raise NotFound(
            "No check item with id {id} exists in your hospital's dictionary.", id=item_id
        )
    check_visibility(data.visible_when, data.visible_hours)
    async with unit_of_work(ctx) as uow:
        await versioned_update(
            CheckItem,
            item_id,
            {
                CheckItem.cloud_film: data.enabled,
                CheckItem.cloud_film_visible: data.visible_when,
                CheckItem.cloud_film_hours: data.visible_hours,
            },
            data.version,
            "check item",
        )
        moved = await visibility.reschedule(hospital_id, item_id)
        detail = (
            f"check item {item['code']}: "
            f"{_detail(data.enabled, data.visible_when, data.visible_hours)}; "
            f"{moved} match(es) rescheduled"
        )
        await uow.audit("cloud_film.rule", "check_item", item_id, detail=detail)
    return await read_rules(ctx.actor)


async def overview(actor: Actor) -> list[HospitalFigures]:
    """The alliance admin's view: per hospital of his alliance, counts only."""
    if actor.kind != "alliance_admin" or actor.alliance_id is None:
        raise Forbidden("Only an alliance administrator sees the alliance's cloud-film figures.")
    hospitals = (
        await Hospital.select(Hospital.id, Hospital.name, Hospital.modules)
        .where(Hospital.alliance == actor.alliance_id)
        .order_by(Hospital.id)
    )
    out = []
    for h in hospitals:
        on = await CheckItem.count().where(
            CheckItem.hospital == h["id"], CheckItem.cloud_film.eq(True), CheckItem.active.eq(True)
        )
        counts = await _counts(int(h["id"]))
        out.append(
            HospitalFigures(
                hospital_id=h["id"],
                name=h["name"],
                module_on=Module.cloud_film.value in msgspec.json.decode(h["modules"] or "[]"),
                check_items_on=on,
                matched=sum(n for n, _ in counts.values()),
                notified=sum(p for _, p in counts.values()),
            )
        )
    return out
