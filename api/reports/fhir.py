"""The examination report as a FHIR R4 ``DiagnosticReport`` (issue 5 item 9).

Built by hand (no FHIR library in the lock): the resource is small and its shape is pinned
by the tests. ``status``: preliminary (initial diagnosis), final (reviewed), amended
(reviewed again after an earlier review), registered (a draft or a returned report, seen by
the reporting hospital only). ``subject`` is a display name only, never an identifier of
the patient. ``imagingStudy`` points at a contained ``ImagingStudy`` whose identifier is the
Study Instance UID (``urn:oid:``) and whose endpoint is this platform's DICOMweb service.
Same visibility as the report (``api.reports.access.readable``); every read is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from api.reports.access import names, readable
from kernel.errors import NotFound
from kernel.settings import get_settings
from store.reads import note
from store.tables import CheckItem, ExamReport, ExamReportVersion, Hospital, Study
from store.uow import Ctx

MEDIA_TYPE = "application/fhir+json"
DICOM_UID = "urn:dicom:uid"
STATUS = {"draft": "registered", "returned": "registered", "initial": "preliminary"}


def _instant(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


async def status_of(report: dict[str, Any]) -> str:
    if report["state"] != "reviewed":
        return STATUS.get(report["state"], "registered")
    reviews = await ExamReportVersion.count().where(
        ExamReportVersion.report == report["id"], ExamReportVersion.state == "reviewed"
    )
    return "amended" if reviews > 1 else "final"


async def _code(exam: dict[str, Any]) -> dict[str, Any]:
    name = exam["check_item_name"] or exam["device_type"] or "Imaging examination"
    item = (
        await CheckItem.select(CheckItem.code, CheckItem.hospital)
        .where(CheckItem.id == exam["check_item"])
        .first()
        if exam["check_item"] is not None
        else None
    )
    if item is None:
        return {"text": name}
    system = f"urn:aimis:hospital:{item['hospital']}:check-item"
    return {"coding": [{"system": system, "code": item["code"], "display": name}], "text": name}


async def diagnostic_report(ctx: Ctx, report_id: int) -> dict[str, Any]:
    assert ctx.actor is not None
    row = await ExamReport.select(ExamReport.examination).where(ExamReport.id == report_id).first()
    if row is None:
        raise NotFound(
            "No report with id {report_id} exists, or it belongs to another hospital.",
            report_id=report_id,
        )
    exam_id = int(row["examination"])
    try:
        report, exam = await readable(ctx.actor, exam_id)
    except NotFound as hidden:
        raise NotFound(
            "No report with id {report_id} exists, or it belongs to another hospital.",
            report_id=report_id,
        ) from hidden
    base = get_settings().base_url.rstrip("/")
    hospital = await Hospital.select(Hospital.name).where(Hospital.id == report["hospital"]).first()
    interpreter = report["reviewer"] or report["initial_by"] or report["author"]
    people = await names(interpreter)
    resource: dict[str, Any] = {
        "resourceType": "DiagnosticReport",
        "id": str(report_id),
        "meta": {"lastUpdated": _instant(report["updated_at"])},
        "identifier": [{"system": f"{base}/fhir/DiagnosticReport", "value": str(report_id)}],
        "status": await status_of(report),
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                        "code": "RAD",
                        "display": "Radiology",
                    }
                ]
            }
        ],
        "code": await _code(exam),
        "subject": {"type": "Patient", "display": exam["patient_name"]},
        "effectiveDateTime": _instant(exam["exam_time"]),
        "issued": _instant(report["reviewed_at"] or report["initial_at"] or report["updated_at"]),
        "performer": [{"type": "Organization", "display": hospital["name"] if hospital else ""}],
        "presentedForm": [
            {
                "contentType": "application/pdf",
                "language": "zh-CN",
                "url": f"{base}/api/exams/{exam_id}/report.pdf",
                "title": report["title"] or "Examination report",
            }
        ],
    }
    if interpreter is not None:
        resource["resultsInterpreter"] = [
            {"type": "Practitioner", "display": people.get(int(interpreter), "")}
        ]
    if report["impression"]:
        resource["conclusion"] = report["impression"]
    study = (
        await Study.select(Study.study_uid).where(Study.id == exam["study"]).first()
        if exam["study"] is not None
        else None
    )
    if study is not None:
        uid = f"urn:oid:{study['study_uid']}"
        resource["contained"] = [
            {
                "resourceType": "ImagingStudy",
                "id": "study",
                "status": "available",
                "identifier": [{"system": DICOM_UID, "value": uid}],
                "subject": {"type": "Patient", "display": exam["patient_name"]},
                "endpoint": [{"reference": "#dicomweb"}],
            },
            {
                "resourceType": "Endpoint",
                "id": "dicomweb",
                "status": "active",
                "connectionType": {
                    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                    "code": "dicom-wado-rs",
                },
                "payloadType": [{"text": "DICOM"}],
                "address": f"{base}/dicomweb",
            },
        ]
        resource["imagingStudy"] = [
            {
                "reference": "#study",
                "type": "ImagingStudy",
                "identifier": {"system": DICOM_UID, "value": uid},
            }
        ]
    note(detail=f"examination {exam_id}")  # audited by the route's declaration (api.phi)
    return resource
