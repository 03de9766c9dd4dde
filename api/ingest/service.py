"""Migration runs and the billed migration log, as admins read them (SPEC 8.10, 9.1).

Every read goes through ``store.scoping.visible``: a hospital admin sees his hospital's
runs, an alliance admin his alliance's; another hospital's run is "not found".
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import msgspec
from litestar.params import Parameter
from piccolo.query.functions.aggregate import Count, Sum

from api.ingest.access import sending_hospital
from api.ingest.schemas import (
    ItemRead,
    LogPage,
    LogRead,
    RunDetail,
    RunPage,
    RunRead,
)
from api.ingest.steps import facts_of, item_counts, percent_of, queued_runs, step
from api.schemas import HistoryEntry
from kernel.errors import BadRequest, Forbidden
from kernel.i18n import Msg
from states.migration import MIGRATION, FileOutcome, MigrationState
from store.engine import timeline
from store.reads import note
from store.scoping import get_visible, hospital_ids_clause, visible
from store.tables import Hospital, Instance, MigrationItem, MigrationLog, MigrationRun
from store.uow import Actor, Ctx

PAGE = 50
ITEMS_PAGE = 200
STATES = [s.value for s in MigrationState]
SOURCES = ["cstore", "stow", "upload", "import"]
USER_ACTIONS = ("retry",)
KEPT = (FileOutcome.stored, FileOutcome.new_version)  # the outcomes that are an instance row
CSV_HEADER = [
    "Time 时间",
    "Hospital 医院",
    "Run 迁移",
    "Examination 检查",
    "Size (bytes) 大小",
    "Billing unit 计费单位",
    "Quantity 数量",
    "Billing entity 计费主体",
    "Resource package 资源包",
    "Valid until 存储有效期",
]


def actor_of(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Forbidden("Please log in.")
    return ctx.actor


async def upload_hospital(actor: Actor, hospital_id: int | None) -> int:
    """The hospital an upload goes to: the uploader's own. Images are patient data: the
    alliance admin uploads none (the route refuses him, ``api.phi``; ``sending_hospital``
    too, he has no hospital)."""
    own = sending_hospital(actor)
    if hospital_id not in (None, own):
        raise BadRequest(
            "Images are uploaded to your own hospital ({own}), not to hospital {hospital_id}.",
            own=own,
            hospital_id=hospital_id,
        )
    return own


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def _hospital_names(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await Hospital.select(Hospital.id, Hospital.name).where(Hospital.id.is_in(list(ids)))
    return {r["id"]: r["name"] for r in rows}


def run_read(
    row: dict[str, Any], counts: Counter[str] | None, hospital: str, queued: bool = False
) -> RunRead:
    facts = facts_of(row, counts, queued=queued)
    checked = facts.received - facts.pending
    state = MigrationState(row["state"])
    actions = [a for a in MIGRATION.available(state, facts) if a in USER_ACTIONS]
    uids = msgspec.json.decode(row["study_uids"] or "[]")
    return RunRead(
        id=row["id"],
        hospital_id=row["hospital"],
        hospital=hospital,
        source=row["source"],
        source_detail=row["source_detail"],
        state=row["state"],
        version=row["version"],
        received=facts.received,
        checked=checked,
        stored=facts.stored,
        duplicates=facts.duplicates,
        new_versions=facts.new_versions,
        refused=facts.refused,
        failed=facts.failed,
        received_bytes=row["received_bytes"],
        percent=percent_of(row["state"], checked, facts.received),
        studies=len(uids),
        error=row["error"],
        created_at=row["created_at"].isoformat(),
        finished_at=_iso(row["finished_at"]),
        actions=actions,
    )


@dataclass(frozen=True)
class RunQuery:
    """The run list's filter: a state (``STATES``) and a source (``SOURCES``), each optional."""

    state: str = ""
    source: str = ""


def provide_run_query(
    run_state: Annotated[str, Parameter(query="state")] = "", source: str = ""
) -> RunQuery:
    """The filter from a request's query parameters (a Litestar dependency)."""
    return RunQuery(run_state, source)


async def list_runs(
    actor: Actor, filters: RunQuery = RunQuery(), offset: int = 0, limit: int = PAGE
) -> RunPage:
    state, source = filters.state, filters.source
    if state and state not in STATES:
        raise BadRequest(
            "Unknown state {state!r}; one of {value}.",
            state=state,
            value=", ".join(STATES),
        )
    if source and source not in SOURCES:
        raise BadRequest(
            "Unknown source {source!r}; one of {value}.",
            source=source,
            value=", ".join(SOURCES),
        )
    limit = max(1, min(limit, 200))
    query = visible(MigrationRun, actor)
    count = MigrationRun.count().where(hospital_ids_clause(MigrationRun, actor))
    if state:
        query = query.where(MigrationRun.state == state)
        count = count.where(MigrationRun.state == state)
    if source:
        query = query.where(MigrationRun.source == source)
        count = count.where(MigrationRun.source == source)
    rows = (
        await query.order_by(MigrationRun.id, ascending=False).offset(max(0, offset)).limit(limit)
    )
    counts = await item_counts([r["id"] for r in rows])
    names = await _hospital_names({r["hospital"] for r in rows})
    queued = await queued_runs(r["id"] for r in rows if r["state"] == MigrationState.received)
    return RunPage(
        total=await count,
        offset=offset,
        items=[
            run_read(r, counts.get(r["id"]), names.get(r["hospital"], ""), r["id"] in queued)
            for r in rows
        ],
    )


