"""The ``meeting.create`` outbox row: the audio/video meeting of a started consultation
(SPEC 3.4). ``flows.consultation.create_meeting`` does the work and is idempotent."""

from __future__ import annotations

from flows.consultation import create_meeting
from flows.outbox import PermanentFailure, payload_of
from flows.runs import outbox_flow, retrying


@retrying
async def consultation_of(outbox_id: int) -> int:
    return int((await payload_of(outbox_id))["consultation_id"])


@retrying
async def store_meeting_link(consultation_id: int) -> None:
    try:
        await create_meeting(consultation_id)
    except LookupError as exc:  # no such consultation: no retry will make one
        raise PermanentFailure(str(exc)) from None


@outbox_flow("create-meeting")
async def create_consultation_meeting(outbox_id: int) -> None:
    await store_meeting_link(await consultation_of(outbox_id))
