"""The patient's archive pages (SPEC 10.4): her and her family's examinations, the proof
of an examination, one examination's report and images in the touch viewer. Phone first
(390 px), Chinese first; the patient cookie alone, as every patient page
(``ui.patient_pages``). The images come from the patient-scoped routes of
``api.patient_archive.patient_routes``, never from the staff DICOMweb."""

from __future__ import annotations

from urllib.parse import quote

from litestar import Request, get
from litestar.response import Redirect, Template

from api.patient_archive import archive, downloads, qr
from api.patients.realm import acting_of, optional_patient
from api.viewer.touch import touch_viewer
from kernel.errors import AppError
from kernel.i18n import N_
from ui import i18n
from ui.pages import PageController
from ui.patient_pages import LOGIN, patient_page, render

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


class PatientQrPages(PageController):
    """``/patient/qr/<token>``, the URL of a printed report's QR code (issue 15 point 8):
    a genuine code sends her through the login and back, then to the examination it names
    (matched to her first when it was not yet: ``api.patient_archive.qr.scan``). A
    refused code is a page that says why, with the way on."""

    path = qr.PATH.rstrip("/")

    @get("/{token:str}")
    async def scanned(self, request: Request, token: str) -> Template | Redirect:
        acting = acting_of(request)
        try:
            if await optional_patient(request) is None:
                await qr.genuine(acting, token)  # a refused code says so before the login
                return Redirect(f"{LOGIN}?next={quote(request.url.path)}")
            _, account = await patient_page(request)
            done = await qr.scan(acting_of(request), token)
        except AppError as exc:
            if exc.status_code not in (400, 404, 409):
                raise
            return _refused(request, exc)
        if done.visible:
            return Redirect(f"/patient/examinations/{done.examination_id}")
        return render(request, "patients/qr_added.html", account=account, done=done, **_context())


def _refused(request: Request, exc: AppError) -> Template:
    page = render(
        request,
        "patients/qr_refused.html",
        account=None,
        message=exc.text(i18n.language(request)),
        verify=exc.status_code == 409,
        **_context(),
    )
    page.status_code = exc.status_code
    return page
