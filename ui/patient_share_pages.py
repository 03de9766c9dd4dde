"""The share links' pages (SPEC 10.5): the patient's create sheet and her links (patient
cookie, else to ``/patient/login``), and the recipient's ``/s/<token>``: the password form,
then the examination (report once reviewed, images), or a page that says the link expired
or was revoked (410). Phone first, Chinese first; the forms post to the JSON API."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from api.patient_shares import images, service
from api.patient_shares.dicomweb import root_of
from api.patient_shares.service import Gone
from api.patient_shares.viewer import viewer_link
from kernel.errors import NotFound
from ui.pages import PageController
from ui.patient_pages import patient_page, render

STATE_LABELS = {
    service.ACTIVE: "share-state:active",
    service.EXPIRED: "share-state:expired",
    service.REVOKED: "share-state:revoked",
    service.LOCKED: "share-state:locked",
}


class PatientSharePages(PageController):
    path = "/patient/shares"

    @get("/")
    async def mine(self, request: Request) -> Template:
        patient, account = await patient_page(request)
        shares = await service.list_shares(patient)
        return render(
            request,
            "patient_shares/mine.html",
            account=account,
            shares=shares,
            state_labels=STATE_LABELS,
            tab="shares",
        )

    @get("/new")
    async def new(self, request: Request, examination: int = 0) -> Template:
        patient, account = await patient_page(request)
        await service.visible_person(patient.account_id, examination)
        return render(
            request,
            "patient_shares/new.html",
            account=account,
            examination=await service.examination_view(examination),
            days=service.DAYS,
            min_password=service.MIN_PASSWORD,
            tab="shares",
        )


class RecipientPages(PageController):
    path = "/s"

    @get("/{token:str}")
    async def open(self, request: Request, token: str) -> Template:
        context: dict[str, Any] = {"account": None, "token": token}
        try:
            share = await service.session_share(token, request.cookies.get(service.COOKIE, ""))
        except Gone as exc:
            page = render(request, "patient_shares/gone.html", reason=exc.template, **context)
            page.status_code = 410
            return page
        except NotFound:
            page = render(request, "patient_shares/gone.html", reason="", **context)
            page.status_code = 404
            return page
        if share is None:
            return render(request, "patient_shares/password.html", **context)
        exam = await service.examination_view(share["examination"])
        pictures = await images.image_list(exam["study_id"]) if exam["study_id"] else []
        return render(
            request,
            "patient_shares/view.html",
            exam=exam,
            images=pictures,
            viewer_url=viewer_link(token, exam["study_uid"]),
            dicomweb_url=str(request.base_url).rstrip("/") + root_of(token),
            **context,
        )
