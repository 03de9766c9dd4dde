"""The reviewed report into its study as DICOM (issue 5 item 7), one flow run per approval.

R's approve step writes the outbox row ``report.dicom`` ``{report_id, exam_id}`` (key
``report-dicom-<report>-<revision>``) in its transaction; the dispatcher runs this flow.
The task builds the Encapsulated PDF (``api.reports.dicom``) and stores it through the one
ingest path (``api.ingest.steps.ingest_file`` into a run of the examination's hospital,
source ``import``, detail ``report <id> revision <n>``, then the run's pipeline inline), and
records ``ExamReport.dicom_sop_uid``. A repeated delivery stores the same bytes under the
same UID (a no-op); a later approval's instance supersedes the earlier one (kept, hidden).
A study in the archive tier refuses new instances: the task fails and the dispatcher tries
again with backoff until the row fails (visible in the dashboard and the outbox).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import anyio

from api.ingest.steps import create_run, ingest_file
from api.reports.dicom import Source, encapsulate, sop_uid
from api.reports.print import pdf_of
from flows.migration import migrate_inline
from flows.outbox import payload_of
from flows.runs import outbox_flow, retrying_after
from store.db import transaction
from store.tables import Examination, ExamReport, Instance, Patient, Series, Study
from store.uow import Ctx, write_audit
from store.zones import hospital_zone

log = logging.getLogger(__name__)

CTX = Ctx(user_agent="aimis report dicom")


class NotStored(Exception):
    """The instance was not stored this time (the study is archived, the disk failed …);
    the dispatcher tries again later."""


async def _source(exam: dict[str, Any]) -> Source | None:
    study = await Study.select().where(Study.id == exam["study"]).first()
    if study is None:
        return None
    patient = await Patient.select().where(Patient.id == study["patient"]).first()
    return Source(patient or {}, study)


async def _supersede(hospital_id: int, old_uid: str, keep_uid: str) -> None:
    """Hide the instance of an earlier review (kept, as an older revision is)."""
    if not old_uid or old_uid == keep_uid:
        return
    rows = await Instance.select(Instance.id, Instance.series, Instance.study).where(
        Instance.hospital == hospital_id,
        Instance.sop_uid == old_uid,
        Instance.superseded.eq(False),
    )
    for row in rows:
        await Instance.update({Instance.superseded: True}).where(Instance.id == row["id"])
        await Series.update({Series.num_instances: Series.num_instances - 1}).where(
            Series.id == row["series"]
        )
        await Study.update({Study.num_instances: Study.num_instances - 1}).where(
            Study.id == row["study"]
        )


async def store_report(report_id: int) -> str:
    """Store the reviewed report into its study; returns what happened (for the flow's log):
    ``stored`` | ``already stored`` | ``not reviewed`` | ``no study``."""
    report = await ExamReport.select().where(ExamReport.id == report_id).first()
    if report is None or report["state"] != "reviewed" or report["reviewed_at"] is None:
        return "not reviewed"  # returned again since: the next approval queues its own row
    sop = sop_uid(report_id, int(report["revision"]))
    exam = await Examination.select().where(Examination.id == report["examination"]).first()
    assert exam is not None
    owner = int(exam["hospital"])
    if report["dicom_sop_uid"] == sop and await Instance.exists().where(
        Instance.hospital == owner, Instance.sop_uid == sop, Instance.superseded.eq(False)
    ):
        return "already stored"
    source = await _source(exam) if exam["study"] is not None else None
    if source is None:
        log.warning("report %s: examination %s has no study to store into", report_id, exam["id"])
        return "no study"
    at: datetime = report["reviewed_at"].astimezone(await hospital_zone(owner))
    pdf = await pdf_of(report, exam, report["reviewed_at"])
    title = report["title"] or "Report"
    data = await anyio.to_thread.run_sync(encapsulate, pdf, source, report, sop, at, title)
    detail = f"report {report_id} revision {report['revision']}"
    run_id = await create_run(CTX, owner, "import", detail)
    result = await ingest_file(run_id, data, file_name=f"report-{report_id}.dcm", ctx=CTX)
    await migrate_inline(run_id)
    if not result.ok:
        raise NotStored(f"{detail} was not stored: {result.code}: {result.reason}")
    async with transaction():
        await _supersede(owner, report["dicom_sop_uid"], sop)
        await ExamReport.update({ExamReport.dicom_sop_uid: sop}).where(ExamReport.id == report_id)
        await write_audit(
            CTX,
            "exam_report.dicom",
            "exam_report",
            report_id,
            hospital_id=owner,
            detail=f"{detail} stored as {sop} in study {source.study['study_uid']}",
        )
    return "stored"


@retrying_after(2, 10)
async def report_of(outbox_id: int) -> int:
    return int((await payload_of(outbox_id))["report_id"])


@retrying_after(2, 10)
async def store_task(report_id: int) -> str:
    return await store_report(report_id)


@outbox_flow("report-dicom")
async def store_report_dicom(outbox_id: int) -> None:
    outcome = await store_task(await report_of(outbox_id))
    log.info("report DICOM of outbox row %s: %s", outbox_id, outcome)
