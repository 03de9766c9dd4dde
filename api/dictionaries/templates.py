"""Report templates per check type (SPEC 8.5) and ``render_template``, which the report
editor calls to start a report from a template.

Formats are text with ``{placeholders}`` naming examination fields (``FIELDS``); a
placeholder must name a known field that the template shows, checked when saved, so a
template never fails at render time. ``{{`` and ``}}`` stand for literal braces. Rendering
substitutes values itself (no ``str.format``: no attribute access from a template).
Scope: ``hospital`` (admin), ``department`` (admin, for one department) or ``personal``
(a doctor's own).
"""

from __future__ import annotations

import string
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from api.crud import first_or_not_found, from_row, insert_audited
from api.dictionaries.common import actor_of, apply_update
from api.dictionaries.schemas import (
    FieldInfo,
    RenderedReport,
    TemplateCreate,
    TemplatePreview,
    TemplateRead,
    TemplateUpdate,
)
from api.management.service import clean_text, own_hospital
from kernel.errors import BadRequest, Forbidden, NotFound
from kernel.i18n import N_, Msg
from store.examinations import get_examination, hospital_zone
from store.reads import note
from store.scoping import visible
from store.tables import CheckItem, Department, Examination, Hospital, ReportTemplate
from store.uow import Actor, Ctx, now, unit_of_work

# key → English label; the order is the order fields are offered and rendered in.
FIELDS: dict[str, str] = {
    "hospital": "Hospital",
    "patient_name": "Patient name",
    "patient_sex": "Sex",
    "patient_age": "Age",
    "patient_id": "Patient ID",
    "his_number": "Outpatient/inpatient number",
    "accession_number": "Accession number",
    "check_item": "Check item",
    "body_part": "Body part",
    "device_type": "Device type",
    "device": "Device",
    "exam_category": "Exam category",
    "scanning_method": "Scanning method",
    "exam_time": "Exam time",
    "exam_date": "Exam date",
    "department": "Department",
}
SCOPES = ("hospital", "department", "personal")
FORMATS = ("title_format", "header_format", "findings_format", "impression_format", "footer_format")
LIMITS = {"title_format": 200}
SEX = {"M": "男", "F": "女", "O": "其他"}

SAMPLE: dict[str, str] = {
    "hospital": "市人民医院",
    "patient_name": "张三",
    "patient_sex": "男",
    "patient_age": "45",
    "patient_id": "P0012345",
    "his_number": "MZ20261127001",
    "accession_number": "A20261127001",
    "check_item": "胸部CT平扫",
    "body_part": "CHEST",
    "device_type": "CT",
    "device": "CT 1 号机 64排",
    "exam_category": "outpatient",
    "scanning_method": "平扫",
    "exam_time": "2026-11-27 09:30",
    "exam_date": "2026-11-27",
    "department": "放射科",
}


def field_list() -> list[FieldInfo]:
    return [FieldInfo(k, v) for k, v in FIELDS.items()]


def placeholders(text: str, what: str) -> list[str]:
    """The field names ``text`` uses; a malformed or unknown placeholder is a 400."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise BadRequest(
            "The {what} has an unbalanced brace ({exc}); write {{{{ or }}}} for a literal one.",
            what=Msg(what),
            exc=exc,
        ) from None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS or spec or conversion:
            raise BadRequest(
                "Unknown placeholder {{{name}}} in the {what}; known fields: {value}.",
                name=name,
                what=Msg(what),
                value=", ".join(FIELDS),
            )
        names.append(name)
    return names


def check_formats(shown: list[str], formats: dict[str, str]) -> list[str]:
    unknown = [f for f in shown if f not in FIELDS]
    if unknown:
        raise BadRequest(
            "Unknown shown fields: {value}; known: {value2}.",
            value=", ".join(unknown),
            value2=", ".join(FIELDS),
        )
    shown = [f for f in FIELDS if f in shown]  # canonical order, no duplicates
    for key, text in formats.items():
        what = key.replace("_", " ")
        limit = LIMITS.get(key, 20000)
        if len(text) > limit:
            raise BadRequest(
                "The {what} has at most {limit} characters.",
                what=Msg(what),
                limit=limit,
            )
        for name in placeholders(text, what):
            if name not in shown:
                raise BadRequest(
                    "The placeholder {{{name}}} in the {what} is not among the shown "
                    "fields; show the field or remove the placeholder.",
                    name=name,
                    what=Msg(what),
                )
    return shown


def fill(text: str, values: dict[str, str]) -> str:
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(text):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, ""))
    return "".join(out)


def _read(row: dict[str, Any]) -> TemplateRead:
    return from_row(
        TemplateRead,
        row,
        check_item_id=row["check_item"],
        check_item_name=row.get("check_item_name") or "",
        department_id=row["department"],
        owner_id=row["owner"],
        shown_fields=msgspec.json.decode(row["shown_fields"] or "[]"),
    )


COLUMNS: tuple[Any, ...] = (
    ReportTemplate.all_columns(),
    ReportTemplate.check_item.name.as_alias("check_item_name"),
)


def _usable_clause(actor: Actor) -> Any:
    """What a doctor may use: his hospital's, his department's and his own templates. An
    admin sees every template of the hospital except the doctors' personal ones."""
    if actor.is_admin:
        return ReportTemplate.scope != "personal"
    clause: Any = ReportTemplate.scope == "hospital"
    if actor.department_id is not None:
        clause = clause | (
            (ReportTemplate.scope == "department")
            & (ReportTemplate.department == actor.department_id)
        )
    return clause | ((ReportTemplate.scope == "personal") & (ReportTemplate.owner == actor.user_id))


