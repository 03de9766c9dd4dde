"""Side effects of the consultation process, run by the outbox dispatcher (SPEC 3.4).

``create_meeting`` is the ``meeting.create`` outbox row's work: it takes an id, opens its
own transaction, and is idempotent — a second run (the dispatcher delivers at least once)
returns the link the first one stored and publishes nothing new.
"""

from __future__ import annotations

import secrets

from kernel.settings import ConsultationSettings
from store.tables import Consultation
from store.uow import Ctx, unit_of_work

MEETING_TEMPLATE_ENV = "AIMIS_MEETING_URL_TEMPLATE"  # ConsultationSettings.meeting_url_template


def meeting_url(consultation_id: int, template: str | None = None) -> str:
    """The meeting provider's link (``AIMIS_MEETING_URL_TEMPLATE``), "" while none is
    configured. The settings are read afresh, not from the process-wide cache: a meeting is
    created rarely, and a changed template then applies to the next one (the tests change
    it within one process)."""
    template = template or ConsultationSettings().meeting_url_template
    if not template.strip():
        return ""
    try:
        return template.format(consultation_id=consultation_id, token=secrets.token_hex(8))
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"{MEETING_TEMPLATE_ENV}={template!r} may use only {{consultation_id}} and "
            f"{{token}}: {exc}"
        ) from None


async def create_meeting(consultation_id: int) -> str:
    """Create the meeting link of a started consultation, store it, tell the room. Without
    a configured provider there is no link to make: the room says so (nothing to retry)."""
    url = meeting_url(consultation_id)
    if not url:
        return ""
    async with unit_of_work(Ctx(ip="", user_agent="aimis dispatcher")) as uow:
        stored = (
            await Consultation.update({Consultation.meeting_url: url})
            .where(Consultation.id == consultation_id, Consultation.meeting_url == "")
            .returning(Consultation.id)
        )
        if not stored:
            row = (
                await Consultation.select(Consultation.meeting_url)
                .where(Consultation.id == consultation_id)
                .first()
            )
            if row is None:
                raise LookupError(f"No consultation with id {consultation_id} exists.")
            return str(row["meeting_url"])
        await uow.event(
            f"case:consultation:{consultation_id}",
            "consultation.meeting_ready",
            {
                "case_type": "consultation",
                "case_id": consultation_id,
                "event": "meeting_ready",
                "meeting_url": url,
            },
        )
        await uow.audit("consultation.meeting_ready", "consultation", consultation_id, detail=url)
    return url
