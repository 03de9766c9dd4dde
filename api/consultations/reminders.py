"""The reminder before a consultation's start (SPEC 3.6): a ``Timer`` row written in the
transaction that sets the time, cancelled in the one that ends the consultation. The
scheduled sweep (``flows/timers.py``) turns a due one into a ``notify`` outbox row.
"""

from __future__ import annotations

from datetime import datetime

from api.consultations import access
from api.consultations.steps import CASE, REMINDER, notify
from states.consultation import ConsultationState
from store.tables import Consultation
from store.uow import UnitOfWork
from store.zones import hospital_zone

STILL_AHEAD = (
    ConsultationState.reviewing,
    ConsultationState.scheduled,
    ConsultationState.in_progress,
)


async def starts_at(at: datetime, hospital_id: int) -> str:
    """The start as the applicant hospital's clock shows it, with its zone, the same in
    every language: "2026-12-08 09:30 (Asia/Shanghai)"."""
    zone = await hospital_zone(hospital_id)
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})"


async def send_reminder(uow: UnitOfWork, consultation_id: int, timer_id: int) -> bool:
    """A due reminder: one ``notify`` outbox row to the people taking part, saying when it
    starts, unless the consultation ended meanwhile (withdrawn, rejected, cancelled,
    finished)."""
    row = (
        await Consultation.select(
            Consultation.state, Consultation.scheduled_at, Consultation.hospital
        )
        .where(Consultation.id == consultation_id)
        .first()
    )
    if row is None or row["state"] not in STILL_AHEAD:
        return False
    people = await access.people_of(consultation_id)
    await notify(
        uow,
        consultation_id,
        REMINDER,
        people,
        key=f"notify-consultation-{consultation_id}-reminder-{timer_id}",
        details={"starts_at": await starts_at(row["scheduled_at"], row["hospital"])},
    )
    # The applicant hospital's row (its administrator's log shows it); the detail is read in
    # the reader's language (ui/labels/audit.py DETAILS).
    await uow.audit(
        "consultation.reminder",
        CASE,
        consultation_id,
        detail=f"{len(people)} people reminded",
        hospital_id=row["hospital"],
    )
    return True
