"""The reminder before a consultation's start (SPEC 3.6): a ``Timer`` row written in the
transaction that sets the time, cancelled in the one that ends the consultation. The
scheduled sweep (``flows/timers.py``) turns a due one into a ``notify`` outbox row.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from api.consultations import access
from api.consultations.steps import CASE, notify
from kernel.settings import get_settings
from states.consultation import ConsultationState
from store.tables import Consultation, Timer
from store.uow import UnitOfWork, now

REMINDER = "reminder"
STILL_AHEAD = (
    ConsultationState.reviewing,
    ConsultationState.scheduled,
    ConsultationState.in_progress,
)


def _open_reminders(consultation_id: int) -> tuple:
    return (
        Timer.case_type == CASE,
        Timer.case_id == consultation_id,
        Timer.kind == REMINDER,
        Timer.fired_at.is_null(),
        Timer.cancelled == False,  # noqa: E712
    )


async def schedule_reminder(consultation_id: int, starts_at: datetime) -> None:
    """Remind ``AIMIS_CONSULTATION_REMINDER_MINUTES`` before the start (at once when the
    start is nearer than that); a start already past gets no reminder. A pending reminder
    of the consultation is replaced."""
    await cancel_reminder(consultation_id)
    if starts_at <= now():
        return
    lead = timedelta(minutes=get_settings().consultation.reminder_minutes)
    await Timer.insert(
        Timer(case_type=CASE, case_id=consultation_id, kind=REMINDER, due_at=starts_at - lead)
    )


async def cancel_reminder(consultation_id: int) -> None:
    await Timer.update({Timer.cancelled: True}).where(*_open_reminders(consultation_id))


async def send_reminder(uow: UnitOfWork, consultation_id: int, timer_id: int) -> bool:
    """A due reminder: one ``notify`` outbox row to the people taking part, unless the
    consultation ended meanwhile (withdrawn, rejected, cancelled, finished)."""
    row = (
        await Consultation.select(Consultation.state)
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
    )
    await uow.audit(
        "consultation.reminder", CASE, consultation_id, detail=f"{len(people)} people reminded"
    )
    return True
