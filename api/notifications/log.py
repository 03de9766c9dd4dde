"""The delivery log (SPEC 8.8): every notification's recipient, channel, status, attempts,
error and times. A hospital admin sees his hospital's rows, an alliance admin those of the
alliance's hospitals. Read-only: the dispatcher alone writes these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.management.audit import parse_day, time_zone_of
from api.notifications.schemas import DeliveryPage, DeliveryRead
from kernel.errors import BadRequest, NotFound
from kernel.i18n import Listed
from notifiers.base import DUPLICATE_NOTE, Channel
from store.scoping import visible
from store.tables import Hospital, Notification, User
from store.uow import Actor

PAGE_SIZE = 50
STATUSES = ("pending", "sending", "sent", "failed")
CHANNELS = tuple(c.value for c in Channel)


@dataclass(frozen=True)
class LogFilter:
    status: str = ""
    channel: str = ""
    business_type: str = ""
    date_from: date | None = None
    date_to: date | None = None
    hospital_id: int | None = None

    @classmethod
    def parse(
        cls,
        status: str = "",
        channel: str = "",
        business_type: str = "",
        date_from: str = "",
        date_to: str = "",
        hospital_id: int | None = None,
    ) -> LogFilter:
        """The filter from query parameters, or ``BadRequest`` naming the bad date."""
        return cls(
            status=status.strip(),
            channel=channel.strip(),
            business_type=business_type.strip(),
            date_from=parse_day(date_from, "start date"),
            date_to=parse_day(date_to, "end date"),
            hospital_id=hospital_id,
        )


def _day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def _hospitals(actor: Actor) -> dict[int, str]:
    rows = await visible(Hospital, actor, Hospital.id, Hospital.name)
    return {r["id"]: r["name"] for r in rows}


async def _where(actor: Actor, f: LogFilter, hospitals: dict[int, str]) -> list[Any]:
    if f.hospital_id is not None and f.hospital_id not in hospitals:
        raise NotFound(
            "No hospital with id {hospital_id} exists, or it is outside your scope.",
            hospital_id=f.hospital_id,
        )
    ids = [f.hospital_id] if f.hospital_id is not None else sorted(hospitals)
    where: list[Any] = [Notification.hospital_id.is_in(ids or [0])]
    if f.status:
        if f.status not in STATUSES:
            raise BadRequest("The status filter is one of: {statuses}.", statuses=Listed(STATUSES))
        where.append(Notification.status == f.status)
    if f.channel:
        if f.channel not in CHANNELS:
            raise BadRequest("The channel filter is one of: {channels}.", channels=Listed(CHANNELS))
        where.append(Notification.channel == f.channel)
    if f.business_type:
        where.append(Notification.business_type == f.business_type[:40])
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise BadRequest("The start date is after the end date.")
    tz = await time_zone_of(actor)
    if f.date_from:
        where.append(Notification.created_at >= _day_start(f.date_from, tz))
    if f.date_to:
        where.append(Notification.created_at < _day_start(f.date_to + timedelta(days=1), tz))
    return where


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


async def list_deliveries(actor: Actor, f: LogFilter, page: int = 1) -> DeliveryPage:
    """Newest first, 50 a page."""
    page = max(page, 1)
    hospitals = await _hospitals(actor)
    where = await _where(actor, f, hospitals)
    total = await Notification.count().where(*where)
    rows = await (
        Notification.select()
        .where(*where)
        .order_by(Notification.id, ascending=False)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    user_ids = sorted({r["user_id"] for r in rows if r["user_id"] is not None})
    names = {
        u["id"]: u["display_name"]
        for u in await User.select(User.id, User.display_name).where(User.id.is_in(user_ids or [0]))
    }
    items = [
        DeliveryRead(
            id=r["id"],
            outbox_id=r["outbox_id"],
            hospital_id=r["hospital_id"],
            hospital_name=hospitals.get(r["hospital_id"], ""),
            user_id=r["user_id"],
            recipient=(
                "group" if r["user_id"] is None else names.get(r["user_id"], f"#{r['user_id']}")
            ),
            channel=r["channel"],
            business_type=r["business_type"],
            status=r["status"],
            attempts=int(r["attempts"]),
            error=r["error"] or "",
            possible_duplicate=(r["error"] or "").startswith(DUPLICATE_NOTE),
            created_at=_iso(r["created_at"]) or "",
            sent_at=_iso(r["sent_at"]),
        )
        for r in rows
    ]
    return DeliveryPage(items=items, total=total, page=page, page_size=PAGE_SIZE)
