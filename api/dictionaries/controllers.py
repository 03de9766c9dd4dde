"""Dictionary, template and knowledge API (SPEC 8.4–8.7): thin handlers over the services.

Reads: anyone logged in, limited to his hospital by ``store.scoping``. Writes of the
dictionaries and of hospital/department templates and phrases: the hospital's admin.
"""

from __future__ import annotations

from litestar import Controller, Request, get, patch, post
from litestar.di import Provide

from api.auth import actor_of, ctx_of, require_login
from api.dictionaries import dictionaries as dicts
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
)
from api.management.guards import require_hospital_admin


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
