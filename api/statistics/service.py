"""Data statistics (SPEC 6): the overview, the chart series, turnaround and workload, read
from the rollups the database keeps (``store/tables/statistics.py``), never from a scan of
the examinations. Counts only: no patient's row is read here, so an alliance admin sees
the same figures for each hospital of his alliance (``store.scoping.hospital_figures``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from piccolo.query.functions.aggregate import Sum

from api.statistics.figures import StatFilter, StatQuery
from api.statistics.schemas import (
    Doctor,
    HospitalFigures,
    Overview,
    Series,
    Stage,
    Turnaround,
)
from kernel.errors import Forbidden
from store.scoping import visible
from store.tables import ExaminationCount, Hospital, StatDay, StatTurnaround, User
from store.uow import Actor
from store.zones import hospital_zone

KINDS = ("exam", "remote", "consult")  # the chart's series, stacked in this order
FIGURE_KINDS = ("exam", "remote", "sent", "consult")
# Upper bounds in minutes of the turnaround buckets: the triggers' STAT_BUCKETS
# (migration 2026-12-07T22:00, block 1); the last bucket (len) is open.
BUCKETS = (
    5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1080, 1440,
    2160, 2880, 4320, 7200, 10080, 20160, 43200,
)  # fmt: skip


async def hospitals_in_scope(actor: Actor, hospital_id: int | None = None) -> list[int]:
    """The hospitals whose figures ``actor`` sees: a doctor's or hospital admin's own, an
    alliance admin's every hospital of his alliance; narrowed to ``hospital_id`` (403 when
    it is not one of them)."""
    ids = [int(r["id"]) for r in await visible(Hospital, actor, Hospital.id).order_by(Hospital.id)]
    if actor.kind != "alliance_admin":
        ids = [h for h in ids if h == actor.hospital_id]
    if hospital_id is None:
        return ids
    if hospital_id not in ids:
        raise Forbidden("The statistics of that hospital are not yours to see.")
    return [hospital_id]


async def today_of(actor: Actor) -> date:
    return datetime.now(await hospital_zone(actor.hospital_id)).date()


async def parse(actor: Actor, query: StatQuery) -> StatFilter:
    return query.parse(await today_of(actor))


def _where(ids: list[int], f: StatFilter | None, kinds: tuple[str, ...]) -> list[Any]:
    clauses: list[Any] = [StatDay.hospital.is_in(ids), StatDay.kind.is_in(list(kinds))]
    if f is not None:
        clauses += [StatDay.day >= f.start.isoformat(), StatDay.day <= f.end.isoformat()]
        if f.department_id is not None:
            clauses.append(StatDay.department == f.department_id)
        if f.device_type:
            clauses.append(StatDay.device_type == f.device_type)
    return clauses


async def overview(actor: Actor, f: StatFilter | None = None) -> Overview:
    """Per hospital in scope: storage used, examinations stored (``examination_count``),
    remote diagnoses received and sent, consultations applied for; in ``f``'s range when
    given, else all time."""
    ids = await hospitals_in_scope(actor, f.hospital_id if f else None)
    # examinations stored: the status chips' counts (never a count over the studies)
    stored: dict[int, int] = {}
    for row in await ExaminationCount.select(ExaminationCount.hospital, ExaminationCount.n).where(
        ExaminationCount.hospital.is_in(ids or [0])
    ):
        h = int(row["hospital"])
        stored[h] = stored.get(h, 0) + max(int(row["n"]), 0)
    names = {
        int(r["id"]): r
        for r in await Hospital.select(
            Hospital.id, Hospital.name, Hospital.storage_used_bytes
        ).where(Hospital.id.is_in(ids or [0]))
    }
    counts: dict[tuple[int, str], int] = {}
    if ids:
        rows = (
            await StatDay.select(StatDay.hospital, StatDay.kind, Sum(StatDay.n, alias="n"))
            .where(*_where(ids, f, FIGURE_KINDS))
            .group_by(StatDay.hospital, StatDay.kind)
        )
        counts = {(int(r["hospital"]), r["kind"]): int(r["n"] or 0) for r in rows}
    figures = [
        HospitalFigures(
            hospital_id=h,
            hospital_name=names[h]["name"],
            storage_used_bytes=int(names[h]["storage_used_bytes"] or 0),
            examinations_stored=stored.get(h, 0),
            examinations=counts.get((h, "exam"), 0),
            remote_diagnoses=counts.get((h, "remote"), 0),
            remote_sent=counts.get((h, "sent"), 0),
            consultations=counts.get((h, "consult"), 0),
        )
        for h in ids
        if h in names
    ]
    return Overview(
        hospitals=figures,
        start=f.start.isoformat() if f else None,
        end=f.end.isoformat() if f else None,
    )


async def series(actor: Actor, f: StatFilter) -> Series:
    """The bars of the range at its step: for each series (in-hospital examinations,
    remote diagnoses received, consultations) one count per bar, and each bar's days."""
    ids = await hospitals_in_scope(actor, f.hospital_id)
    per_day: dict[tuple[str, str], int] = {}
    if ids:
        rows = (
            await StatDay.select(StatDay.kind, StatDay.day, Sum(StatDay.n, alias="n"))
            .where(*_where(ids, f, KINDS))
            .group_by(StatDay.kind, StatDay.day)
        )
        per_day = {(r["kind"], r["day"]): int(r["n"] or 0) for r in rows}
    buckets = f.buckets()
    index: dict[str, int] = {}
    for i, (_, first, last) in enumerate(buckets):
        day = first
        while day <= last:
            index[day.isoformat()] = i
            day = date.fromordinal(day.toordinal() + 1)
    values = {k: [0] * len(buckets) for k in KINDS}
    for (kind, on), n in per_day.items():
        if on in index:
            values[kind][index[on]] += n
    return Series(
        step=f.step,
        labels=[b[0] for b in buckets],
        starts=[b[1].isoformat() for b in buckets],
        ends=[b[2].isoformat() for b in buckets],
        exam=values["exam"],
        remote=values["remote"],
        consult=values["consult"],
    )


