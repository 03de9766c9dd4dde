"""Dictionary, template and knowledge API (SPEC 8.4–8.7): thin handlers over the services.

Reads: anyone logged in, limited to his hospital by ``store.scoping``. Writes of the
dictionaries and of hospital/department templates and phrases: the hospital's admin.
"""

from __future__ import annotations

from litestar import Controller, Request, get, patch, post
from litestar.di import Provide
from litestar.status_codes import HTTP_200_OK

from api.auth import actor_of, ctx_of, require_login
from api.dictionaries import dictionaries as dicts
from api.dictionaries import knowledge, templates
from api.dictionaries.schemas import (
    CheckItemCreate,
    CheckItemPage,
    CheckItemRead,
    CheckItemUpdate,
    CodedCreate,
    CodedPage,
    CodedRead,
    CodedUpdate,
    DeviceCreate,
    DevicePage,
    DeviceRead,
    DeviceUpdate,
    FieldInfo,
    PhraseCreate,
    PhrasePage,
    PhraseRead,
    PhraseUpdate,
    RenderedReport,
    TemplateCreate,
    TemplatePreview,
    TemplateRead,
    TemplateUpdate,
)
from api.management.guards import require_hospital_admin
from api.phi import phi


def provide_query(
    q: str = "", page: int = 1, per_page: int = 50, active: str = ""
) -> dicts.ListQuery:
    return dicts.ListQuery(q, page, per_page, active)


class DictionaryController(Controller):
    path = "/api/dictionaries"
    tags = ["dictionaries"]
    guards = [require_login]
    dependencies = {"listing": Provide(provide_query, sync_to_thread=False)}

    @get("/device-types")
    async def list_device_types(self, request: Request, listing: dicts.ListQuery) -> CodedPage:
        return await dicts.list_coded(dicts.DEVICE_TYPES, actor_of(request), listing)

    @post("/device-types", guards=[require_hospital_admin])
    async def create_device_type(self, request: Request, data: CodedCreate) -> CodedRead:
        return await dicts.add_coded(dicts.DEVICE_TYPES, ctx_of(request), data)

    @get("/device-types/{item_id:int}")
    async def get_device_type(self, request: Request, item_id: int) -> CodedRead:
        return await dicts.get_coded(dicts.DEVICE_TYPES, actor_of(request), item_id)

    @patch("/device-types/{item_id:int}", guards=[require_hospital_admin])
    async def update_device_type(
        self, request: Request, item_id: int, data: CodedUpdate
    ) -> CodedRead:
        return await dicts.update_coded(dicts.DEVICE_TYPES, ctx_of(request), item_id, data)

    @get("/devices")
    async def list_devices(self, request: Request, listing: dicts.ListQuery) -> DevicePage:
        return await dicts.list_devices(actor_of(request), listing)

    @post("/devices", guards=[require_hospital_admin])
    async def create_device(self, request: Request, data: DeviceCreate) -> DeviceRead:
        return await dicts.add_device(ctx_of(request), data)

    @get("/devices/{item_id:int}")
    async def get_device(self, request: Request, item_id: int) -> DeviceRead:
        return await dicts.get_device(actor_of(request), item_id)

    @patch("/devices/{item_id:int}", guards=[require_hospital_admin])
    async def update_device(self, request: Request, item_id: int, data: DeviceUpdate) -> DeviceRead:
        return await dicts.update_device(ctx_of(request), item_id, data)

    @get("/body-parts")
    async def list_body_parts(self, request: Request, listing: dicts.ListQuery) -> CodedPage:
        return await dicts.list_coded(dicts.BODY_PARTS, actor_of(request), listing)

    @post("/body-parts", guards=[require_hospital_admin])
    async def create_body_part(self, request: Request, data: CodedCreate) -> CodedRead:
        return await dicts.add_coded(dicts.BODY_PARTS, ctx_of(request), data)

    @get("/body-parts/{item_id:int}")
    async def get_body_part(self, request: Request, item_id: int) -> CodedRead:
        return await dicts.get_coded(dicts.BODY_PARTS, actor_of(request), item_id)

    @patch("/body-parts/{item_id:int}", guards=[require_hospital_admin])
    async def update_body_part(
        self, request: Request, item_id: int, data: CodedUpdate
    ) -> CodedRead:
        return await dicts.update_coded(dicts.BODY_PARTS, ctx_of(request), item_id, data)

    @get("/check-items")
    async def list_check_items(self, request: Request, listing: dicts.ListQuery) -> CheckItemPage:
        return await dicts.list_check_items(actor_of(request), listing)

    @post("/check-items", guards=[require_hospital_admin])
    async def create_check_item(self, request: Request, data: CheckItemCreate) -> CheckItemRead:
        return await dicts.add_check_item(ctx_of(request), data)

    @get("/check-items/{item_id:int}")
    async def get_check_item(self, request: Request, item_id: int) -> CheckItemRead:
        return await dicts.get_check_item(actor_of(request), item_id)

    @patch("/check-items/{item_id:int}", guards=[require_hospital_admin])
    async def update_check_item(
        self, request: Request, item_id: int, data: CheckItemUpdate
    ) -> CheckItemRead:
        return await dicts.update_check_item(ctx_of(request), item_id, data)


