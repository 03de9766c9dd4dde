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


async def load_demo_archive(phone: str) -> int:
    """The demo patient's proofs (issue 15): each of her people proves the first stored
    examination with her ID number as a scanned report code would (``qr_match``: the name
    must agree, cloud film must be on); the rest of hers follows automatically. So a new
    user who logs in sees her own examination at City and her father's at East at once.
    Idempotent: a person with a proof is left alone. Returns how many people proved one."""
    from api.patient_archive import matching
    from store.tables import Examination, PatientMatch, PatientPerson
    from store.uow import Ctx

    ctx = Ctx(user_agent="demo")
    persons = await PatientPerson.select(PatientPerson.id, PatientPerson.id_number).where(
        PatientPerson.account.phone == f"86{phone}", PatientPerson.removed_at.is_null()
    )
    proved = 0
    for person in persons:
        if await PatientMatch.exists().where(PatientMatch.person == person["id"]):
            continue
        exam = (
            await Examination.select(Examination.id)
            .where(
                Examination.patient_id_number == person["id_number"],
                Examination.deleted_at.is_null(),
            )
            .order_by(Examination.id)
            .first()
        )
        if exam is None:
            continue
        await matching.qr_match(ctx, int(person["id"]), int(exam["id"]))
        proved += 1
    return proved
