"""The patient's archive pages (SPEC 10.4): her and her family's examinations, the proof
of an examination, one examination's report and images in the touch viewer. Phone first
(390 px), Chinese first; the patient cookie alone, as every patient page
(``ui.patient_pages``). The images come from the patient-scoped routes of
``api.patient_archive.patient_routes``, never from the staff DICOMweb."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from api.patient_archive import archive, downloads
from api.patients.realm import acting_of
from api.viewer.touch import touch_viewer
from kernel.errors import AppError
from kernel.i18n import N_
from ui.pages import PageController
from ui.patient_pages import patient_page, render

REPORT_STATES = {"reviewed": N_("Report ready"), "pending": N_("Report not ready yet")}


def _context() -> dict[str, object]:
    return {"report_states": REPORT_STATES, "tab": "exams"}


class PatientArchivePages(PageController):
    path = "/patient/examinations"

    @get("/")
    async def examinations(self, request: Request, person: int | None = None) -> Template:
        _, account = await patient_page(request)
        exams = await archive.list_exams(acting_of(request))
        chosen = person if person in {p.id for p in account.persons} else None
        return render(
            request,
            "patients/examinations.html",
            account=account,
            exams=[e for e in exams if chosen is None or e.person_id == chosen],
            counts={p.id: sum(1 for e in exams if e.person_id == p.id) for p in account.persons},
            chosen=chosen,
            **_context(),
        )

    @get("/add")
    async def add_examination(self, request: Request, person: int | None = None) -> Template:
        _, account = await patient_page(request)
        return render(
            request,
            "patients/add_examination.html",
            account=account,
            hospitals=await archive.hospitals(),
            chosen=person,
            **_context(),
        )

    @get("/{exam_id:int}")
    async def examination(self, request: Request, exam_id: int) -> Template:
        _, account = await patient_page(request)
        try:
            found = await archive.detail(acting_of(request), exam_id)
        except AppError as exc:
            if exc.status_code != 404:
                raise
            return render(
                request, "patients/examination_missing.html", account=account, **_context()
            )
        tv = touch_viewer(
            f"/api/patient/archive/{exam_id}/wado", found.images, found.modalities, None
        )
        return render(
            request,
            "patients/examination.html",
            account=account,
            d=found,
            tv=tv,
            download_allowed=await downloads.download_allowed(found.exam.hospital_id),
            **_context(),
        )
