"""The statistics rollups are kept by database triggers (migration 2026-12-07T22:00, block
1): after inserts, updates and deletes of examinations, diagnosis requests, consultations
and reports, ``stat_day`` and ``stat_turnaround`` equal a GROUP BY over the base tables
computed here (the local day in the hospital's zone, the minutes' bucket), and the other
way round: no row counted that the base tables do not hold. SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.statistics.service import BUCKETS
from store.migrations.store_2026_12_07t22_00_00_000000 import STAT_BUCKETS
from store.tables import (
    Consultation,
    Department,
    DiagnosisRequest,
    Examination,
    ExamReport,
    Hospital,
    StatDay,
    StatTurnaround,
    User,
)
from store.uow import now
from tests.fixtures.exams import diagnosing_hospital

pytestmark = pytest.mark.integration

# 17:30 UTC is the next day in Shanghai: the day boundary is the hospital's
LATE = datetime(2026, 3, 1, 17, 30, tzinfo=UTC)
EARLY = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def test_the_service_reads_the_buckets_the_triggers_write() -> None:
    assert BUCKETS == STAT_BUCKETS


async def zone(hospital: int) -> ZoneInfo:
    row = await Hospital.select(Hospital.time_zone).where(Hospital.id == hospital).first()
    return ZoneInfo(row["time_zone"])


def day(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).date().isoformat()


async def kept(hospitals: list[int]) -> Counter:
    rows = await StatDay.select().where(StatDay.hospital.is_in(hospitals))
    return Counter(
        {
            (r["hospital"], r["kind"], r["day"], r["department"], r["device_type"]): r["n"]
            for r in rows
            if r["n"]
        }
    )


async def counted(hospitals: list[int]) -> Counter:
    """The same figures from the base tables."""
    tz = {h: await zone(h) for h in hospitals}
    out: Counter = Counter()
    exams = await Examination.select().where(
        Examination.hospital.is_in(hospitals), Examination.deleted_at.is_null()
    )
    for e in exams:
        key = (e["hospital"], "exam", day(e["exam_time"], tz[e["hospital"]]))
        out[(*key, e["department"] or 0, e["device_type"])] += 1
    requests = await DiagnosisRequest.select().where(
        DiagnosisRequest.hospital.is_in(hospitals)
        | DiagnosisRequest.target_hospital.is_in(hospitals)
    )
    for r in requests:
        for column, kind in (("target_hospital", "remote"), ("hospital", "sent")):
            if r[column] in tz:
                out[(r[column], kind, day(r["created_at"], tz[r[column]]), 0, "")] += 1
    for c in await Consultation.select().where(Consultation.hospital.is_in(hospitals)):
        out[(c["hospital"], "consult", day(c["created_at"], tz[c["hospital"]]), 0, "")] += 1
    return out


async def kept_turnaround(hospital: int) -> Counter:
    rows = await StatTurnaround.select().where(StatTurnaround.hospital == hospital)
    return Counter(
        {(r["stage"], r["day"], r["doctor"], r["bucket"]): r["n"] for r in rows if r["n"]}
    )


async def counted_turnaround(hospital: int) -> Counter:
    tz = await zone(hospital)
    out: Counter = Counter()
    for r in await ExamReport.select(
        ExamReport.all_columns(), ExamReport.examination.exam_time.as_alias("exam_time")
    ).where(ExamReport.hospital == hospital):
        for stage, at, doctor in (
            ("initial", "initial_at", "initial_by"),
            ("reviewed", "reviewed_at", "reviewer"),
        ):
            if r[at] is not None:
                minutes = round((r[at] - r["exam_time"]).total_seconds() / 60, 2)
                bucket = bisect_left(BUCKETS, minutes)
                out[(stage, day(r[at], tz), r[doctor] or 0, bucket)] += 1
    return out


async def exam(hospital: int, at: datetime, **kw: Any) -> int:
    t = now()
    row = await Examination.insert(
        Examination(hospital=hospital, exam_time=at, created_at=t, updated_at=t, **kw)
    ).returning(Examination.id)
    return int(row[0]["id"])


async def test_examinations_requests_and_consultations_are_counted_exactly(uniq) -> None:
    one = await diagnosing_hospital(uniq, "STA", "Stat One {code}")
    two = await diagnosing_hospital(uniq, "STB", "Stat Two {code}")
    both = [one, two]
    dept = await Department.insert(
        Department(hospital=one, name="Radiology", created_at=now())
    ).returning(Department.id)
    dept_id = int(dept[0]["id"])
    ids = [
        await exam(one, LATE, device_type="CT", department=dept_id),
        await exam(one, EARLY, device_type="CT", department=dept_id),
        await exam(one, EARLY, device_type="MR"),
        await exam(two, LATE, device_type="DX"),
    ]
    assert await kept(both) == await counted(both)
    assert (one, "exam", "2026-03-02", dept_id, "CT") in await kept(both)  # Shanghai's day

    # updates of every counted column, a soft delete and its restore, a delete
    await Examination.update({Examination.device_type: "CR"}).where(Examination.id == ids[1])
    await Examination.update({Examination.exam_time: LATE + timedelta(days=3)}).where(
        Examination.id == ids[2]
    )
    await Examination.update({Examination.department: None}).where(Examination.id == ids[0])
    await Examination.update({Examination.hospital: two}).where(Examination.id == ids[1])
    await Examination.update({Examination.deleted_at: now()}).where(Examination.id == ids[3])
    await Examination.update({Examination.patient_name: "not counted"}).where(
        Examination.id == ids[2]
    )
    assert await kept(both) == await counted(both)
    await Examination.update({Examination.deleted_at: None}).where(Examination.id == ids[3])
    await Examination.update({Examination.status: "reviewed"}).where(Examination.id == ids[3])
    await Examination.delete().where(Examination.id == ids[2])
    assert await kept(both) == await counted(both)

    # diagnosis requests: sent by one, received by two; moved, re-dated, deleted
    user = await User.select(User.id).first()
    request = await DiagnosisRequest.insert(
        DiagnosisRequest(
            examination=ids[0],
            hospital=one,
            target_hospital=two,
            requested_by=user["id"],
            created_at=LATE,
            updated_at=LATE,
        ),
        DiagnosisRequest(
            examination=ids[0],
            hospital=one,
            target_hospital=two,
            requested_by=user["id"],
            created_at=EARLY,
            updated_at=EARLY,
        ),
    ).returning(DiagnosisRequest.id)
    assert await kept(both) == await counted(both)
    await DiagnosisRequest.update({DiagnosisRequest.state: "accepted"}).where(
        DiagnosisRequest.id == request[0]["id"]
    )
    await DiagnosisRequest.update({DiagnosisRequest.created_at: EARLY - timedelta(days=9)}).where(
        DiagnosisRequest.id == request[1]["id"]
    )
    assert await kept(both) == await counted(both)
    await DiagnosisRequest.delete().where(DiagnosisRequest.id == request[1]["id"])
    assert await kept(both) == await counted(both)

    # consultations of the applicant's hospital
    made = await Consultation.insert(
        Consultation(
            hospital=one, applicant=user["id"], topic="t", scheduled_at=LATE, created_at=LATE
        ),
        Consultation(
            hospital=one, applicant=user["id"], topic="u", scheduled_at=LATE, created_at=EARLY
        ),
    ).returning(Consultation.id)
    await Consultation.update({Consultation.hospital: two}).where(Consultation.id == made[0]["id"])
    await Consultation.update({Consultation.state: "approved"}).where(
        Consultation.id == made[1]["id"]
    )
    assert await kept(both) == await counted(both)
    await Consultation.delete().where(Consultation.id == made[1]["id"])
    assert await kept(both) == await counted(both)
    await DiagnosisRequest.delete().where(DiagnosisRequest.id == request[0]["id"])
    await Consultation.delete().where(Consultation.id == made[0]["id"])
    await Examination.delete().where(Examination.hospital.is_in(both))
    assert await kept(both) == await counted(both) == Counter()


async def test_report_turnaround_is_counted_per_day_doctor_and_bucket(uniq) -> None:
    one = await diagnosing_hospital(uniq, "STT", "Stat Turnaround {code}")
    users = [int(u["id"]) for u in await User.select(User.id).limit(2)]
    exams = [await exam(one, EARLY) for _ in range(4)]
    t = now()
    made = await ExamReport.insert(
        ExamReport(hospital=one, examination=exams[0], created_at=t, updated_at=t),
        ExamReport(
            hospital=one,
            examination=exams[1],
            initial_at=EARLY + timedelta(minutes=25),
            initial_by=users[0],
            reviewed_at=EARLY + timedelta(hours=7),
            reviewer=users[1],
            created_at=t,
            updated_at=t,
        ),
        ExamReport(
            hospital=one,
            examination=exams[2],
            initial_at=EARLY + timedelta(days=40),
            initial_by=users[1],
            created_at=t,
            updated_at=t,
        ),
    ).returning(ExamReport.id)
    assert await kept_turnaround(one) == await counted_turnaround(one)
    assert len(await kept_turnaround(one)) == 3
    # the draft gets its initial report, then its review; the second is returned
    await ExamReport.update(
        {ExamReport.initial_at: EARLY + timedelta(hours=2), ExamReport.initial_by: users[1]}
    ).where(ExamReport.id == made[0]["id"])
    await ExamReport.update(
        {ExamReport.reviewed_at: EARLY + timedelta(hours=30), ExamReport.reviewer: users[0]}
    ).where(ExamReport.id == made[0]["id"])
    await ExamReport.update({ExamReport.reviewed_at: None, ExamReport.reviewer: None}).where(
        ExamReport.id == made[1]["id"]
    )
    await ExamReport.update({ExamReport.title: "not counted"}).where(ExamReport.id == made[2]["id"])
    assert await kept_turnaround(one) == await counted_turnaround(one)
    await ExamReport.delete().where(ExamReport.id == made[2]["id"])
    assert await kept_turnaround(one) == await counted_turnaround(one)
    await ExamReport.delete().where(ExamReport.hospital == one)
    assert await kept_turnaround(one) == Counter()