class TemplateController(Controller):
    """Report templates (SPEC 8.5). Hospital and department templates: the hospital admin;
    personal ones: the doctor himself."""

    path = "/api/templates"
    tags = ["templates"]
    guards = [require_login]

    @get("/")
    async def list_templates(
        self, request: Request, check_item_id: int | None = None
    ) -> list[TemplateRead]:
        return await templates.list_templates(actor_of(request), check_item_id)

    @get("/fields")
    async def fields(self) -> list[FieldInfo]:
        return templates.field_list()

    @post("/")
    async def create_template(self, request: Request, data: TemplateCreate) -> TemplateRead:
        return await templates.add_template(ctx_of(request), data)

    @get("/{template_id:int}")
    async def get_template(self, request: Request, template_id: int) -> TemplateRead:
        return await templates.get_template(actor_of(request), template_id)

    @patch("/{template_id:int}")
    async def update_template(
        self, request: Request, template_id: int, data: TemplateUpdate
    ) -> TemplateRead:
        return await templates.update_template(ctx_of(request), template_id, data)

    @post("/preview", status_code=HTTP_200_OK)
    async def preview(self, data: TemplatePreview) -> RenderedReport:
        return templates.preview(data)

    @get(
        "/{template_id:int}/render/{examination_id:int}",
        opt=phi("template.render", "examination", "examination_id"),
    )
    async def render(
        self, request: Request, template_id: int, examination_id: int
    ) -> RenderedReport:
        return await templates.render_template(template_id, examination_id, actor=actor_of(request))

    @get("/for-examination/{examination_id:int}")
    async def for_examination(self, request: Request, examination_id: int) -> list[TemplateRead]:
        return await templates.templates_for_examination(actor_of(request), examination_id)


class KnowledgeController(Controller):
    """The knowledge base (SPEC 8.6): search for the report editor's "insert phrase"."""

    path = "/api/knowledge"
    tags = ["knowledge"]
    guards = [require_login]

    @get("/")
    async def search(
        self, request: Request, q: str = "", category: str = "", page: int = 1, per_page: int = 20
    ) -> PhrasePage:
        return await knowledge.search(actor_of(request), q[:200], category[:60], page, per_page)

    @post("/")
    async def create_phrase(self, request: Request, data: PhraseCreate) -> PhraseRead:
        return await knowledge.add_phrase(ctx_of(request), data)

    @get("/{phrase_id:int}")
    async def get_phrase(self, request: Request, phrase_id: int) -> PhraseRead:
        return await knowledge.get_phrase(actor_of(request), phrase_id)

    @patch("/{phrase_id:int}")
    async def update_phrase(
        self, request: Request, phrase_id: int, data: PhraseUpdate
    ) -> PhraseRead:
        return await knowledge.update_phrase(ctx_of(request), phrase_id, data)
