"""Account timers: automatic freezes end at the start of the hospital's next day (SPEC 1.2).

Login already lifts a stale freeze when the user tries again; this flow lifts them for
everyone, so admins see the account as active the next morning and the audit log says when.
Scheduled in ``prefect.yaml`` at 00:00 Asia/Shanghai, with a safety run every 15 minutes
(hospitals in other time zones, a server that was down at midnight).
"""

from __future__ import annotations

import msgspec
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from kernel.clock import local_day
from kernel.settings import get_settings
from store.tables import User
from store.uow import Ctx, unit_of_work

CTX = Ctx(ip="prefect", user_agent="unfreeze_accounts")


class ExpiredFreeze(msgspec.Struct, frozen=True):
    user_id: int
    frozen_day: str
    today: str


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def find_expired_freezes() -> list[ExpiredFreeze]:
    """Accounts frozen for wrong passwords on a day before today in their hospital."""
    rows = await User.select(User.id, User.frozen_day, User.hospital.time_zone).where(
        User.frozen == True,  # noqa: E712
        User.frozen_reason == "failed_logins",
    )
    default_tz = get_settings().server.time_zone
    found = []
    for row in rows:
        today = local_day(row["hospital.time_zone"] or default_tz)
        if row["frozen_day"] and row["frozen_day"] < today:
            found.append(ExpiredFreeze(row["id"], row["frozen_day"], today))
    return found


@task(retries=3, retry_delay_seconds=[2, 5, 15], cache_policy=NO_CACHE)
async def unfreeze(expired: ExpiredFreeze) -> bool:
    """Lift one freeze, with its audit row; a no-op if the account changed meanwhile (an
    admin acted, or it was frozen again today)."""
    async with unit_of_work(CTX) as uow:
        rows = (
            await User.update(
                {
                    User.frozen: False,
                    User.frozen_reason: "",
                    User.failed_count: 0,
                    User.version: User.version + 1,
                }
            )
            .where(
                User.id == expired.user_id,
                User.frozen == True,  # noqa: E712
                User.frozen_reason == "failed_logins",
                User.frozen_day == expired.frozen_day,
            )
            .returning(User.username, User.hospital)
        )
        if not rows:
            return False
        await uow.audit(
            "account.unfreeze",
            "user",
            expired.user_id,
            detail=f"automatic: frozen for wrong passwords on {expired.frozen_day}, "
            f"a new day began ({expired.today})",
            user_id=expired.user_id,
            username=rows[0]["username"],
            hospital_id=rows[0]["hospital"],
        )
    return True


@flow(name="unfreeze-accounts", persist_result=False)
async def unfreeze_accounts() -> int:
    """Lift every automatic freeze from an earlier day; returns how many."""
    lifted = 0
    for expired in await find_expired_freezes():
        lifted += int(await unfreeze(expired))
    get_run_logger().info("%d account(s) unfrozen", lifted)
    return lifted
