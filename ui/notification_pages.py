"""Notification pages (SPEC 3.6, 8.8): the hospital's channels, rules and doctors' bindings,
the delivery log, and every user's "my notifications".

Pages read through the same services as the API; changes go through the JSON API from the
browser, so the checks and the audit live in one place.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from api.auth import actor_of
from api.management import hospitals, people
from api.management.audit import time_zone_of
from api.notifications import bindings, channels, log
from kernel.errors import AppError
from notifiers.base import HOSPITAL_CHANNELS, Channel
from notifiers.configs import BINDINGS, FIELDS, KIND_LABELS
from notifiers.texts import BUSINESS_TYPES
from store.uow import Actor
from ui import i18n
from ui.management_pages import ALLIANCE_ADMIN, HOSPITAL_ADMIN, _admin, _int_or_none
from ui.pages import page, to_login

CHANNEL_LABELS = {**KIND_LABELS, Channel.log: "Dispatcher log"}


def _local(zone: ZoneInfo):  # type: ignore[no-untyped-def]
    def show(iso: str | None) -> str:
        if not iso:
            return "—"
        return datetime.fromisoformat(iso).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")

    return show


class NotificationPages(Controller):
    include_in_schema = False

    @get("/manage/notifications")
    async def settings_page(
        self, request: Request, q: str = "", page_no: str = "1"
    ) -> Template | Redirect:
        actor = _admin(request, HOSPITAL_ADMIN)
        if isinstance(actor, Redirect):
            return actor
        configured = {c.kind: c for c in await channels.list_channels(actor)}
        doctors = await people.list_doctors(actor, q=q, page=_int_or_none(page_no) or 1)
        ids = [d.id for d in doctors.items]
        found = await bindings.doctors_bindings(actor, [*ids, actor.user_id])
        last_page = max(1, -(-doctors.total // doctors.page_size))
        return await page(
            request,
            "notify/settings.html",
            kinds=[k.value for k in HOSPITAL_CHANNELS],
            kind_labels={k.value: v for k, v in KIND_LABELS.items()},
            fields={k.value: v for k, v in FIELDS.items()},
            bindings_needed={k.value: v for k, v in BINDINGS.items()},
            configured=configured,
            channel_list=sorted(configured.values(), key=lambda c: c.id),
            rules=await channels.list_rules(actor),
            audiences=channels.AUDIENCES,
            doctors=doctors,
            doctor_bindings=[found[i] for i in ids if i in found],
            me_binding=found.get(actor.user_id),
            q=q,
            last_page=last_page,
            page_url=lambda n: "/manage/notifications?" + urlencode({"q": q, "page_no": n}),
        )

    @get("/manage/notifications/log")
    async def log_page(
        self,
        request: Request,
        status: str = "",
        channel: str = "",
        business_type: str = "",
        date_from: str = "",
        date_to: str = "",
        hospital_id: str = "",
        page_no: str = "1",
    ) -> Template | Redirect:
        actor = _admin(request)
        if isinstance(actor, Redirect):
            return actor
        filters = {
            "status": status.strip(),
            "channel": channel.strip(),
            "business_type": business_type.strip(),
            "date_from": date_from.strip(),
            "date_to": date_to.strip(),
            "hospital_id": hospital_id.strip(),
        }
        query = {k: v for k, v in filters.items() if v}
        context: dict[str, Any] = {"filters": filters, "result": None, "problem": ""}
        try:
            f = log.LogFilter.parse(
                status, channel, business_type, date_from, date_to, _int_or_none(hospital_id)
            )
            context["result"] = await log.list_deliveries(actor, f, _int_or_none(page_no) or 1)
        except AppError as exc:
            if exc.status_code != 400:
                raise
            context["problem"] = exc.message
        zone = ZoneInfo(await time_zone_of(actor))
        result = context["result"]
        context.update(
            time_zone=str(zone),
            local_time=_local(zone),
            page_url=lambda n: "/manage/notifications/log?" + urlencode({**query, "page_no": n}),
            last_page=max(1, -(-result.total // result.page_size)) if result else 1,
            hospitals=await hospitals.list_hospitals(actor) if actor.kind == ALLIANCE_ADMIN else [],
            statuses=log.STATUSES,
            channel_labels={k.value: v for k, v in CHANNEL_LABELS.items()},
            business_types=[*BUSINESS_TYPES, "test"],
        )
        if request.headers.get("hx-request") == "true" and not request.headers.get(
            "hx-history-restore-request"
        ):
            return Template(
                template_name="notify/_log_rows.html",
                context={**i18n.context(request), **context},
                headers={"Vary": "HX-Request"},
            )
        response = await page(request, "notify/log.html", **context)
        response.headers["Vary"] = "HX-Request"
        return response

    @get("/account/notifications")
    async def mine(self, request: Request) -> Template | Redirect:
        actor = request.scope.get("user")
        if not isinstance(actor, Actor):
            return to_login(request)
        return await page(
            request,
            "notify/mine.html",
            binding=await bindings.my_bindings(actor_of(request)),
        )
