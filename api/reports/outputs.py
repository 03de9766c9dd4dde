"""What a report turns into (SPEC 2.4 print; issue 5 items 6, 9): thin handlers over
``api.reports.print`` and ``api.reports.fhir``.

``GET /api/exams/{exam_id}/report.pdf`` the PDF (watermarked "初稿 DRAFT" until reviewed);
``POST /api/exams/{exam_id}/report/print`` count a print of the reviewed report;
``GET /fhir/DiagnosticReport/{report_id}`` the report as FHIR R4 (application/fhir+json).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.status_codes import HTTP_200_OK

from api.auth import ctx_of
from api.exams.guards import require_exam_list
from api.phi import phi
from api.reports import fhir
from api.reports.print import print_report, report_pdf


class Printed(msgspec.Struct):
    pdf_url: str
    print_count: int


class ReportOutputController(Controller):
    path = "/"
    tags = ["reports"]
    guards = [require_exam_list]

    @get("/api/exams/{exam_id:int}/report.pdf", opt=phi("exam_report.pdf", "exam_report"))
    async def pdf(self, request: Request, exam_id: int) -> Response[bytes]:
        name, content = await report_pdf(ctx_of(request), exam_id)
        return Response(
            content,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )

    @post("/api/exams/{exam_id:int}/report/print", status_code=HTTP_200_OK)
    async def print(self, request: Request, exam_id: int) -> Printed:
        url, count = await print_report(ctx_of(request), exam_id)
        return Printed(pdf_url=url, print_count=count)

    @get(
        "/fhir/DiagnosticReport/{report_id:int}",
        opt=phi("exam_report.fhir", "exam_report", "report_id"),
    )
    async def diagnostic_report(self, request: Request, report_id: int) -> Response[Any]:
        resource = await fhir.diagnostic_report(ctx_of(request), report_id)
        return Response(
            msgspec.json.encode(resource),
            media_type=fhir.MEDIA_TYPE,
            headers={"Cache-Control": "no-store"},
        )
