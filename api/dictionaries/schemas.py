"""Wire structs of the examination dictionaries, report templates and knowledge base
(SPEC 8.4–8.7). ``XUpdate`` fields default to ``UNSET``: only what the client sent changes;
a sent ``version`` that is not current is refused with 409."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType


class Base(msgspec.Struct, forbid_unknown_fields=True):
    pass


# --- device types and body parts: a code and a name ------------------------------------------


class CodedRead(Base):
    """A device type (code = DICOM modality) or a body part (code = BodyPartExamined)."""

    id: int
    code: str
    name: str
    active: bool
    version: int


class CodedCreate(Base):
    code: str
    name: str


class CodedUpdate(Base):
    code: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    version: int | UnsetType = UNSET


class CodedPage(Base):
    items: list[CodedRead]
    total: int
    page: int
    per_page: int


# --- devices --------------------------------------------------------------------------------


class DeviceRead(Base):
    id: int
    device_type_id: int
    device_type_code: str
    name: str
    station_name: str
    model: str
    active: bool
    version: int


class DeviceCreate(Base):
    device_type_id: int
    name: str
    station_name: str = ""
    model: str = ""


class DeviceUpdate(Base):
    device_type_id: int | UnsetType = UNSET
    name: str | UnsetType = UNSET
    station_name: str | UnsetType = UNSET
    model: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    version: int | UnsetType = UNSET


class DevicePage(Base):
    items: list[DeviceRead]
    total: int
    page: int
    per_page: int


# --- check items ----------------------------------------------------------------------------


class CheckItemRead(Base):
    id: int
    code: str
    name: str
    device_type_id: int | None
    device_type_code: str
    body_part_id: int | None
    body_part_code: str
    exam_category: str
    scanning_method: str
    cloud_film: bool
    cloud_film_visible: str  # after_review | after_hours
    cloud_film_hours: int
    active: bool
    version: int


class CheckItemCreate(Base):
    code: str
    name: str
    device_type_id: int | None = None
    body_part_id: int | None = None
    exam_category: str = ""
    scanning_method: str = ""
    cloud_film: bool = True
    cloud_film_visible: str = "after_review"
    cloud_film_hours: int = 0


class CheckItemUpdate(Base):
    code: str | UnsetType = UNSET
    name: str | UnsetType = UNSET
    device_type_id: int | UnsetType | None = UNSET
    body_part_id: int | UnsetType | None = UNSET
    exam_category: str | UnsetType = UNSET
    scanning_method: str | UnsetType = UNSET
    cloud_film: bool | UnsetType = UNSET
    cloud_film_visible: str | UnsetType = UNSET
    cloud_film_hours: int | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    version: int | UnsetType = UNSET


class CheckItemPage(Base):
    items: list[CheckItemRead]
    total: int
    page: int
    per_page: int


# --- report templates -----------------------------------------------------------------------


class TemplateRead(Base):
    id: int
    name: str
    check_item_id: int | None
    check_item_name: str
    scope: str  # hospital | department | personal
    department_id: int | None
    owner_id: int | None
    shown_fields: list[str]
    title_format: str
    header_format: str
    findings_format: str
    impression_format: str
    footer_format: str
    active: bool
    version: int


class TemplateCreate(Base):
    name: str
    check_item_id: int | None = None
    scope: str = "hospital"
    department_id: int | None = None
    shown_fields: list[str] = []
    title_format: str = ""
    header_format: str = ""
    findings_format: str = ""
    impression_format: str = ""
    footer_format: str = ""


class TemplateUpdate(Base):
    name: str | UnsetType = UNSET
    check_item_id: int | UnsetType | None = UNSET
    department_id: int | UnsetType | None = UNSET
    shown_fields: list[str] | UnsetType = UNSET
    title_format: str | UnsetType = UNSET
    header_format: str | UnsetType = UNSET
    findings_format: str | UnsetType = UNSET
    impression_format: str | UnsetType = UNSET
    footer_format: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    version: int | UnsetType = UNSET


class TemplatePreview(msgspec.Struct):
    """An unsaved template's formats, rendered against a sample examination. Other fields
    of the template form (name, scope, …) are ignored: the page sends the whole form."""

    shown_fields: list[str] = []
    title_format: str = ""
    header_format: str = ""
    findings_format: str = ""
    impression_format: str = ""
    footer_format: str = ""


class RenderedReport(Base):
    template_id: int | None
    examination_id: int | None
    fields: dict[str, str]  # the shown fields with their values, in the template's order
    title: str
    header: str
    findings: str
    impression: str
    footer: str


class FieldInfo(Base):
    key: str
    label: str


# --- knowledge base -------------------------------------------------------------------------


class PhraseRead(Base):
    id: int
    category: str
    title: str
    findings: str
    impression: str
    keywords: str
    personal: bool
    owner_id: int | None
    active: bool
    version: int


class PhraseCreate(Base):
    title: str
    category: str = ""
    findings: str = ""
    impression: str = ""
    keywords: str = ""
    personal: bool = False


class PhraseUpdate(Base):
    title: str | UnsetType = UNSET
    category: str | UnsetType = UNSET
    findings: str | UnsetType = UNSET
    impression: str | UnsetType = UNSET
    keywords: str | UnsetType = UNSET
    active: bool | UnsetType = UNSET
    version: int | UnsetType = UNSET


class PhrasePage(Base):
    items: list[PhraseRead]
    total: int
    page: int
    per_page: int
