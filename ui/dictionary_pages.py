"""Pages of the examination dictionaries, report templates and knowledge base under
``/manage`` (SPEC 8.4–8.7), for a hospital's admin. They read through the same services as
the API; every change goes through the JSON API (``app.js`` forms)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Redirect, Template

from api.dictionaries import dictionaries as dicts
from api.dictionaries import knowledge, templates
from api.management import departments
from kernel.errors import NotFound
from ui.pages import HOSPITAL_ADMIN, PageController, admin_of, last_page, page

KINDS = {
    "check-items": ("Check items", dicts.list_check_items),
    "device-types": ("Device types", None),
    "body-parts": ("Body parts", None),
    "devices": ("Devices", dicts.list_devices),
}
PER_PAGE = 20


async def _listing(kind: str, actor: Any, query: dicts.ListQuery) -> Any:
    if kind == "device-types":
        return await dicts.list_coded(dicts.DEVICE_TYPES, actor, query)
    if kind == "body-parts":
        return await dicts.list_coded(dicts.BODY_PARTS, actor, query)
    return await KINDS[kind][1](actor, query)  # type: ignore[misc]


class DictionaryPages(PageController):
    path = "/manage/dictionaries"

    @get("/")
    async def index(self) -> Redirect:
        return Redirect("/manage/dictionaries/check-items")

    @get("/{kind:str}")
    async def listing(self, request: Request, kind: str, q: str = "", page_no: int = 1) -> Template:
        actor = admin_of(request, HOSPITAL_ADMIN)
        if kind not in KINDS:
            raise NotFound(f"There is no dictionary {kind[:40]!r}.")
        query = dicts.ListQuery(q, max(page_no, 1), PER_PAGE)
        result = await _listing(kind, actor, query)
        all_rows = dicts.ListQuery("", 1, 200, "true")
        return await page(
            request,
            "dictionaries/list.html",
            kind=kind,
            kinds=KINDS,
            title=KINDS[kind][0],
            result=result,
            q=q,
            page_no=query.page,
            pages=last_page(result.total, PER_PAGE),
            device_types=(await dicts.list_coded(dicts.DEVICE_TYPES, actor, all_rows)).items,
            body_parts=(await dicts.list_coded(dicts.BODY_PARTS, actor, all_rows)).items,
            categories=[c for c in dicts.EXAM_CATEGORIES if c],
        )


class TemplatePages(PageController):
    path = "/manage"

    @get("/templates")
    async def template_list(self, request: Request) -> Template:
        actor = admin_of(request, HOSPITAL_ADMIN)
        items = await dicts.list_check_items(actor, dicts.ListQuery("", 1, 200, "true"))
        return await page(
            request,
            "dictionaries/templates.html",
            kind="templates",
            kinds=KINDS,
            templates=await templates.list_templates(actor),
            fields=templates.FIELDS,
            check_items=items.items,
            departments=await departments.list_departments(actor),
            sample=templates.SAMPLE,
        )

    @get("/knowledge")
    async def knowledge_list(self, request: Request, q: str = "", page_no: int = 1) -> Template:
        actor = admin_of(request, HOSPITAL_ADMIN)
        result = await knowledge.search(
            actor, q[:200], "", max(page_no, 1), PER_PAGE, with_inactive=True
        )
        return await page(
            request,
            "dictionaries/knowledge.html",
            kind="knowledge",
            kinds=KINDS,
            result=result,
            q=q,
            page_no=result.page,
            pages=last_page(result.total, PER_PAGE),
        )
