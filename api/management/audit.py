"""The user operation log (SPEC 8.10): read, filter, page and export ``AuditLog`` rows.

The log is append-only: this module only reads it, and nothing in the API updates or
deletes a row. Reading it is itself audited, and an admin sees only the rows of his scope
(``store.scoping.audit_clause``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from api.accounts.users import hospital_time_zone
from api.crud import from_row
from api.management.schemas import AuditPage, AuditRead
from api.management.service import actor_of
from kernel.errors import BadRequest, NotFound
from kernel.i18n import Msg
from store.reads import note
from store.scoping import audit_clause, can_see_hospital
from store.tables import AuditLog
from store.uow import Actor, Ctx

PAGE_SIZE = 50
EXPORT_BATCH = 500
OUTCOMES = ("success", "failure", "denied")
CSV_HEADER = [
    "Time 时间",
    "User 用户",
    "Action 操作",
    "Target type 对象类型",
    "Target id 对象编号",
    "Outcome 结果",
    "IP address IP 地址",
    "Hospital id 医院编号",
    "Detail 详情",
]


@dataclass(frozen=True)
class AuditFilter:
    date_from: date | None = None
    date_to: date | None = None
    user: str = ""
    action: str = ""
    outcome: str = ""
    target_type: str = ""
    hospital_id: int | None = None

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in asdict(self).items() if v not in (None, "")]
        return "; ".join(parts) or "no filter"


@dataclass(frozen=True)
class AuditQuery:
    """The audit filter as typed in a query string, shared by the API and the page."""

    date_from: str = ""
    date_to: str = ""
    user: str = ""
    action: str = ""
    outcome: str = ""
    target_type: str = ""
    hospital_id: str = ""

    def given(self) -> dict[str, str]:
        """The non-empty parameters, for links that keep the filter."""
        return {k: v for k, v in asdict(self).items() if v}

    def parse(self) -> AuditFilter:
        """The filter, or ``BadRequest`` naming the parameter that is wrong."""
        hospital = self.hospital_id
        if hospital and not (hospital.isascii() and hospital.isdigit()):
            raise BadRequest(
                "The hospital filter must be a hospital id, not {hospital!r}.",
                hospital=hospital[:20],
            )
        return AuditFilter(
            date_from=parse_day(self.date_from, "start date"),
            date_to=parse_day(self.date_to, "end date"),
            user=self.user,
            action=self.action,
            outcome=self.outcome,
            target_type=self.target_type,
            hospital_id=int(hospital) if hospital else None,
        )


async def provide_audit_query(
    date_from: str = "",
    date_to: str = "",
    user: str = "",
    action: str = "",
    outcome: str = "",
    target_type: str = "",
    hospital_id: str = "",
) -> AuditQuery:
    """A Litestar dependency: the query parameters, stripped."""
    return AuditQuery(
        date_from.strip(),
        date_to.strip(),
        user.strip(),
        action.strip(),
        outcome.strip(),
        target_type.strip(),
        hospital_id.strip(),
    )


async def time_zone_of(actor: Actor) -> str:
    """Dates in filters and times on screen are the admin's hospital's local time."""
    return await hospital_time_zone(actor.hospital_id)


def parse_day(value: str, what: str) -> date | None:
    """``what`` names the field in the message (an English word of the catalogue)."""
    value = value.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRequest(
            "The {what} {value!r} is not a date like 2026-11-27.",
            what=Msg(what),
            value=value[:20],
        ) from None


def _day_start(day: date, tz: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(UTC)


async def _where(actor: Actor, f: AuditFilter, tz: str) -> list[Any]:
    where: list[Any] = [await audit_clause(actor)]
    if f.hospital_id is not None:
        if not await can_see_hospital(actor, f.hospital_id):
            raise NotFound(
                "No hospital with id {hospital_id} exists, or it is outside your scope.",
                hospital_id=f.hospital_id,
            )
        where.append(AuditLog.hospital_id == f.hospital_id)
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise BadRequest("The start date is after the end date.")
    if f.date_from:
        where.append(AuditLog.at >= _day_start(f.date_from, tz))
    if f.date_to:
        where.append(AuditLog.at < _day_start(f.date_to + timedelta(days=1), tz))
    if f.user.strip():
        where.append(AuditLog.username.ilike(f"%{f.user.strip()[:64]}%"))
    if f.action.strip():
        where.append(AuditLog.action.ilike(f"%{f.action.strip()[:64]}%"))
    if f.outcome:
        if f.outcome not in OUTCOMES:
            raise BadRequest(
                "The outcome filter is one of: success, failure, denied.",
            )
        where.append(AuditLog.outcome == f.outcome)
    if f.target_type.strip():
        where.append(AuditLog.target_type == f.target_type.strip()[:40])
    return where


def audit_read(row: dict[str, Any]) -> AuditRead:
    return from_row(AuditRead, row, at=row["at"].astimezone(UTC).isoformat())


async def list_audit(
    ctx: Ctx, f: AuditFilter, *, before: int | None = None, after: int | None = None
) -> AuditPage:
    """One page of 50, newest first, by keyset on the id (stable while new rows arrive)."""
    actor = actor_of(ctx)
    where = await _where(actor, f, await time_zone_of(actor))
    query = AuditLog.select().where(*where).limit(PAGE_SIZE + 1)
    if after is not None:
        rows = await query.where(AuditLog.id > after).order_by(AuditLog.id)
        more_newer = len(rows) > PAGE_SIZE
        rows = list(reversed(rows[:PAGE_SIZE]))
        more_older = True
    else:
        if before is not None:
            query = query.where(AuditLog.id < before)
        rows = await query.order_by(AuditLog.id, ascending=False)
        more_older = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        more_newer = before is not None
    note(detail=f.describe())  # audited by the routes' declaration (api.phi)
    return AuditPage(
        items=[audit_read(r) for r in rows],
        page_size=PAGE_SIZE,
        next_before=rows[-1]["id"] if rows and more_older else None,
        prev_after=rows[0]["id"] if rows and more_newer else None,
    )


def _cell(value: object) -> str:
    """Text a spreadsheet would run as a formula is prefixed with a quote (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _csv_chunk(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode("utf-8")


async def export_csv(ctx: Ctx, f: AuditFilter) -> AsyncIterator[bytes]:
    """Every row matching ``f``, newest first, as UTF-8 CSV with a BOM so that Excel shows
    Chinese correctly. The export is audited before the first byte leaves (the route's
    declaration, ``api.phi``)."""
    actor = actor_of(ctx)
    tz = await time_zone_of(actor)
    where = await _where(actor, f, tz)
    note(detail=f.describe())
    zone = ZoneInfo(tz)

    async def rows() -> AsyncIterator[bytes]:
        header = [f"{CSV_HEADER[0]} ({tz})", *CSV_HEADER[1:]]
        yield "\ufeff".encode() + _csv_chunk([header])
        last: int | None = None
        while True:
            query = AuditLog.select().where(*where)
            if last is not None:
                query = query.where(AuditLog.id < last)
            batch = await query.order_by(AuditLog.id, ascending=False).limit(EXPORT_BATCH)
            if not batch:
                return
            yield _csv_chunk(
                [
                    [
                        r["at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                        _cell(r["username"]),
                        _cell(r["action"]),
                        _cell(r["target_type"]),
                        _cell(r["target_id"]),
                        r["outcome"],
                        _cell(r["ip"]),
                        "" if r["hospital_id"] is None else str(r["hospital_id"]),
                        _cell(r["detail"]),
                    ]
                    for r in batch
                ]
            )
            last = batch[-1]["id"]

    return rows()


def export_file_name() -> str:
    return f"audit-log-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}.csv"
