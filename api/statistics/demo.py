"""A year of the demo hospitals' work for the statistics pages (issue 17): examinations of
past days with their reports (initial and reviewed, by the hospital's doctors), remote
diagnoses from the lower hospitals to City, and finished consultations. Written in bulk,
a thousand rows a statement, from a fixed seed; the triggers fill the rollups on the way.
Past work, already done: no images, no history rows, nothing for the timers. Once: a
hospital that has its ``ST-`` examinations is left as it is.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from store.db import transaction
from store.tables import (
    Consultation,
    Department,
    DiagnosisRequest,
    Examination,
    ExamReport,
    Hospital,
    User,
)

PER_DAY = {"CITY": 30, "EAST": 8, "WEST": 10}  # examinations on an average weekday
DEVICES = ("CT", "CT", "DX", "DX", "MR", "US", "US", "MG")
BATCH = 1000
SURNAMES = ("Wang 王", "Li 李", "Zhang 张", "Liu 刘", "Chen 陈", "Yang 杨", "Zhao 赵", "Huang 黄")


def _minutes(rng: random.Random, median: float) -> timedelta:
    return timedelta(minutes=max(3.0, rng.lognormvariate(0, 0.9) * median))


async def _insert(table: Any, rows: list[Any]) -> list[int]:
    ids: list[int] = []
    for i in range(0, len(rows), BATCH):
        async with transaction():
            done = await table.insert(*rows[i : i + BATCH]).returning(table.id)
        ids += [int(r["id"]) for r in done]
    return ids


async def load_demo_history(hospital_ids: dict[str, int], days: int) -> None:
    if days <= 0:
        return
    rng = random.Random(17)
    today = datetime.now(UTC).date()
    for code, per_day in PER_DAY.items():
        hospital = hospital_ids[code]
        if await Examination.exists().where(
            Examination.hospital == hospital, Examination.accession_number.like("ST-%")
        ):
            continue
        zone = await Hospital.select(Hospital.time_zone).where(Hospital.id == hospital).first()
        tz = ZoneInfo(zone["time_zone"] if zone else "Asia/Shanghai")
        departments = [
            int(d["id"])
            for d in await Department.select(Department.id).where(Department.hospital == hospital)
        ]
        doctors = [
            int(u["id"])
            for u in await User.select(User.id).where(
                User.hospital == hospital, User.kind == "doctor"
            )
        ]
        exams: list[Examination] = []
        for back in range(days, 0, -1):
            day = today - timedelta(days=back)
            n = rng.randint(per_day // 2, per_day * 3 // 2) // (3 if day.weekday() >= 5 else 1)
            for _ in range(n):
                at = datetime.combine(day, time(7), tzinfo=tz) + timedelta(
                    minutes=rng.randint(0, 12 * 60)
                )
                number = len(exams) + 1
                exams.append(
                    Examination(
                        hospital=hospital,
                        patient_name=f"{rng.choice(SURNAMES)} Demo{number:05d}",
                        patient_sex=rng.choice("MF"),
                        patient_id=f"ST{code}{number:06d}",
                        accession_number=f"ST-{code}-{number:06d}",
                        device_type=rng.choice(DEVICES),
                        department=rng.choice(departments) if departments else None,
                        exam_time=at,
                        status=rng.choice(("reviewed", "reviewed", "printed")),
                        created_at=at,
                        updated_at=at,
                    )
                )
        ids = await _insert(Examination, exams)
        reports = []
        for exam_id, exam in zip(ids, exams, strict=True):
            initial = exam.exam_time + _minutes(rng, 90 if code == "CITY" else 240)
            reports.append(
                ExamReport(
                    hospital=hospital,
                    examination=exam_id,
                    state="reviewed",
                    title="Demo report",
                    impression="No acute findings. 未见急性病变。",
                    initial_by=rng.choice(doctors) if doctors else None,
                    initial_at=initial,
                    reviewer=rng.choice(doctors) if doctors else None,
                    reviewed_at=initial + _minutes(rng, 180),
                    created_at=exam.exam_time,
                    updated_at=initial,
                )
            )
        await _insert(ExamReport, reports)
        if code != "CITY":
            await _requests(rng, hospital, hospital_ids["CITY"], ids, exams, doctors)
        await _consultations(rng, hospital, exams, doctors)


async def _requests(
    rng: random.Random,
    hospital: int,
    target: int,
    ids: list[int],
    exams: list[Examination],
    doctors: list[int],
) -> None:
    """About one examination in six went to City for its report."""
    if not doctors:
        return
    rows = [
        DiagnosisRequest(
            examination=exam_id,
            hospital=hospital,
            target_hospital=target,
            state="reviewed",
            requested_by=rng.choice(doctors),
            clinical_info="Demo: please report. 请协助诊断。",
            created_at=exam.exam_time + timedelta(minutes=20),
            updated_at=exam.exam_time + timedelta(hours=5),
        )
        for exam_id, exam in zip(ids, exams, strict=True)
        if rng.random() < 1 / 6
    ]
    await _insert(DiagnosisRequest, rows)


async def _consultations(
    rng: random.Random, hospital: int, exams: list[Examination], doctors: list[int]
) -> None:
    """About one examination in forty led to a consultation, finished."""
    if not doctors:
        return
    rows = [
        Consultation(
            hospital=hospital,
            applicant=rng.choice(doctors),
            topic="Demo consultation 演示会诊",
            scheduled_at=exam.exam_time + timedelta(days=1),
            state="finished",
            report_text="Demo conclusion. 演示结论。",
            created_at=exam.exam_time + timedelta(hours=2),
        )
        for exam in exams
        if rng.random() < 1 / 40
    ]
    await _insert(Consultation, rows)
