"""The patient's other examinations, for comparison while reporting (SPEC 2.3, 2.4):
earlier ones (priors) and later ones, each marked, newest first.

Same patient = the same Patient ID in the same hospital (IDs are the hospital's own); only
what the reader may see (``store.examinations.examination_branches``): a diagnosing
hospital sees the priors its requests share with it, nothing else of the requester.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from store.examinations import examination_branches
from store.tables import Examination
from store.uow import Actor

MAX_PRIORS = 20


async def priors(
    actor: Actor,
    exam_id: int,
    hospital_id: int,
    patient_id: str,
    exam_time: datetime | None = None,
) -> list[dict]:
    """Up to MAX_PRIORS other examinations of the patient, newest first: id, study UID,
    exam time, device type, check item, status, and ``later`` (taken after ``exam_time``,
    so not a prior of this one)."""
    if not patient_id:
        return []
    rows: list[dict[str, Any]] = []
    for branch in await examination_branches(actor):
        rows += (
            await Examination.select(
                Examination.id,
                Examination.study.study_uid.as_alias("study_uid"),
                Examination.exam_time,
                Examination.device_type,
                Examination.check_item_name,
                Examination.status,
            )
            .where(
                branch,
                Examination.hospital == hospital_id,
                Examination.patient_id == patient_id,
                Examination.id != exam_id,
            )
            .order_by(Examination.exam_time, ascending=False)
            .limit(MAX_PRIORS)
        )
    rows.sort(key=lambda r: (r["exam_time"], r["id"]), reverse=True)
    for row in rows:
        row["later"] = bool(exam_time and row["exam_time"] and row["exam_time"] > exam_time)
    return rows[:MAX_PRIORS]