def percentile(histogram: list[int], share: float) -> int | None:
    """The upper bound (minutes) of the bucket holding the ``share`` quantile; None for no
    reports; -1 for the open last bucket (more than the last bound)."""
    total = sum(histogram)
    if not total:
        return None
    rank = share * total
    seen = 0
    for i, n in enumerate(histogram):
        seen += n
        if seen >= rank and n:
            return BUCKETS[i] if i < len(BUCKETS) else -1
    return -1


async def turnaround(actor: Actor, f: StatFilter) -> Turnaround:
    """Minutes from the examination to its initial report and to its review (median and
    90th percentile, to the bucket's bound), and each doctor's reports in the range."""
    ids = await hospitals_in_scope(actor, f.hospital_id)
    rows = []
    if ids:
        rows = (
            await StatTurnaround.select(
                StatTurnaround.stage,
                StatTurnaround.doctor,
                StatTurnaround.bucket,
                Sum(StatTurnaround.n, alias="n"),
            )
            .where(
                StatTurnaround.hospital.is_in(ids),
                StatTurnaround.day >= f.start.isoformat(),
                StatTurnaround.day <= f.end.isoformat(),
            )
            .group_by(StatTurnaround.stage, StatTurnaround.doctor, StatTurnaround.bucket)
        )
    hist = {s: [0] * (len(BUCKETS) + 1) for s in ("initial", "reviewed")}
    work: dict[int, dict[str, int]] = {}
    for r in rows:
        n = int(r["n"] or 0)
        if r["stage"] in hist and 0 <= r["bucket"] <= len(BUCKETS):
            hist[r["stage"]][r["bucket"]] += n
            work.setdefault(int(r["doctor"]), {"initial": 0, "reviewed": 0})[r["stage"]] += n
    names = {
        int(u["id"]): u["display_name"]
        for u in await User.select(User.id, User.display_name).where(
            User.id.is_in(list(work) or [0])
        )
    }
    doctors = sorted(
        (
            Doctor(
                user_id=d,
                name=names.get(d, ""),
                initial_reports=w["initial"],
                reviews=w["reviewed"],
            )
            for d, w in work.items()
            if w["initial"] or w["reviewed"]
        ),
        key=lambda d: (-(d.initial_reports + d.reviews), d.name),
    )
    return Turnaround(
        stages=[
            Stage(
                stage=s,
                reports=sum(h),
                median_minutes=percentile(h, 0.5),
                p90_minutes=percentile(h, 0.9),
            )
            for s, h in hist.items()
        ],
        doctors=doctors,
    )
