"""Management API (SPEC 8.1–8.3, 8.10): thin handlers over the management services.

Everything is under ``/api/manage``. Alliance admins manage hospitals and their admins;
hospital admins manage their departments, doctors and roles; both read the audit log of
their scope. There is deliberately no route that changes or deletes an audit row.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK

from api.auth import actor_of, ctx_of, require_admin, require_alliance_admin, require_login
from api.management import audit, departments, hospitals, media, people, roles
from api.management.guards import require_hospital_admin
from api.management.schemas import (
    AdminCreate,
    AuditPage,
    DepartmentCreate,
    DepartmentRead,
    DepartmentUpdate,
    DoctorCreate,
    DoctorPage,
    DoctorUpdate,
    Done,
    HospitalCreate,
    HospitalRead,
    HospitalUpdate,
    ModulesUpdate,
    PasswordReset,
    RoleCreate,
    RoleRead,
    RoleUpdate,
    SelfReviewUpdate,
    UserCreated,
    UserRead,
)
from api.phi import phi
from kernel.settings import get_settings

Multipart = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]


class HospitalController(Controller):
    path = "/api/manage/hospitals"
    tags = ["management"]

    @get("/", guards=[require_admin])
    async def list_hospitals(self, request: Request) -> list[HospitalRead]:
        return await hospitals.list_hospitals(actor_of(request))

    @post("/", guards=[require_alliance_admin])
    async def create_hospital(self, request: Request, data: HospitalCreate) -> HospitalRead:
        return await hospitals.add_hospital(ctx_of(request), data)

    @get("/{hospital_id:int}", guards=[require_admin])
    async def get_hospital(self, request: Request, hospital_id: int) -> HospitalRead:
        return await hospitals.get_hospital(actor_of(request), hospital_id)

    @patch("/{hospital_id:int}", guards=[require_alliance_admin])
    async def update_hospital(
        self, request: Request, hospital_id: int, data: HospitalUpdate
    ) -> HospitalRead:
        return await hospitals.update_hospital(ctx_of(request), hospital_id, data)

    @put("/{hospital_id:int}/self-review", guards=[require_admin])
    async def set_self_review(
        self, request: Request, hospital_id: int, data: SelfReviewUpdate
    ) -> HospitalRead:
        return await hospitals.set_self_review(ctx_of(request), hospital_id, data)

    @put("/{hospital_id:int}/modules", guards=[require_alliance_admin])
    async def set_modules(
        self, request: Request, hospital_id: int, data: ModulesUpdate
    ) -> HospitalRead:
        return await hospitals.set_modules(ctx_of(request), hospital_id, data.modules)

    @get("/{hospital_id:int}/admins", guards=[require_alliance_admin])
    async def list_admins(self, request: Request, hospital_id: int) -> list[UserRead]:
        return await people.list_admins(actor_of(request), hospital_id)

    @post("/{hospital_id:int}/admins", guards=[require_alliance_admin])
    async def create_admin(
        self, request: Request, hospital_id: int, data: AdminCreate
    ) -> UserCreated:
        return await people.add_admin(ctx_of(request), hospital_id, data)

    @post("/{hospital_id:int}/logo", guards=[require_admin], status_code=HTTP_200_OK)
    async def upload_logo(
        self, request: Request, hospital_id: int, data: Multipart
    ) -> HospitalRead:
        upload = data.get("logo")
        limit = get_settings().server.logo_max_bytes
        content = await upload.read(limit + 1) if isinstance(upload, UploadFile) else None
        return await media.upload_logo(ctx_of(request), hospital_id, content)

    @get("/{hospital_id:int}/logo", guards=[require_login])
    async def logo(self, request: Request, hospital_id: int) -> Response[bytes]:
        content = await media.logo_bytes(actor_of(request), hospital_id)
        return Response(
            content, media_type="image/png", headers={"Cache-Control": "private, max-age=86400"}
        )

    @get("/{hospital_id:int}/qr", guards=[require_admin])
    async def qr(self, request: Request, hospital_id: int) -> Response[bytes]:
        name, png = await media.hospital_qr_png(actor_of(request), hospital_id)
        return Response(
            png,
            media_type="image/png",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )


class DepartmentController(Controller):
    path = "/api/manage/departments"
    tags = ["management"]
    guards = [require_hospital_admin]

    @get("/")
    async def list_departments(self, request: Request) -> list[DepartmentRead]:
        return await departments.list_departments(actor_of(request))

    @post("/")
    async def create_department(self, request: Request, data: DepartmentCreate) -> DepartmentRead:
        return await departments.add_department(ctx_of(request), data)

    @get("/{department_id:int}")
    async def get_department(self, request: Request, department_id: int) -> DepartmentRead:
        return await departments.get_department(actor_of(request), department_id)

    @patch("/{department_id:int}")
    async def update_department(
        self, request: Request, department_id: int, data: DepartmentUpdate
    ) -> DepartmentRead:
        return await departments.update_department(ctx_of(request), department_id, data)


class AccountActions(Controller):
    """Freeze, deactivate, reset: the same rules for each administered account (SPEC 1.6);
    ``access.managed_row`` decides whose accounts the actor administers."""

    @post("/{user_id:int}/activate", status_code=HTTP_200_OK)
    async def activate(self, request: Request, user_id: int) -> UserRead:
        return await people.set_active(ctx_of(request), user_id, True)

    @post("/{user_id:int}/deactivate", status_code=HTTP_200_OK)
    async def deactivate(self, request: Request, user_id: int) -> UserRead:
        return await people.set_active(ctx_of(request), user_id, False)

    @post("/{user_id:int}/freeze", status_code=HTTP_200_OK)
    async def freeze(self, request: Request, user_id: int) -> UserRead:
        return await people.set_frozen(ctx_of(request), user_id, True)

    @post("/{user_id:int}/unfreeze", status_code=HTTP_200_OK)
    async def unfreeze(self, request: Request, user_id: int) -> UserRead:
        return await people.set_frozen(ctx_of(request), user_id, False)

    @post("/{user_id:int}/reset-password", status_code=HTTP_200_OK)
    async def reset_password(self, request: Request, user_id: int) -> PasswordReset:
        return await people.reset_password(ctx_of(request), user_id)


class DoctorController(AccountActions):
    path = "/api/manage/doctors"
    tags = ["management"]
    guards = [require_hospital_admin]

    @get(
        "/",
        dependencies={"doctor_query": Provide(people.provide_doctor_query, sync_to_thread=False)},
    )
    async def list_doctors(
        self, request: Request, doctor_query: people.DoctorQuery, page: int = 1
    ) -> DoctorPage:
        return await people.list_doctors(actor_of(request), doctor_query, page)

    @post("/")
    async def create_doctor(self, request: Request, data: DoctorCreate) -> UserCreated:
        return await people.add_doctor(ctx_of(request), data)

    @get("/{user_id:int}")
    async def get_doctor(self, request: Request, user_id: int) -> UserRead:
        return await people.get_doctor(actor_of(request), user_id)

    @patch("/{user_id:int}")
    async def update_doctor(self, request: Request, user_id: int, data: DoctorUpdate) -> UserRead:
        return await people.update_doctor(ctx_of(request), user_id, data)


class HospitalAdminAccountController(AccountActions):
    """The alliance admin freezes, deactivates and resets hospital admins (SPEC 1.6), by the
    same rules as a hospital admin does for doctors."""

    path = "/api/manage/admins"
    tags = ["management"]
    guards = [require_alliance_admin]


class RoleController(Controller):
    path = "/api/manage/roles"
    tags = ["management"]
    guards = [require_hospital_admin]

    @get("/")
    async def list_roles(self, request: Request) -> list[RoleRead]:
        return await roles.list_roles(actor_of(request))

    @get("/permissions")
    async def permissions(self) -> list[str]:
        return roles.all_permissions()

    @post("/")
    async def create_role(self, request: Request, data: RoleCreate) -> RoleRead:
        return await roles.add_role(ctx_of(request), data)

    @get("/{role_id:int}")
    async def get_role(self, request: Request, role_id: int) -> RoleRead:
        return await roles.get_role(actor_of(request), role_id)

    @patch("/{role_id:int}")
    async def update_role(self, request: Request, role_id: int, data: RoleUpdate) -> RoleRead:
        return await roles.update_role(ctx_of(request), role_id, data)

    @delete("/{role_id:int}", status_code=HTTP_200_OK)
    async def delete_role(self, request: Request, role_id: int) -> Done:
        return Done(message=await roles.delete_role(ctx_of(request), role_id))


AUDIT_READ = phi("audit.read", "audit_log", mixed=True)


class AuditController(Controller):
    """Read-only on purpose: GET only."""

    path = "/api/manage/audit"
    tags = ["management"]
    guards = [require_admin]
    dependencies = {"audit_query": Provide(audit.provide_audit_query)}

    # A hospital's rows name who read which patient's data, and some quote what was
    # searched: each read is audited (api.phi); the alliance admin reads the rows about
    # administration (store.scoping.audit_clause).
    @get("/", opt=AUDIT_READ)
    async def list_audit(
        self,
        request: Request,
        audit_query: audit.AuditQuery,
        before: int | None = None,
        after: int | None = None,
    ) -> AuditPage:
        return await audit.list_audit(
            ctx_of(request), audit_query.parse(), before=before, after=after
        )

    @get("/export.csv", opt=phi("audit.export", "audit_log", mixed=True))
    async def export_csv(self, request: Request, audit_query: audit.AuditQuery) -> Stream:
        f = audit_query.parse()
        rows = await audit.export_csv(ctx_of(request), f)
        return Stream(
            rows,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{audit.export_file_name()}"',
                "Cache-Control": "no-store",
            },
        )
