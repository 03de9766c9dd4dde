"""Wire structs of the management API (SPEC 8.1–8.3, 8.10).

``XRead`` goes out, ``XCreate`` comes in for a new row, ``XUpdate`` for a change: its fields
default to ``msgspec.UNSET`` so that only what the client sent is touched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msgspec import UNSET, UnsetType

from api.bounds import Id, Int, Many, Number, Text
from api.schemas import ActiveUpdate, Base, CheckedUpdate, FixedPage, Update, partial


class Done(Base):
    ok: bool = True
    message: str = ""


# --- hospitals ------------------------------------------------------------------------------


class HospitalRead(Base):
    id: int
    alliance_id: int
    name: str
    code: str
    level: str
    time_zone: str
    modules: list[str]
    phone: str
    address: str
    logo_url: str | None
    storage_quota_bytes: int
    storage_used_bytes: int
    active: bool
    version: int
    created_at: str
    self_review_allowed: bool = False  # may a report's author also review it (SPEC 2.4)


class HospitalCreate(Base):
    name: Text
    code: Text
    level: Text = "lower"
    modules: Many[Text] | UnsetType = UNSET  # default: every module
    time_zone: Text = "Asia/Shanghai"
    phone: Text = ""
    address: Text = ""


class SelfReviewUpdate(Base):
    """The hospital admin's choice whether a report's author may review it himself."""

    self_review_allowed: bool
    version: Int | UnsetType = UNSET  # when sent, a stale version is refused with 409


class HospitalUpdate(ActiveUpdate):
    name: Text | UnsetType = UNSET
    phone: Text | UnsetType = UNSET
    address: Text | UnsetType = UNSET
    level: Text | UnsetType = UNSET
    time_zone: Text | UnsetType = UNSET
    storage_quota_gb: Number | UnsetType = UNSET


class ModulesUpdate(Base):
    modules: Many[Text]


# --- people ---------------------------------------------------------------------------------


class UserRead(Base):
    id: int
    username: str
    display_name: str
    kind: str
    phone: str
    email: str
    hospital_id: int | None
    department_id: int | None
    department_name: str
    role_id: int | None
    role_name: str
    active: bool
    frozen: bool
    frozen_reason: str
    must_change_password: bool
    version: int
    created_at: str


class AdminCreate(Base):
    username: Text
    display_name: Text
    password: Text = ""  # empty: a temporary password is generated and returned once
    phone: Text = ""
    email: Text = ""


class DoctorCreate(AdminCreate):  # an account as a hospital admin's, in a department
    department_id: Id | None = None
    role_id: Id | None = None


class UserCreated(Base):
    user: UserRead
    temporary_password: str | None  # shown once; never stored in clear
    message: str


class PasswordReset(Base):
    temporary_password: str
    message: str


DoctorPage = FixedPage[UserRead]


# --- departments ----------------------------------------------------------------------------


class DepartmentRead(Base):
    id: int
    hospital_id: int
    name: str
    phone: str
    description: str
    active: bool
    doctor_count: int
    version: int


class DepartmentCreate(Base):
    name: Text
    phone: Text = ""
    description: Text = ""


# --- roles ----------------------------------------------------------------------------------


class RoleRead(Base):
    id: int
    hospital_id: int
    name: str
    permissions: list[str]
    builtin: bool
    user_count: int
    version: int


class RoleCreate(Base):
    name: Text
    permissions: Many[Text] = []


# --- audit ----------------------------------------------------------------------------------


class AuditRead(Base):
    id: int
    at: str
    user_id: int | None
    username: str
    hospital_id: int | None
    action: str
    target_type: str
    target_id: str
    outcome: str
    ip: str
    detail: str


class AuditPage(Base):
    items: list[AuditRead]
    page_size: int
    next_before: int | None  # pass as ``before`` for the next (older) page
    prev_after: int | None  # pass as ``after`` for the previous (newer) page


# --- partial updates: each create's fields, optional (``api.schemas.partial``) -------------

if TYPE_CHECKING:

    class DoctorUpdate(Update, DoctorCreate): ...

    class DepartmentUpdate(ActiveUpdate, DepartmentCreate): ...

    class RoleUpdate(RoleCreate, CheckedUpdate): ...

else:
    DoctorUpdate = partial(
        DoctorCreate, "DoctorUpdate", base=Update, exclude=("username", "password")
    )
    DepartmentUpdate = partial(DepartmentCreate, "DepartmentUpdate")
    RoleUpdate = partial(RoleCreate, "RoleUpdate", base=CheckedUpdate)
