"""The reminder before a consultation's start (SPEC 3.6): a ``Timer`` row written in the
transaction that sets the time, cancelled in the one that ends the consultation. The
scheduled sweep (``flows/timers.py``) turns a due one into a ``notify`` outbox row.
"""

from __future__ import annotations

from api.consultations import access
from api.consultations.steps import CASE, REMINDER, notify
from states.consultation import ConsultationState
from store.tables import Consultation
from store.uow import UnitOfWork

STILL_AHEAD = (
    ConsultationState.reviewing,
    ConsultationState.scheduled,
    ConsultationState.in_progress,
)


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
