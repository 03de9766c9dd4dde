"""The ``meeting.create`` outbox row: the audio/video meeting of a started consultation
(SPEC 3.4). ``flows.consultation.create_meeting`` does the work and is idempotent."""

from __future__ import annotations

import msgspec
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.consultation import create_meeting
from flows.outbox import PermanentFailure, worth_retrying
from flows.runs import outbox_flow
from store.tables import Outbox


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)
async def consultation_of(outbox_id: int) -> int:
    row = await Outbox.select(Outbox.payload).where(Outbox.id == outbox_id).first()
    if row is None:
        raise PermanentFailure(f"outbox row {outbox_id} does not exist")
    return int(msgspec.json.decode(row["payload"])["consultation_id"])


@task(
    retries=3,
    retry_delay_seconds=[2, 5, 15],
    retry_condition_fn=worth_retrying,
    cache_policy=NO_CACHE,
)
async def store_meeting_link(consultation_id: int) -> None:
    try:
        await create_meeting(consultation_id)
    except LookupError as exc:  # no such consultation: no retry will make one
        raise PermanentFailure(str(exc)) from None


@outbox_flow("create-meeting")
async def create_consultation_meeting(outbox_id: int) -> None:
    await store_meeting_link(await consultation_of(outbox_id))
