"""The cases behind a remote-diagnosis or consultation bar (SPEC 6.3): the diagnosis
requests the reader's hospital received, or the consultations it applied for, whose
creation falls on the bar's local days, the rows the rollup counted (``stat_day`` kinds
``remote`` and ``consult``, migration 2026-12-07T22:00 block 3). Those figures are kept
for the whole hospital (no department or device type), so a filtered bar has no cases.

A row carries no patient identifier, only the case's number, time, state and the other
hospital, so the reader sees the process's traffic; each links to the case where the
reader may open it (the examination a request is about; a consultation he takes part in),
where that page's own checks apply. Newest first, a page of ``PAGE`` at a time (keyset on
(created_at, id))."""

from __future__ import annotations

import base64
from datetime import datetime, time, timedelta
from typing import Any

from api.consultations.access import involvements
from api.statistics.details import own_hospital
from api.statistics.figures import StatFilter
from api.statistics.schemas import CasePage, CaseRow
from kernel.errors import BadRequest, Forbidden
from kernel.i18n import Listed
from store.tables import Consultation, DiagnosisRequest, Hospital
from store.uow import Actor
from store.zones import hospital_zone

KINDS = ("remote", "consult")
PAGE = 50


def _cursor(created_at: datetime, row_id: int) -> str:
    raw = f"{created_at.isoformat()}|{row_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, int] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, row_id = raw.rpartition("|")
        return datetime.fromisoformat(at), int(row_id)
    except ValueError:
        raise BadRequest("The cursor is not one this list handed out; start again.") from None


async def cases(actor: Actor, kind: str, f: StatFilter, cursor: str = "") -> CasePage:
    if kind not in KINDS:
        raise BadRequest(
            "The cases are of one of {kinds}, not {kind!r}.", kinds=Listed(KINDS), kind=kind[:20]
        )
    if actor.kind == "alliance_admin":
        raise Forbidden("The alliance admin sees figures only, not the cases behind them.")
    hospital = await own_hospital(actor, f)
    after = _after(cursor)
    if f.department_id is not None or f.device_type:
        return CasePage(kind=kind, items=[], next_cursor=None)
    zone = await hospital_zone(hospital)
    start = datetime.combine(f.start, time(), zone)
    end = datetime.combine(f.end + timedelta(days=1), time(), zone)
    table: Any = DiagnosisRequest if kind == "remote" else Consultation
    own = DiagnosisRequest.target_hospital if kind == "remote" else Consultation.hospital
    # a request's other side is its sender; a consultation's hospital is the reader's own
    extra = (
        [DiagnosisRequest.hospital.as_alias("other"), DiagnosisRequest.examination]
        if kind == "remote"
        else []
    )
    clauses = [own == hospital, table.created_at >= start, table.created_at < end]
    if after is not None:
        clauses.append(
            (table.created_at <= after[0]) & ((table.created_at < after[0]) | (table.id < after[1]))
        )
    rows = (
        await table.select(table.id, table.created_at, table.state, *extra)
        .where(*clauses)
        .order_by(table.created_at, table.id, ascending=False)
        .limit(PAGE + 1)
    )
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    names = {
        int(r["id"]): r["name"]
        for r in await Hospital.select(Hospital.id, Hospital.name).where(
            Hospital.id.is_in([r.get("other") or 0 for r in rows] or [0])
        )
    }
    mine = set(await involvements(actor)) if kind == "consult" and actor.kind == "doctor" else set()
    items = [
        CaseRow(
            id=r["id"],
            created_at=r["created_at"].isoformat(),
            state=r["state"],
            hospital_name=names.get(r.get("other") or 0, ""),
            link=(
                f"/exams/{r['examination']}"
                if kind == "remote"
                else (f"/consultations/{r['id']}" if r["id"] in mine else "")
            ),
        )
        for r in rows
    ]
    last = rows[-1] if rows else None
    return CasePage(
        kind=kind,
        items=items,
        next_cursor=_cursor(last["created_at"], last["id"]) if more and last else None,
    )
