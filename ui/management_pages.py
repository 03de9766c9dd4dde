"""Management platform pages (SPEC 8.1–8.3, 8.10).

Pages read through the same services as the API; every change is made by the browser
through the JSON API (``app.js`` forms), so the rules and the audit live in one place.
Not logged in as an admin → the administrator login; an admin of the other kind → 403.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Request, get
from litestar.di import Provide
from litestar.response import Redirect, Template

from api.auth import ctx_of
from api.management import audit, people, roles, service
from api.management.controllers import AUDIT_READ
from api.management.departments import list_departments
from api.management.hospitals import get_hospital, list_hospitals
from kernel.domain import Module, Permission
from kernel.errors import AppError
from kernel.settings import get_settings
from store.scoping import hospital_figures
from store.uow import Actor
from ui import i18n
from ui.labels.audit import AUDIT_TARGETS, action_label, detail_label
from ui.pages import (
    ALLIANCE_ADMIN,
    HOSPITAL_ADMIN,
    PageController,
    admin_of,
    clock,
    int_or_none,
    last_page,
    page,
    page_url,
    query_texts,
    rows_or_page,
)

PERMISSION_LABELS: dict[str, str] = {
    Permission.report_write.value: "Write reports",
    Permission.report_review.value: "Review reports",
    Permission.report_print.value: "Print reports",
    Permission.consultation_apply.value: "Apply for consultations",
    Permission.consultation_review.value: "Review consultations",
    Permission.ward_round_apply.value: "Apply for ward rounds",
    Permission.teaching_host.value: "Host teaching sessions",
    Permission.qc_evaluate.value: "Evaluate image quality",
    Permission.qc_manage.value: "Manage quality control",
    Permission.statistics_view.value: "View statistics",
    Permission.statistics_download.value: "Download statistics",
    Permission.share.value: "Share images",
    Permission.admin.value: "Administer",
}


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


async def _hospital_page(
    request: Request, actor: Actor, hospital_id: int, editable: bool
) -> Template:
    """A hospital's page: its own admin's home (read only), or the alliance admin's view
    of one hospital (editable, with its administrators)."""
    return await page(
        request,
        "manage/hospital.html",
        hospital=await get_hospital(actor, hospital_id),
        figures=(await hospital_figures(actor)).get(hospital_id),
        modules=[m.value for m in Module],
        department_count=len(await list_departments(actor, hospital_id)),
        doctor_count=await people.count_doctors(actor, hospital_id),
        admins=await people.list_admins(actor, hospital_id) if editable else [],
        editable=editable,
        human_bytes=human_bytes,
        logo_max_bytes=get_settings().server.logo_max_bytes,
    )


class ManagementPages(PageController):
    path = "/manage"

    @get("/")
    async def home(self, request: Request) -> Template | Redirect:
        actor = admin_of(request)
        if actor.kind == ALLIANCE_ADMIN:
            return Redirect("/manage/hospitals")
        return await _hospital_page(request, actor, service.own_hospital(actor), editable=False)

    @get("/hospitals")
    async def hospitals(self, request: Request) -> Template:
        actor = admin_of(request, ALLIANCE_ADMIN)
        return await page(
            request,
            "manage/hospitals.html",
            hospitals=await list_hospitals(actor),
            figures=await hospital_figures(actor),
            modules=[m.value for m in Module],
            human_bytes=human_bytes,
        )

    @get("/hospitals/{hospital_id:int}")
    async def hospital(self, request: Request, hospital_id: int) -> Template:
        actor = admin_of(request, ALLIANCE_ADMIN)
        return await _hospital_page(request, actor, hospital_id, editable=True)

    @get("/departments")
    async def departments(self, request: Request) -> Template:
        actor = admin_of(request, HOSPITAL_ADMIN)
        return await page(
            request, "manage/departments.html", departments=await list_departments(actor)
        )

    @get("/doctors")
    async def doctors(self, request: Request, page_no: str = "1") -> Template:
        actor = admin_of(request, HOSPITAL_ADMIN)
        filters = query_texts(request, ("q", "status", "department_id"))
        if filters["status"] not in people.DOCTOR_STATUSES:
            filters["status"] = ""
        query = people.DoctorQuery(
            filters["q"], filters["status"], int_or_none(filters["department_id"])
        )
        result = await people.list_doctors(actor, query, int_or_none(page_no) or 1)
        return await page(
            request,
            "manage/doctors.html",
            result=result,
            departments=await list_departments(actor),
            roles=await roles.list_roles(actor),
            filters=filters,
            last_page=last_page(result.total, result.page_size),
            page_url=page_url("/manage/doctors", filters),
        )

    @get("/roles")
    async def roles_page(self, request: Request) -> Template:
        actor = admin_of(request, HOSPITAL_ADMIN)
        return await page(
            request,
            "manage/roles.html",
            roles=await roles.list_roles(actor),
            permissions=roles.all_permissions(),
            labels=PERMISSION_LABELS,
        )

    @get(
        "/audit",
        dependencies={"audit_query": Provide(audit.provide_audit_query)},
        opt=AUDIT_READ,
    )
    async def audit_page(
        self,
        request: Request,
        audit_query: audit.AuditQuery,
        before: str = "",
        after: str = "",
    ) -> Template:
        actor = admin_of(request)
        given = audit_query.given()
        context: dict[str, Any] = {
            "filters": asdict(audit_query),
            "export_url": "/api/manage/audit/export.csv?" + urlencode(given),
            "result": None,
            "problem": "",
        }
        try:
            context["result"] = await audit.list_audit(
                ctx_of(request),
                audit_query.parse(),
                before=int_or_none(before),
                after=int_or_none(after),
            )
        except AppError as exc:
            if exc.status_code != 400:
                raise
            context["problem"] = exc.text(i18n.language(request))
        zone = ZoneInfo(await audit.time_zone_of(actor))
        context.update(
            time_zone=str(zone),
            local_time=clock(zone, seconds=True),
            page_url=lambda key, value: "/manage/audit?" + urlencode({**given, key: value}),
            hospitals=await list_hospitals(actor) if actor.kind == ALLIANCE_ADMIN else [],
            outcomes=audit.OUTCOMES,
            target_types=list(AUDIT_TARGETS),
            target_codes={f"target:{code}" for code in AUDIT_TARGETS},
            action_label=action_label,
            detail_label=detail_label,
        )
        return await rows_or_page(request, "manage/_audit_rows.html", "manage/audit.html", context)
