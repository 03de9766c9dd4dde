"""Examinations per status for the list's filter, its status aside (SPEC 2.1): the kept
counts of ``examination_count`` where they answer exactly, capped counts otherwise, the
shared examinations always exact.
"""

from __future__ import annotations

from typing import Any

from piccolo.query.functions.aggregate import Count

from api.exams.filters import ExamFilter, ExamQuery, filter_clauses
from api.exams.schemas import StatusCounts
from store.examinations import STATUSES, list_branches, visible_hospital_ids
from store.tables import Examination, ExaminationCount
from store.uow import Actor

COUNT_CAP = 10_000  # counts per status are exact up to here


async def _capped_count(clauses: list[Any]) -> int:
    """How many rows match, counting at most COUNT_CAP + 1 of them: each status's count
    reads at most that many index entries, however long the list is."""
    sub = Examination.select(Examination.id).where(*clauses).limit(COUNT_CAP + 1)
    rows = await Examination.raw("SELECT COUNT(*) AS n FROM ({}) AS capped", sub.querystrings[0])
    return int(rows[0]["n"])


async def _shared_counts(shared: Any, filters: list[Any]) -> dict[str, int]:
    """Per status, exactly: one GROUP BY over the shared examinations (read by their
    ``shared_with`` index, bounded by the hospital's open requests)."""
    rows = (
        await Examination.select(Examination.status, Count(Examination.id, alias="n"))
        .where(shared, *filters)
        .group_by(Examination.status)
    )
    return {r["status"]: int(r["n"]) for r in rows}


def _only_by_hospital(f: ExamFilter) -> bool:
    """Whether the filter narrows by nothing but hospital (and status, which counts set
    aside): then ``examination_count`` answers the own branch exactly."""
    return not (
        f.date_from
        or f.date_to
        or f.device_type
        or f.exam_category
        or f.scanning_method
        or f.department_id is not None
        or f.priority is not None
        or f.q
    )


async def _kept_counts(hospitals: list[int]) -> dict[str, int]:
    """Per status from the counts the database triggers keep (one row per hospital and
    status): O(hospitals), however many examinations."""
    if not hospitals:
        return {}
    rows = await ExaminationCount.select(ExaminationCount.status, ExaminationCount.n).where(
        ExaminationCount.hospital.is_in(hospitals)
    )
    found: dict[str, int] = {}
    for r in rows:
        found[r["status"]] = found.get(r["status"], 0) + int(r["n"])
    return found


async def status_counts(actor: Actor, query: ExamQuery) -> StatusCounts:
    """Per status for the filter (its status aside). The own hospitals' part: exact from
    ``examination_count`` when the filter narrows by hospital at most, else exact up to
    COUNT_CAP a status (a status with more is reported as COUNT_CAP and named in
    ``capped``; the page shows "10000+"). The shared part: exact (one GROUP BY)."""
    f = query.parse()
    filters = await filter_clauses(actor, f, with_status=False)
    mine, shared = await list_branches(actor)
    found = dict.fromkeys(STATUSES, 0)
    capped: list[str] = []
    if mine is not None and _only_by_hospital(f):
        own = await visible_hospital_ids(actor)
        hospitals = [h for h in own if f.hospital_id in (None, h)]
        for s, n in (await _kept_counts(hospitals)).items():
            if s in found:
                found[s] += max(n, 0)
    elif mine is not None:
        for s in STATUSES:
            n = await _capped_count([mine, *filters, Examination.status == s])
            found[s] += min(n, COUNT_CAP)
            if n > COUNT_CAP:
                capped.append(s)
    if shared is not None:
        for s, n in (await _shared_counts(shared, filters)).items():
            if s in found:
                found[s] += n
    return StatusCounts(counts=found, total=sum(found.values()), capped=capped)
