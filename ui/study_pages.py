"""Study pages: the study list (admins' view of the imaging index until the remote-diagnosis
examination list arrives) and the light mobile viewer (SPEC 2.3, 2.6).

The list opens one study, or several side by side, in OHIF (``/viewer``); the mobile page
shows thumbnails first on a mobile network and loads originals on demand, from ``/dicomweb``.
"""

from __future__ import annotations

import re

from litestar import Request, get
from litestar.response import Redirect, Template

from api.auth import ctx_of
from api.phi import patient_only, phi
from api.viewer import studies
from api.viewer.controllers import viewer_url
from api.viewer.touch import touch_viewer
from kernel.errors import AppError, BadRequest
from ui import i18n
from ui.pages import PageController, given, page, page_url, query_texts, user_of

MAX_COMPARE = 4
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
STUDY_FILTERS = ("patient_id", "patient_name", "date_from", "date_to", "modality")


def _dicom_date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 else value


def _person_name(value: str) -> str:
    """DICOM PN ``ZHANG^XIUYING=张^秀英`` as people write it: ``ZHANG XIUYING 张秀英``
    (alphabetic components apart, ideographic and phonetic ones together)."""
    groups = value.split("=")
    parts = [groups[0].replace("^", " ").strip()]
    parts += [g.replace("^", "").strip() for g in groups[1:]]
    return " ".join(p for p in parts if p)


class StudyPages(PageController):
    path = "/studies"

    @get("/", opt=phi("study.list", "study"))
    async def index(self, request: Request, page_no: int = 1) -> Template:
        actor = user_of(request, admin_login=True)
        raw = query_texts(request, STUDY_FILTERS)
        filters = studies.StudyFilter(
            patient_id=raw["patient_id"][:64],
            patient_name=raw["patient_name"][:64],
            date_from=raw["date_from"],
            date_to=raw["date_to"],
            modality=raw["modality"][:16],
            page=page_no,
        )
        result: studies.StudyPage | None = None
        problem = ""
        try:
            result = await studies.list_studies(ctx_of(request), actor, filters)
        except BadRequest as exc:
            problem = exc.text(i18n.language(request))
        query = given(raw.items())
        return await page(
            request,
            "studies/list.html",
            filters=filters,
            result=result,
            problem=problem,
            page_url=page_url("/studies", query),
            modalities=["CT", "MR", "CR", "DX", "MG", "US", "XA", "PT", "NM", "OT"],
            max_compare=MAX_COMPARE,
            viewer_url=viewer_url,
            person=_person_name,
            dicom_date=_dicom_date,
        )

    @get("/open", opt=patient_only())
    async def open_in_viewer(self, request: Request, uid: list[str] | None = None) -> Redirect:
        """The list's "compare" form: the chosen studies side by side in OHIF."""
        user_of(request, admin_login=True)
        uids = list(dict.fromkeys(u.strip() for u in (uid or []) if u.strip()))
        if not uids:
            raise BadRequest("Choose at least one study to open.")
        if len(uids) > MAX_COMPARE:
            raise BadRequest(f"Compare at most {MAX_COMPARE} studies at a time.")
        bad = [u for u in uids if len(u) > 64 or not UID.match(u)]
        if bad:
            raise BadRequest(f"{bad[0][:80]!r} is not a Study Instance UID.")
        return Redirect(viewer_url(uids))

    @get("/phone", opt=patient_only())
    async def phone(self, request: Request, uid: str = "") -> Redirect:
        """Where "Open images" leads on a phone-sized screen (ui/static/open-images.js): the
        touch viewer of the study with this UID."""
        actor = user_of(request)
        if not UID.match(uid.strip()) or len(uid.strip()) > 64:
            raise BadRequest(f"{uid[:80]!r} is not a Study Instance UID.")
        return Redirect(f"/studies/{await studies.study_id_of(actor, uid.strip())}/mobile")

    @get("/{study_id:int}/mobile", opt=phi("study.view", "study", "study_id"))
    async def mobile(self, request: Request, study_id: int) -> Template:
        actor = user_of(request)
        data = await studies.study_images(ctx_of(request), actor, study_id)
        if not data.study.viewable:
            raise ArchivedStudy(
                "This study is archived; its images come back after a retrieval (Data management)."
            )
        tv = touch_viewer(
            f"/dicomweb/studies/{data.study.study_uid}",
            data.images,
            data.study.modalities,
            viewer_url([data.study.study_uid]),
        )
        return await page(
            request,
            "studies/mobile.html",
            s=data.study,
            tv=tv,
            person=_person_name,
            dicom_date=_dicom_date,
        )


class ArchivedStudy(AppError):
    status_code = 409