async def get_run(actor: Actor, run_id: int) -> RunRead:
    row = await get_visible(MigrationRun, run_id, actor, "migration run")
    counts = (await item_counts([run_id])).get(run_id)
    names = await _hospital_names({row["hospital"]})
    queued = row["state"] == MigrationState.received and bool(await queued_runs([run_id]))
    return run_read(row, counts, names.get(row["hospital"], ""), queued)


async def run_detail(ctx: Ctx, run_id: int, status: str = "", offset: int = 0) -> RunDetail:
    actor = actor_of(ctx)
    run = await get_run(actor, run_id)
    items = MigrationItem.select().where(MigrationItem.migration == run_id)
    count = MigrationItem.count().where(MigrationItem.migration == run_id)
    if status:
        items = items.where(MigrationItem.status == status)
        count = count.where(MigrationItem.status == status)
    rows = await items.order_by(MigrationItem.id).offset(max(0, offset)).limit(ITEMS_PAGE)
    revisions = await _revisions(run_id, rows)
    history = await timeline("migration", run_id)
    note(hospital_id=run.hospital_id)  # the items name patients' studies: a PHI read (api.phi)
    return RunDetail(
        run=run,
        items=[
            ItemRead(
                id=r["id"],
                file_name=r["file_name"],
                sop_uid=r["sop_uid"],
                study_uid=r["study_uid"],
                status=r["status"],
                code=r["code"],
                reason=r["reason"],
                size_bytes=r["size_bytes"],
                revision=revisions.get(r["id"]),
            )
            for r in rows
        ],
        items_total=await count,
        history=[HistoryEntry.of(h) for h in history],
    )


async def _revisions(run_id: int, items: list[dict[str, Any]]) -> dict[int, int]:
    """The revision each stored item became: the run's instances of one SOP Instance UID in
    revision order are the run's stored items of that UID in the order they arrived."""
    kept = [r for r in items if r["status"] in KEPT and r["sop_uid"]]
    if not kept:
        return {}
    sops = list({r["sop_uid"] for r in kept})
    rows = (
        await Instance.select(Instance.sop_uid, Instance.revision)
        .where(Instance.migration == run_id, Instance.sop_uid.is_in(sops))
        .order_by(Instance.revision)
    )
    by_sop: dict[str, list[int]] = {}
    for row in rows:
        by_sop.setdefault(row["sop_uid"], []).append(int(row["revision"]))
    again = [sop for sop, found in by_sop.items() if len(found) > 1]
    order: dict[int, int] = {}  # item id -> its place among the run's items of its UID
    if again:
        arrived = (
            await MigrationItem.select(MigrationItem.id, MigrationItem.sop_uid)
            .where(
                MigrationItem.migration == run_id,
                MigrationItem.status.is_in(list(KEPT)),
                MigrationItem.sop_uid.is_in(again),
            )
            .order_by(MigrationItem.id)
        )
        seen: dict[str, int] = {}
        for row in arrived:
            order[row["id"]] = seen.get(row["sop_uid"], 0)
            seen[row["sop_uid"]] = order[row["id"]] + 1
    revisions: dict[int, int] = {}
    for r in kept:
        found, place = by_sop.get(r["sop_uid"], []), order.get(r["id"], 0)
        if place < len(found):
            revisions[r["id"]] = found[place]
    return revisions


async def retry(ctx: Ctx, run_id: int, version: int | None = None) -> RunRead:
    """A failed run starts over from its received files (each step skips what is done); a
    run stranded in ``received`` (no follow-up pending or running: its receiver died and
    the follow-up ended without moving it) gets its follow-up queued again. A run whose
    follow-up is queued or running is a 409 (``states.migration.nothing_queued``)."""
    actor = actor_of(ctx)
    await get_run(actor, run_id)
    await step(run_id, "retry", ctx=ctx, version=version)
    return await get_run(actor, run_id)


# --- the migration log -------------------------------------------------------------------


def _day(text: str, what: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            "The {what} date {text!r} is not YYYY-MM-DD.",
            what=Msg(what),
            text=text,
        ) from None


@dataclass(frozen=True)
class LogQuery:
    """The migration log's filter, as the list, its page and its CSV export take it."""

    date_from: str = ""
    date_to: str = ""
    hospital_id: int | None = None
    q: str = ""

    def links(self) -> str:
        """The filter as a query string, for the page's links (empty values left out)."""
        given = {"date_from": self.date_from, "date_to": self.date_to, "q": self.q}
        if self.hospital_id is not None:
            given["hospital_id"] = str(self.hospital_id)
        return "&".join(f"{k}={v}" for k, v in given.items() if v)


