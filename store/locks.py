"""An editing lock kept on a row as two columns, a holder and an end (a report's
``lock_user``/``lock_until``, a consultation report's ``report_lock_user``/
``report_lock_until``): the conditions and refusals every such lock shares.

- ``live(holder, until)``: the lock as it stands now; an expired lock is no lock (honoured
  on read, whatever the timer did yet).
- ``free_or_mine(holder_col, until_col, actor, at)``: the ``WHERE`` of a conditional update
  that takes, keeps or writes under the lock (free, mine, or expired at ``at``).
- ``held_by_other(holder, until, actor, sentence)``: the 409 naming who holds it and until
  when in the actor's hospital's time zone (``{name}``, ``{local}`` in the sentence), with
  the holder in ``extra``; None when nobody else holds it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kernel.errors import Conflict
from kernel.i18n import Msg
from store.tables import User
from store.uow import Actor, now
from store.zones import hospital_zone


def live(
    holder: int | None, until: datetime | None, at: datetime | None = None
) -> tuple[int | None, datetime | None]:
    if holder is None or until is None or until <= (at or now()):
        return None, None
    return int(holder), until


def free_or_mine(holder_col: Any, until_col: Any, actor: Actor, at: datetime) -> Any:
    return holder_col.is_null() | (holder_col == actor.user_id) | (until_col < at)


async def held_by_other(
    holder: int | None, until: datetime | None, actor: Actor, sentence: str
) -> Conflict | None:
    holder, until = live(holder, until)
    if holder is None or until is None or holder == actor.user_id:
        return None
    user = await User.select(User.display_name).where(User.id == holder).first()
    name = user["display_name"] if user else Msg("user {id}", id=holder)
    local = until.astimezone(await hospital_zone(actor.hospital_id))
    return Conflict(
        sentence,
        name=name,
        local=local,
        extra={
            "lock_holder": holder,
            "lock_holder_name": str(name),
            "lock_until": until.isoformat(),
        },
    )