async def list_templates(actor: Actor, check_item_id: int | None = None) -> list[TemplateRead]:
    query = visible(ReportTemplate, actor, *COLUMNS).where(_usable_clause(actor))
    if check_item_id is not None:
        query = query.where(ReportTemplate.check_item == check_item_id)
    rows = await query.order_by(ReportTemplate.active, ascending=False).order_by(
        ReportTemplate.name
    )
    return [_read(r) for r in rows]


NOT_USABLE = N_("No report template with id {template_id} exists, or you may not use it.")


async def get_template(actor: Actor, template_id: int) -> TemplateRead:
    query = visible(ReportTemplate, actor, *COLUMNS).where(
        ReportTemplate.id == template_id, _usable_clause(actor)
    )
    return _read(await first_or_not_found(query, NOT_USABLE, template_id=template_id))


async def _check_scope(actor: Actor, scope: str, department_id: int | None) -> None:
    if scope not in SCOPES:
        raise BadRequest(
            "The scope is one of: {value}.",
            value=", ".join(SCOPES),
        )
    if scope == "personal" and actor.is_admin:
        raise BadRequest(
            "A personal template belongs to a doctor; a doctor creates his own.",
        )
    if scope != "personal" and not (actor.is_admin and actor.kind == "hospital_admin"):
        raise Forbidden(
            "Only the hospital administrator keeps hospital and department templates.",
        )
    if scope == "department":
        if department_id is None:
            raise BadRequest("A department template names its department.")
        if not await Department.exists().where(
            Department.id == department_id, Department.hospital == own_hospital(actor)
        ):
            raise BadRequest(
                "The department {department_id} is not a department of this hospital.",
                department_id=department_id,
            )


async def _check_item(actor: Actor, item_id: int | None) -> None:
    if item_id is not None and not await CheckItem.exists().where(
        CheckItem.id == item_id, CheckItem.hospital == own_hospital(actor)
    ):
        raise BadRequest(
            "The check item {item_id} is not in this hospital's dictionary.",
            item_id=item_id,
        )


async def add_template(ctx: Ctx, data: TemplateCreate) -> TemplateRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    name = clean_text(data.name, "template name", 100)
    await _check_scope(actor, data.scope, data.department_id)
    await _check_item(actor, data.check_item_id)
    formats = {f: getattr(data, f) for f in FORMATS}
    shown = check_formats(data.shown_fields, formats)
    async with unit_of_work(ctx) as uow:
        template_id = await insert_audited(
            uow,
            ReportTemplate(
                hospital=hospital_id,
                name=name,
                check_item=data.check_item_id,
                scope=data.scope,
                department=data.department_id if data.scope == "department" else None,
                owner=actor.user_id if data.scope == "personal" else None,
                shown_fields=msgspec.json.encode(shown).decode(),
                created_at=now(),
                **formats,
            ),
            "template.create",
            "report_template",
            detail=f"{data.scope} {name}",
            hospital_id=hospital_id,
        )
    return await get_template(actor, template_id)


async def update_template(ctx: Ctx, template_id: int, data: TemplateUpdate) -> TemplateRead:
    actor = actor_of(ctx)
    hospital_id = own_hospital(actor)
    current = await get_template(actor, template_id)
    if current.scope == "personal" and current.owner_id != actor.user_id:
        raise NotFound(NOT_USABLE, template_id=template_id)
    department_id = (
        data.department_id if isinstance(data.department_id, int) else current.department_id
    )
    await _check_scope(actor, current.scope, department_id)
    values: dict[Any, Any] = {}
    if isinstance(data.name, str):
        values[ReportTemplate.name] = clean_text(data.name, "template name", 100)
    if isinstance(data.check_item_id, int) or data.check_item_id is None:
        await _check_item(actor, data.check_item_id)
        values[ReportTemplate.check_item] = data.check_item_id
    if current.scope == "department":
        values[ReportTemplate.department] = department_id
    shown = data.shown_fields if isinstance(data.shown_fields, list) else current.shown_fields
    formats = {
        f: getattr(data, f) if isinstance(getattr(data, f), str) else getattr(current, f)
        for f in FORMATS
    }
    shown = check_formats(shown, formats)
    values[ReportTemplate.shown_fields] = msgspec.json.encode(shown).decode()
    for key, text in formats.items():
        values[ReportTemplate._meta.get_column_by_name(key)] = text
    if isinstance(data.active, bool):
        values[ReportTemplate.active] = data.active
    await apply_update(
        ctx,
        ReportTemplate,
        template_id,
        hospital_id,
        values,
        data,
        "report template",
        "template.update",
    )
    return await get_template(actor, template_id)


