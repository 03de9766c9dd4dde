"""Wire structs of the examination dictionaries, report templates and knowledge base
(SPEC 8.4–8.7). ``XUpdate`` fields default to ``UNSET``: only what the client sent changes;
a sent ``version`` that is not current is refused with 409."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from api.bounds import Id, Int, LongText, Many, Text
from api.schemas import ActiveUpdate, Base, Page

# --- device types and body parts: a code and a name ------------------------------------------


class CodedRead(Base):
    """A device type (code = DICOM modality) or a body part (code = BodyPartExamined)."""

    id: int
    code: str
    name: str
    active: bool
    version: int


class CodedCreate(Base):
    code: Text
    name: Text


class CodedUpdate(ActiveUpdate):
    code: Text | UnsetType = UNSET
    name: Text | UnsetType = UNSET


CodedPage = Page[CodedRead]


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
    device_type_id: Id
    name: Text
    station_name: Text = ""
    model: Text = ""


class DeviceUpdate(ActiveUpdate):
    device_type_id: Id | UnsetType = UNSET
    name: Text | UnsetType = UNSET
    station_name: Text | UnsetType = UNSET
    model: Text | UnsetType = UNSET


DevicePage = Page[DeviceRead]


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
    code: Text
    name: Text
    device_type_id: Id | None = None
    body_part_id: Id | None = None
    exam_category: Text = ""
    scanning_method: Text = ""
    cloud_film: bool = True
    cloud_film_visible: Text = "after_review"
    cloud_film_hours: Int = 0


class CheckItemUpdate(ActiveUpdate):
    code: Text | UnsetType = UNSET
    name: Text | UnsetType = UNSET
    device_type_id: Id | UnsetType | None = UNSET
    body_part_id: Id | UnsetType | None = UNSET
    exam_category: Text | UnsetType = UNSET
    scanning_method: Text | UnsetType = UNSET
    cloud_film: bool | UnsetType = UNSET
    cloud_film_visible: Text | UnsetType = UNSET
    cloud_film_hours: Int | UnsetType = UNSET


CheckItemPage = Page[CheckItemRead]


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
    name: Text
    check_item_id: Id | None = None
    scope: Text = "hospital"
    department_id: Id | None = None
    shown_fields: Many[Text] = []
    title_format: LongText = ""
    header_format: LongText = ""
    findings_format: LongText = ""
    impression_format: LongText = ""
    footer_format: LongText = ""


class TemplateUpdate(ActiveUpdate):
    name: Text | UnsetType = UNSET
    check_item_id: Id | UnsetType | None = UNSET
    department_id: Id | UnsetType | None = UNSET
    shown_fields: Many[Text] | UnsetType = UNSET
    title_format: LongText | UnsetType = UNSET
    header_format: LongText | UnsetType = UNSET
    findings_format: LongText | UnsetType = UNSET
    impression_format: LongText | UnsetType = UNSET
    footer_format: LongText | UnsetType = UNSET


class TemplatePreview(msgspec.Struct):
    """An unsaved template's formats, rendered against a sample examination. Other fields
    of the template form (name, scope, …) are ignored: the page sends the whole form."""

    shown_fields: Many[Text] = []
    title_format: LongText = ""
    header_format: LongText = ""
    findings_format: LongText = ""
    impression_format: LongText = ""
    footer_format: LongText = ""


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
    title: Text
    category: Text = ""
    findings: LongText = ""
    impression: LongText = ""
    keywords: Text = ""
    personal: bool = False


class PhraseUpdate(ActiveUpdate):
    title: Text | UnsetType = UNSET
    category: Text | UnsetType = UNSET
    findings: LongText | UnsetType = UNSET
    impression: LongText | UnsetType = UNSET
    keywords: Text | UnsetType = UNSET


PhrasePage = Page[PhraseRead]
