"""The ward-round process's home: creation on the engine (``open_case``), the functions the
names of ``states.ward_round.WARD_ROUND_STEPS`` stand for (the experts and examinations of a
new round, its timers, the meeting link), and the transitions (``step``), watched live by
everybody taking part; the engine writes the history row, the live events, the audit row
and the one ``notify`` outbox row per step (business type ``ward_round``, SPEC 8.8).

Timers (``store.timers``, fired by ``flows/timers.py``): ``reminder`` at the first lead time
of ``AIMIS_WARD_ROUND_REMINDER_MINUTES`` still ahead (each firing sets the next one),
``start`` at the round's time (the system starts a round nobody started), ``overrun`` when
a started round has run ``AIMIS_WARD_ROUND_OVERRUN_MINUTES``. Cancelled or finished, a
round's timers go.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from api.ward_rounds.access import people_of
from kernel.settings import ConsultationSettings, get_settings
from states.ward_round import WARD_ROUND
from store import engine
from store.engine import Done
from store.tables import WardRound, WardRoundExamination, WardRoundExpert
from store.timers import keep_timer
from store.uow import Ctx, UnitOfWork, now

CASE = WARD_ROUND.name
REMINDER = "reminder"
START = "start"
OVERRUN = "overrun"


@dataclass(frozen=True)
class Opening:
    """What a new round's creation needs besides its row."""

    expert_ids: list[int]
    examination_ids: list[int]
    starts_at: datetime
    by: int


def topic(ward_round_id: int) -> str:
    return f"case:{CASE}:{ward_round_id}"


async def user_topics(ward_round_id: int) -> list[str]:
    return [f"user:{uid}" for uid in await people_of(ward_round_id)]


async def open_case(uow: UnitOfWork, values: dict[str, Any], opening: Opening) -> int:
    done = await engine.create(
        uow.ctx,
        WARD_ROUND,
        WardRound,
        values,
        summary={"topic": values["topic"], "experts": len(opening.expert_ids)},
        topics=[f"user:{u}" for u in sorted({opening.by, *opening.expert_ids})],
        facts=opening,
    )
    return done.case_id


async def step(
    ctx: Ctx,
    ward_round_id: int,
    trigger: str,
    facts: Any,
    version: int | None,
    *,
    reason: str = "",
) -> engine.Applied:
    return await engine.apply(
        ctx,
        WARD_ROUND,
        WardRound,
        ward_round_id,
        trigger,
        facts,
        version=version,
        reason=reason,
        topics=await user_topics(ward_round_id),
    )


def next_reminder(starts_at: datetime, at: datetime) -> datetime | None:
    """The next reminder's due time: the first lead time whose moment is still ahead."""
    for minutes in sorted(get_settings().ward_round.reminder_minutes, reverse=True):
        due = starts_at - timedelta(minutes=minutes)
        if due > at:
            return due
    return None


async def _experts(done: Done) -> None:
    opening: Opening = done.facts
    for expert in opening.expert_ids:
        await WardRoundExpert.insert(WardRoundExpert(ward_round=done.case_id, expert=expert))
    for exam in opening.examination_ids:
        await WardRoundExamination.insert(
            WardRoundExamination(
                ward_round=done.case_id, examination=exam, added_by=opening.by, added_at=now()
            )
        )


async def _timers(done: Done) -> None:
    opening: Opening = done.facts
    await keep_timer(CASE, done.case_id, REMINDER, next_reminder(opening.starts_at, now()))
    await keep_timer(CASE, done.case_id, START, opening.starts_at)


async def _timers_off(done: Done) -> None:
    for kind in (REMINDER, START, OVERRUN):
        await keep_timer(CASE, done.case_id, kind, None)


def meeting_url(ward_round_id: int) -> str:
    """The meeting provider's link (``AIMIS_MEETING_URL_TEMPLATE``, the consultations'), its
    ``{consultation_id}`` the round's "ward-round-<id>"; "" while none is configured."""
    template = ConsultationSettings().meeting_url_template
    if not template.strip():
        return ""
    return template.format(
        consultation_id=f"ward-round-{ward_round_id}", token=secrets.token_hex(8)
    )


async def _meeting(done: Done) -> None:
    """The round starts: its meeting link (SPEC 3.4) and the start time are stored; the
    start timer is not needed any more."""
    await WardRound.update(
        {WardRound.meeting_url: meeting_url(done.case_id), WardRound.started_at: now()}
    ).where(WardRound.id == done.case_id)
    await keep_timer(CASE, done.case_id, START, None)
    await keep_timer(CASE, done.case_id, REMINDER, None)


async def _overrun_timer(done: Done) -> None:
    due = now() + timedelta(minutes=get_settings().ward_round.overrun_minutes)
    await keep_timer(CASE, done.case_id, OVERRUN, due)


async def _record_finished(done: Done) -> None:
    await WardRound.update({WardRound.finished_at: now()}).where(WardRound.id == done.case_id)


async def _people(done: Done) -> list[int]:
    return await people_of(done.case_id)


async def _invited(done: Done) -> list[int]:
    return list(done.facts.expert_ids)


async def _link(done: Done) -> str:
    return f"/ward-rounds/{done.case_id}"


async def _describe(done: Done) -> str:
    row = await WardRound.select(WardRound.topic).where(WardRound.id == done.case_id)
    return f"{row[0]['topic']}; {len(done.facts.expert_ids)} experts invited"


engine.bind(
    WARD_ROUND,
    audiences={"experts": _invited, "people": _people},
    effects={
        "experts": _experts,
        "timers": _timers,
        "timers off": _timers_off,
        "meeting": _meeting,
        "overrun timer": _overrun_timer,
        "record finished": _record_finished,
    },
    business_type=CASE,
    link=_link,
    describe=_describe,
)
