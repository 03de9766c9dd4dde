"""Notification API (SPEC 3.6, 8.8): thin handlers over the notification services.

- ``/api/notifications/channels`` and ``/rules``: the hospital admin's channels and rules;
- ``/api/notifications/me``: anyone's own bindings; ``/bindings/{user_id}``: a hospital
  admin sets a doctor's;
- ``/api/notifications/log``: the delivery log, for hospital and alliance admins.
"""

from __future__ import annotations

from litestar import Controller, Request, get, patch, post, put
from litestar.di import Provide
from litestar.status_codes import HTTP_202_ACCEPTED

from api.auth import actor_of, ctx_of, require_admin, require_login
from api.management.guards import require_hospital_admin
from api.notifications import bindings, channels, log
from api.notifications.schemas import (
    BindingRead,
    BindingUpdate,
    ChannelCreate,
    ChannelRead,
    ChannelTest,
    ChannelUpdate,
    DeliveryPage,
    Queued,
    RuleRead,
    RuleUpdate,
)


class NotificationChannelController(Controller):
    path = "/api/notifications"
    tags = ["notifications"]
    guards = [require_hospital_admin]

    @get("/channels")
    async def list_channels(self, request: Request) -> list[ChannelRead]:
        return await channels.list_channels(actor_of(request))

    @post("/channels")
    async def create_channel(self, request: Request, data: ChannelCreate) -> ChannelRead:
        return await channels.add_channel(ctx_of(request), data)

    @get("/channels/{channel_id:int}")
    async def get_channel(self, request: Request, channel_id: int) -> ChannelRead:
        return await channels.get_channel(actor_of(request), channel_id)

    @patch("/channels/{channel_id:int}")
    async def update_channel(
        self, request: Request, channel_id: int, data: ChannelUpdate
    ) -> ChannelRead:
        return await channels.update_channel(ctx_of(request), channel_id, data)

    @post("/channels/{channel_id:int}/test", status_code=HTTP_202_ACCEPTED)
    async def test_channel(self, request: Request, channel_id: int, data: ChannelTest) -> Queued:
        return await channels.queue_test(ctx_of(request), channel_id, data)

    @get("/rules")
    async def list_rules(self, request: Request) -> list[RuleRead]:
        return await channels.list_rules(actor_of(request))

    @put("/rules/{business_type:str}")
    async def set_rule(self, request: Request, business_type: str, data: RuleUpdate) -> RuleRead:
        return await channels.set_rule(ctx_of(request), business_type, data)

    @patch("/bindings/{user_id:int}")
    async def set_doctor_bindings(
        self, request: Request, user_id: int, data: BindingUpdate
    ) -> BindingRead:
        return await bindings.set_doctor_bindings(ctx_of(request), user_id, data)


class MyNotificationsController(Controller):
    path = "/api/notifications/me"
    tags = ["notifications"]
    guards = [require_login]

    @get("/")
    async def mine(self, request: Request) -> BindingRead:
        return await bindings.my_bindings(actor_of(request))

    @patch("/")
    async def set_mine(self, request: Request, data: BindingUpdate) -> BindingRead:
        return await bindings.set_my_bindings(ctx_of(request), data)


class DeliveryLogController(Controller):
    """Read-only on purpose: GET only."""

    path = "/api/notifications/log"
    tags = ["notifications"]
    guards = [require_admin]

    dependencies = {"log_filter": Provide(log.LogFilter.parse, sync_to_thread=False)}

    @get("/")
    async def list_log(
        self, request: Request, log_filter: log.LogFilter, page: int = 1
    ) -> DeliveryPage:
        return await log.list_deliveries(actor_of(request), log_filter, page)
