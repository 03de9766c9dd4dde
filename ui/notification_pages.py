"""Notification pages (SPEC 3.6, 8.8): the hospital's channels, rules and doctors' bindings,
the delivery log, and every user's "my notifications".

Pages read through the same services as the API; changes go through the JSON API from the
browser, so the checks and the audit live in one place.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.response import Template

from api.auth import actor_of
from api.management import people
from api.management.audit import time_zone_of
from api.management.hospitals import list_hospitals
from api.notifications import bindings, channels, log
from kernel.errors import AppError
from notifiers.base import HOSPITAL_CHANNELS, Channel
from notifiers.configs import BINDINGS, FIELDS, KIND_LABELS
from notifiers.texts import BUSINESS_TYPES
from ui import i18n
from ui.pages import (
    ALLIANCE_ADMIN,
    HOSPITAL_ADMIN,
    PageController,
    admin_of,
    clock,
    given,
    int_or_none,
    last_page,
    page,
    page_url,
    query_texts,
    rows_or_page,
    user_of,
)

CHANNEL_LABELS = {
    **KIND_LABELS,
    Channel.log: "Dispatcher log",
    Channel.sms: "Text message",  # the platform's SMS: login and phone-binding codes
}
# The delivery log's filters (``LogFilter.parse``'s), as texts from the query.
LOG_FILTERS = ("status", "channel", "business_type", "date_from", "date_to", "hospital_id")


class NotificationPages(PageController):
    @get("/manage/notifications")
    async def settings_page(self, request: Request, q: str = "", page_no: str = "1") -> Template:
        actor = admin_of(request, HOSPITAL_ADMIN)
        configured = {c.kind: c for c in await channels.list_channels(actor)}
        doctors = await people.list_doctors(
            actor, people.DoctorQuery(q=q), int_or_none(page_no) or 1
        )
        ids = [d.id for d in doctors.items]
        found = await bindings.doctors_bindings(actor, [*ids, actor.user_id])
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
            last_page=last_page(doctors.total, doctors.page_size),
            page_url=page_url("/manage/notifications", {"q": q}),
        )

    @get("/manage/notifications/log")
    async def log_page(self, request: Request, page_no: str = "1") -> Template:
        actor = admin_of(request)
        raw = query_texts(request, LOG_FILTERS)
        filters = {k: v.strip() for k, v in raw.items()}
        query = given(filters.items())
        context: dict[str, Any] = {"filters": filters, "result": None, "problem": ""}
        try:
            f = log.LogFilter.parse(
                raw["status"],
                raw["channel"],
                raw["business_type"],
                raw["date_from"],
                raw["date_to"],
                int_or_none(raw["hospital_id"]),
            )
            context["result"] = await log.list_deliveries(actor, f, int_or_none(page_no) or 1)
        except AppError as exc:
            if exc.status_code != 400:
                raise
            context["problem"] = exc.text(i18n.language(request))
        zone = ZoneInfo(await time_zone_of(actor))
        result = context["result"]
        context.update(
            time_zone=str(zone),
            local_time=clock(zone, seconds=True, empty="—"),
            page_url=page_url("/manage/notifications/log", query),
            last_page=last_page(result.total, result.page_size) if result else 1,
            hospitals=await list_hospitals(actor) if actor.kind == ALLIANCE_ADMIN else [],
            statuses=log.STATUSES,
            channel_labels={k.value: v for k, v in CHANNEL_LABELS.items()},
            business_types=[*BUSINESS_TYPES, "test"],
        )
        return await rows_or_page(request, "notify/_log_rows.html", "notify/log.html", context)

    @get("/account/notifications")
    async def mine(self, request: Request) -> Template:
        user_of(request)
        return await page(
            request,
            "notify/mine.html",
            binding=await bindings.my_bindings(actor_of(request)),
        )