def provide_log_query(
    date_from: str = "", date_to: str = "", hospital_id: int | None = None, q: str = ""
) -> LogQuery:
    """The filter from a request's query parameters (a Litestar dependency)."""
    return LogQuery(date_from, date_to, hospital_id, q)


def _log_where(actor: Actor, query: LogQuery) -> list[Any]:
    """The filter as where-clauses (Piccolo queries change in place: build each anew)."""
    start, end = _day(query.date_from, "from"), _day(query.date_to, "to")
    if start and end and end < start:
        raise BadRequest("The 'to' date lies before the 'from' date.")
    conditions = [_log_scope(actor)]
    if start:
        conditions.append(MigrationLog.created_at >= datetime.combine(start, time(), UTC))
    if end:
        after = datetime.combine(end + timedelta(days=1), time(), UTC)
        conditions.append(MigrationLog.created_at < after)
    if query.hospital_id is not None:
        conditions.append(MigrationLog.hospital == query.hospital_id)
    if query.q.strip():
        conditions.append(MigrationLog.examination.ilike(f"%{query.q.strip()[:100]}%"))
    return conditions


def _log_scope(actor: Actor) -> Any:
    return hospital_ids_clause(MigrationLog, actor)


async def _undecodable(rows: list[dict[str, Any]]) -> dict[tuple[int, int], int]:
    """(run, study) → the run's instances of the study flagged undecodable."""
    if not rows:
        return {}
    found = (
        await Instance.select(Instance.migration, Instance.study, Count(alias="n"))
        .where(
            Instance.migration.is_in(list({int(r["migration"]) for r in rows})),
            Instance.study.is_in(list({int(r["study"]) for r in rows})),
            Instance.decode_state == "undecodable",
        )
        .group_by(Instance.migration, Instance.study)
    )
    return {(int(f["migration"]), int(f["study"])): int(f["n"]) for f in found}


async def _log_reads(rows: list[dict[str, Any]]) -> list[LogRead]:
    names = await _hospital_names({r["hospital"] for r in rows})
    flagged = await _undecodable(rows)
    return [
        LogRead(
            id=r["id"],
            at=r["created_at"].isoformat(),
            hospital=names.get(r["hospital"], ""),
            migration_id=r["migration"],
            study_id=r["study"],
            examination=r["examination"],
            size_bytes=r["size_bytes"],
            billing_unit=r["billing_unit"],
            billing_quantity=r["billing_quantity"],
            billing_entity=r["billing_entity"],
            resource_package=r["resource_package"],
            validity_until=_iso(r["validity_until"]),
            undecodable=flagged.get((int(r["migration"]), int(r["study"])), 0),
        )
        for r in rows
    ]


async def migration_log(
    ctx: Ctx, query: LogQuery = LogQuery(), offset: int = 0, limit: int = PAGE
) -> LogPage:
    where = _log_where(actor_of(ctx), query)
    limit = max(1, min(limit, 200))
    rows = (
        await MigrationLog.select()
        .where(*where)
        .order_by(MigrationLog.id, ascending=False)
        .offset(max(0, offset))
        .limit(limit)
    )
    total = await MigrationLog.count().where(*where)
    summed = await MigrationLog.select(Sum(MigrationLog.size_bytes, alias="n")).where(*where)
    note(detail=f"{total} rows")  # accession numbers: a PHI read (api.phi)
    return LogPage(
        total=total,
        offset=offset,
        items=await _log_reads(rows),
        total_bytes=int(summed[0]["n"] or 0) if summed else 0,
    )


async def export_log(ctx: Ctx, query: LogQuery) -> AsyncIterator[str]:
    """CSV of the filtered log (UTF-8 with BOM so spreadsheet programs read the Chinese)."""
    where = _log_where(actor_of(ctx), query)
    total = await MigrationLog.count().where(*where)
    note(detail=f"{total} rows")

    async def lines() -> AsyncIterator[str]:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_HEADER)
        yield "\ufeff" + out.getvalue()
        last = None
        while True:
            page = MigrationLog.select().where(*where)
            if last is not None:
                page = page.where(MigrationLog.id < last)
            rows = await page.order_by(MigrationLog.id, ascending=False).limit(500)
            if not rows:
                return
            out = io.StringIO()
            writer = csv.writer(out)
            for r in await _log_reads(rows):
                writer.writerow(
                    [
                        r.at,
                        r.hospital,
                        r.migration_id,
                        r.examination,
                        r.size_bytes,
                        r.billing_unit,
                        r.billing_quantity,
                        r.billing_entity,
                        r.resource_package,
                        r.validity_until or "",
                    ]
                )
            yield out.getvalue()
            last = rows[-1]["id"]

    return lines()
