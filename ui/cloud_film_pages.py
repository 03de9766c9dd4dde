"""The cloud-film page of the management platform (SPEC 8.7): ``/manage/cloud-film``.

A hospital admin sees and edits his hospital's rules (each form sends to
``/api/patient-archive``, with the row's version) and how many patients each rule reached;
the alliance admin sees the figures per hospital only.
"""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from api.dictionaries.dictionaries import MAX_HOURS
from api.patient_archive import rules
from ui.pages import ALLIANCE_ADMIN, PageController, admin_of, page


class CloudFilmPages(PageController):
    path = "/manage/cloud-film"

    @get("/")
    async def cloud_film(self, request: Request) -> Template:
        actor = admin_of(request)
        if actor.kind == ALLIANCE_ADMIN:
            return await page(
                request, "manage/cloud_film.html", figures=await rules.overview(actor)
            )
        return await page(
            request,
            "manage/cloud_film.html",
            rules=await rules.read_rules(actor),
            max_hours=MAX_HOURS,
        )
