"""Wire structs of the examination dictionaries, report templates and knowledge base
(SPEC 8.4–8.7). ``XUpdate`` fields default to ``UNSET``: only what the client sent changes;
a sent ``version`` that is not current is refused with 409. Each ``XUpdate`` is derived from
its ``XCreate`` (the end of this module)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from api.bounds import Id, Int, LongText, Many, Text
from api.schemas import ActiveUpdate, Base, Page, partial

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


class TemplatePreview(msgspec.Struct, kw_only=True):
    """An unsaved template's formats, rendered against a sample examination. Other fields
    of the template form (name, scope, …) are ignored: the page sends the whole form."""

    shown_fields: Many[Text] = []
    title_format: LongText = ""
    header_format: LongText = ""
    findings_format: LongText = ""
    impression_format: LongText = ""
    footer_format: LongText = ""


class TemplateCreate(TemplatePreview, forbid_unknown_fields=True, kw_only=True):
    """A template: its formats (``TemplatePreview``'s fields) and where it applies."""

    name: Text
    check_item_id: Id | None = None
    scope: Text = "hospital"
    department_id: Id | None = None


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


PhrasePage = Page[PhraseRead]


# --- partial updates: each create's fields, optional (``api.schemas.partial``) -------------

if TYPE_CHECKING:

    class CodedUpdate(ActiveUpdate, CodedCreate): ...

    class DeviceUpdate(ActiveUpdate, DeviceCreate): ...

    class CheckItemUpdate(ActiveUpdate, CheckItemCreate): ...

    class TemplateUpdate(ActiveUpdate, TemplateCreate): ...

    class PhraseUpdate(ActiveUpdate, PhraseCreate): ...

else:
    CodedUpdate = partial(CodedCreate, "CodedUpdate")
    DeviceUpdate = partial(DeviceCreate, "DeviceUpdate")
    CheckItemUpdate = partial(CheckItemCreate, "CheckItemUpdate")
    TemplateUpdate = partial(TemplateCreate, "TemplateUpdate", exclude=("scope",))
    PhraseUpdate = partial(PhraseCreate, "PhraseUpdate", exclude=("personal",))
