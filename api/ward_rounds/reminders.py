"""The ward round's timers as the sweep (``flows/timers.py``) fires them: the reminder before
the start (to the applicant and the experts, once per configured lead time: each firing sets
the next), the start at its time (a round nobody started starts by itself), and the overrun
(a round still in progress long after its start tells the people taking part)."""

from __future__ import annotations

from api.consultations.reminders import starts_at
from api.ward_rounds import service
from api.ward_rounds.access import people_of
from api.ward_rounds.steps import CASE, REMINDER, next_reminder
from states.ward_round import WardRoundState
from store.tables import WardRound
from store.timers import keep_timer
from store.uow import UnitOfWork, now


async def _notify(
    uow: UnitOfWork, ward_round_id: int, event: str, timer_id: int, details: dict[str, str]
) -> list[int]:
    people = await people_of(ward_round_id)
    await uow.outbox(
        "notify",
        {
            "business_type": CASE,
            "event": event,
            "case_type": CASE,
            "case_id": ward_round_id,
            "user_ids": people,
            "link": f"/ward-rounds/{ward_round_id}",
            **details,
        },
        key=f"notify-{CASE}-{ward_round_id}-{event}-{timer_id}",
    )
    return people


async def send_reminder(uow: UnitOfWork, ward_round_id: int, timer_id: int) -> bool:
    row = (
        await WardRound.select(WardRound.state, WardRound.scheduled_at, WardRound.hospital)
        .where(WardRound.id == ward_round_id)
        .first()
    )
    if row is None or row["state"] != WardRoundState.scheduled:
        return False
    at = await starts_at(row["scheduled_at"], row["hospital"])
    people = await _notify(uow, ward_round_id, "reminder", timer_id, {"starts_at": at})
    await keep_timer(CASE, ward_round_id, REMINDER, next_reminder(row["scheduled_at"], now()))
    await uow.audit(
        "ward_round.reminder",
        CASE,
        ward_round_id,
        detail=f"{len(people)} people reminded",
        hospital_id=row["hospital"],
    )
    return True


async def start(uow: UnitOfWork, ward_round_id: int, _timer_id: int) -> bool:
    return await service.system_start(uow.ctx, ward_round_id)


async def overrun(uow: UnitOfWork, ward_round_id: int, timer_id: int) -> bool:
    row = (
        await WardRound.select(WardRound.state, WardRound.hospital)
        .where(WardRound.id == ward_round_id)
        .first()
    )
    if row is None or row["state"] != WardRoundState.in_progress:
        return False
    people = await _notify(uow, ward_round_id, "overrun", timer_id, {})
    await uow.audit(
        "ward_round.overrun",
        CASE,
        ward_round_id,
        detail=f"{len(people)} people told",
        hospital_id=row["hospital"],
    )
    return True
