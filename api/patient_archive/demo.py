"""The demo's cloud film (issue 15): City People's Hospital shows a patient her films once
the report is reviewed and lets her download them; the East District centre shows them at
once and also matches by phone. Xishan has no cloud-film module. Idempotent: a hospital
whose row exists keeps it."""

from __future__ import annotations

from store.db import transaction
from store.tables import CloudFilmRule
from store.uow import now

DEMO_RULES = {
    # code: (enabled, visible_when, hours, match_by_phone, allow_download)
    "CITY": (True, "after_review", 0, False, True),
    "EAST": (True, "at_once", 0, True, False),
}


async def load_demo_cloud_film(hospital_ids: dict[str, int]) -> None:
    async with transaction():
        for code, (enabled, when, hours, phone, download) in DEMO_RULES.items():
            if code not in hospital_ids:
                continue
            await CloudFilmRule.insert(
                CloudFilmRule(
                    hospital=hospital_ids[code],
                    enabled=enabled,
                    visible_when=when,
                    visible_hours=hours,
                    match_by_phone=phone,
                    allow_download=download,
                    updated_at=now(),
                )
            ).on_conflict(target=CloudFilmRule.hospital, action="DO NOTHING")
