"""The examination report on paper (SPEC 2.4 print): the PDF and the print step.

The PDF carries the reporting hospital's logo and name, the template's title, header and
footer (``ReportTemplate`` formats filled by ``api.dictionaries.templates.render_template``;
without a template a default layout lists the examination's fields), findings, impression,
author and reviewer with their times, the print time, and — where the examination's
hospital has cloud film on — the QR code the patient scans to open it in her archive
(``api.patient_archive.qr``; its token signed with the print time). Until the report is
reviewed every page carries a "初稿 DRAFT" watermark. The layout is ``api.paper``'s, which
the consultation report shares.

Printing (``print_report``) needs ``report.print`` in the reporting hospital and a reviewed
report; in one unit of work it counts the print on the report, sets the examination's print
time (the first print only) and status ``printed`` (``exam_changed``), and moves an open
diagnosis request to ``printed`` (``api.diagnosis.steps.follow_report``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio

from api.diagnosis.steps import follow_report
from api.dictionaries.templates import exam_values, render_template
from api.paper import DRAFT, QR_CAPTION, Paper, Section, logo_file, render
from api.patient_archive.qr import printable_url
from api.reports.access import for_writing, names, readable, report_of
from kernel.domain import Permission
from kernel.errors import Conflict, NotFound
from kernel.i18n import Msg
from store.examinations import exam_changed
from store.reads import note
from store.tables import Examination, ExamReport, Hospital
from store.uow import Ctx, now, unit_of_work
from store.zones import hospital_zone

Translate = Callable[[str], str]
REVIEWED = "reviewed"
# the fields a report shows when it has no template (template.FIELDS keys, in this order)
DEFAULT_FIELDS = (
    "patient_name",
    "patient_sex",
    "patient_age",
    "patient_id",
    "accession_number",
    "check_item",
    "device_type",
    "body_part",
    "exam_time",
    "department",
)
FIELD_LABELS = {
    "hospital": "医院 Hospital",
    "patient_name": "姓名 Name",
    "patient_sex": "性别 Sex",
    "patient_age": "年龄 Age",
    "patient_id": "患者ID Patient ID",
    "his_number": "门诊/住院号 HIS No.",
    "accession_number": "检查号 Accession",
    "check_item": "检查项目 Check item",
    "body_part": "部位 Body part",
    "device_type": "设备类型 Modality",
    "device": "设备 Device",
    "exam_category": "类别 Category",
    "scanning_method": "扫描方式 Method",
    "exam_time": "检查时间 Exam time",
    "exam_date": "检查日期 Exam date",
    "department": "科室 Department",
}


# --- the document of a report ---------------------------------------------------------------


def _local(value: datetime | None, zone: Any) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""


async def document(report: dict[str, Any], exam: dict[str, Any], printed_at: datetime) -> Paper:
    """The page of ``report`` (an ExamReport row) of ``exam`` (its Examination row)."""
    hospital = await Hospital.select().where(Hospital.id == report["hospital"]).first()
    assert hospital is not None
    zone = await hospital_zone(int(report["hospital"]))
    values = await exam_values(exam)
    title, header, footer = "", "", ""
    shown: list[str] = list(DEFAULT_FIELDS)
    if report["template"] is not None:
        try:
            rendered = await render_template(int(report["template"]), int(exam["id"]))
        except NotFound:  # the template was deleted since: the default layout
            rendered = None
        if rendered is not None:
            title, header, footer = rendered.title, rendered.header, rendered.footer
            shown = list(rendered.fields) or shown
    who = await names(report["initial_by"] or report["author"], report["reviewer"])
    author = report["initial_by"] or report["author"]
    signatures = [
        ("报告医生 Reported by", who.get(author, "") if author else ""),
        ("报告时间 Reported at", _local(report["initial_at"], zone)),
        ("审核医生 Reviewed by", who.get(report["reviewer"], "") if report["reviewer"] else ""),
        ("审核时间 Reviewed at", _local(report["reviewed_at"], zone)),
        ("打印时间 Printed at", _local(printed_at, zone)),
    ]
    line = "  ".join(x for x in (hospital["address"], hospital["phone"]) if x)
    url = await printable_url(int(exam["id"]), int(exam["hospital"]), printed_at)
    return Paper(
        hospital_name=hospital["name"],
        hospital_line=line,
        logo=logo_file(hospital["logo_file"]),
        title=report["title"]
        or title
        or f"{values['check_item'] or ''}检查报告 Examination report",
        header=header,
        fields=[(FIELD_LABELS.get(f, f), values.get(f, "")) for f in shown],
        sections=[
            Section("影像所见 Findings", text=report["findings"]),
            Section("诊断意见 Impression", text=report["impression"]),
        ],
        signatures=signatures,
        footer=footer,
        watermark="" if report["state"] == REVIEWED else DRAFT,
        created=printed_at,
        codes=[(QR_CAPTION, url)] if url else [],
    )


async def pdf_of(report: dict[str, Any], exam: dict[str, Any], printed_at: datetime) -> bytes:
    doc = await document(report, exam, printed_at)
    return await anyio.to_thread.run_sync(render, doc)


# --- reading and printing -------------------------------------------------------------------


async def report_pdf(ctx: Ctx, exam_id: int) -> tuple[str, bytes]:
    """The report as PDF (file name, bytes); reading it is audited by the route's
    declaration (``api.phi``)."""
    assert ctx.actor is not None
    report, exam = await readable(ctx.actor, exam_id)
    content = await pdf_of(report, exam, now())
    note(target_id=report["id"], detail=f"examination {exam_id}, {report['state']}")
    return f"report-{exam_id}.pdf", content


async def print_report(ctx: Ctx, exam_id: int) -> tuple[str, int]:
    """Count a print of the reviewed report; returns (PDF address, print count)."""
    assert ctx.actor is not None
    found = await for_writing(ctx.actor, exam_id, Permission.report_print)
    assert found.reporting is not None
    report = await report_of(exam_id)
    if report is None or report["state"] != REVIEWED:
        state = report["state"] if report else "not written"
        raise Conflict(
            "Only a reviewed report is printed; this one is {state}.",
            state=Msg(state, context="report state"),
            extra={"state": state},
        )
    at = now()
    owner = int(found.exam["hospital"])
    async with unit_of_work(ctx) as uow:
        counted = (
            await ExamReport.update(
                {
                    ExamReport.printed_at: at,
                    ExamReport.print_count: ExamReport.print_count + 1,
                    ExamReport.version: ExamReport.version + 1,
                    ExamReport.updated_at: at,
                }
            )
            .where(ExamReport.id == report["id"], ExamReport.state == REVIEWED)
            .returning(ExamReport.print_count)
        )
        if not counted:
            raise Conflict(
                "The report changed while printing; reload and print again.",
            )
        await Examination.update({Examination.print_time: at}).where(
            Examination.id == exam_id, Examination.print_time.is_null()
        )
        await Examination.update(
            {
                Examination.status: "printed",
                Examination.updated_at: at,
                Examination.version: Examination.version + 1,
            }
        ).where(Examination.id == exam_id)
        await exam_changed(uow, exam_id, owner, "printed")
        await follow_report(uow.ctx, exam_id, found.reporting, "print")
        count = int(counted[0]["print_count"])
        await uow.audit(
            "exam_report.print",
            "exam_report",
            report["id"],
            hospital_id=found.reporting,
            detail=f"examination {exam_id}, print {count}",
        )
    return f"/api/exams/{exam_id}/report.pdf", count