def preview(data: TemplatePreview) -> RenderedReport:
    """The formats rendered against ``SAMPLE``: what the admin sees while he types."""
    formats = {f: getattr(data, f) for f in FORMATS}
    shown = check_formats(data.shown_fields, formats)
    return _rendered(None, None, shown, formats, SAMPLE)


def _rendered(
    template_id: int | None,
    exam_id: int | None,
    shown: list[str],
    formats: dict[str, str],
    values: dict[str, str],
) -> RenderedReport:
    return RenderedReport(
        template_id=template_id,
        examination_id=exam_id,
        fields={f: values.get(f, "") for f in shown},
        title=fill(formats["title_format"], values),
        header=fill(formats["header_format"], values),
        findings=fill(formats["findings_format"], values),
        impression=fill(formats["impression_format"], values),
        footer=fill(formats["footer_format"], values),
    )


def age(birth_date: str, on: date) -> str:
    try:
        born = datetime.strptime(birth_date, "%Y%m%d").date()
    except ValueError:
        return ""
    years = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    return str(years) if years >= 0 else ""


async def exam_values(exam: dict[str, Any]) -> dict[str, str]:
    """The examination's field values as a report shows them (times in the hospital's zone)."""
    zone: ZoneInfo = await hospital_zone(exam["hospital"])
    at: datetime | None = exam["exam_time"]
    local = at.astimezone(zone) if at else None
    hospital = await Hospital.select(Hospital.name).where(Hospital.id == exam["hospital"]).first()
    department = (
        await Department.select(Department.name).where(Department.id == exam["department"]).first()
        if exam["department"]
        else None
    )
    return {
        "hospital": hospital["name"] if hospital else "",
        "patient_name": exam["patient_name"],
        "patient_sex": SEX.get(exam["patient_sex"], exam["patient_sex"]),
        "patient_age": age(exam["patient_birth_date"], local.date()) if local else "",
        "patient_id": exam["patient_id"],
        "his_number": exam["patient_his_number"],
        "accession_number": exam["accession_number"],
        "check_item": exam["check_item_name"],
        "body_part": exam["body_part"],
        "device_type": exam["device_type"],
        "device": exam["device_name"],
        "exam_category": exam["exam_category"],
        "scanning_method": exam["scanning_method"],
        "exam_time": local.strftime("%Y-%m-%d %H:%M") if local else "",
        "exam_date": local.strftime("%Y-%m-%d") if local else "",
        "department": department["name"] if department else "",
    }


async def render_template(
    template_id: int, examination_id: int, *, actor: Actor | None = None
) -> RenderedReport:
    """The template filled with the examination's values, for the report editor.

    With ``actor``, both must be visible to him (else 404); without, the caller has checked.
    """
    if actor is not None:
        template = await get_template(actor, template_id)
        exam = await get_examination(actor, examination_id)
        note(hospital_id=exam["hospital"], detail=f"template {template_id}")
    else:
        row = await first_or_not_found(
            ReportTemplate.select(*COLUMNS).where(ReportTemplate.id == template_id),
            N_("No report template with id {template_id} exists."),
            template_id=template_id,
        )
        template = _read(row)
        exam = await first_or_not_found(
            Examination.select().where(Examination.id == examination_id),
            N_("No examination with id {examination_id} exists."),
            examination_id=examination_id,
        )
    formats = {f: getattr(template, f) for f in FORMATS}
    return _rendered(
        template_id, examination_id, template.shown_fields, formats, await exam_values(exam)
    )


async def templates_for_examination(actor: Actor, examination_id: int) -> list[TemplateRead]:
    """The active templates the doctor may use for this examination: those of its check item
    (the same code when the examination is another hospital's), then the general ones."""
    exam = await get_examination(actor, examination_id)
    item_ids: list[int] = []
    if exam["check_item"] is not None:
        item = (
            await CheckItem.select(CheckItem.code).where(CheckItem.id == exam["check_item"]).first()
        )
        if item is not None:
            rows = await CheckItem.select(CheckItem.id).where(
                CheckItem.hospital == actor.hospital_id, CheckItem.code == item["code"]
            )
            item_ids = [r["id"] for r in rows]
    usable = [t for t in await list_templates(actor) if t.active]
    specific = [t for t in usable if t.check_item_id in item_ids]
    general = [t for t in usable if t.check_item_id is None]
    rank = {"personal": 0, "department": 1, "hospital": 2}
    return sorted(specific, key=lambda t: rank[t.scope]) + sorted(
        general, key=lambda t: rank[t.scope]
    )
