"""An examination's admin edit (issue 5 item 2) and its priority (issue 14 item 9, a
doctor's or an admin's): the fields checked, then written through
``store.examinations.update_examination`` (unit of work, audit row, live event, version
check)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from msgspec import UNSET

from api.exams.filters import max_length
from api.exams.schemas import ExamRead, ExamUpdate, PriorityIn
from api.exams.search import view
from api.patient_archive.matching import rematch
from kernel import id_numbers
from kernel import priority as priorities
from kernel.errors import BadRequest
from kernel.i18n import Msg
from store.examinations import update_examination
from store.uow import Ctx

SEXES = ("M", "F", "O", "")
PHONE_RE = re.compile(r"\+?[0-9][0-9 ()-]{2,30}")


def check_id_number(value: str) -> str:
    """A mainland resident ID number (``kernel.id_numbers``: check character, real birth
    date; the legacy 15-digit form kept as its 18-character one)."""
    if not value.strip():
        return ""
    try:
        return id_numbers.parse(value, date.today()).number
    except id_numbers.IdProblem as problem:
        raise BadRequest(problem.message, **problem.params) from None


def check_birth_date(value: str) -> str:
    digits = value.strip().replace("-", "")
    if not digits:
        return ""
    try:
        day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        if len(digits) != 8 or day > date.today():
            raise ValueError
    except ValueError:
        raise BadRequest(
            "{value!r} is not a birth date like 1980-05-31.",
            value=value[:20],
        ) from None
    return digits


def _text(value: str, what: str, max_len: int, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise BadRequest("The {what} must not be empty.", what=Msg(what))
    return max_length(value, what, max_len)


def validated_changes(data: ExamUpdate) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if data.patient_name is not UNSET:
        out["patient_name"] = _text(data.patient_name, "patient name", 200, required=True)
    if data.patient_sex is not UNSET:
        sex = data.patient_sex.strip().upper()
        if sex not in SEXES:
            raise BadRequest("The sex is M, F, O or empty.")
        out["patient_sex"] = sex
    if data.patient_birth_date is not UNSET:
        out["patient_birth_date"] = check_birth_date(data.patient_birth_date)
    if data.patient_id_number is not UNSET:
        out["patient_id_number"] = check_id_number(data.patient_id_number)
    if data.patient_his_number is not UNSET:
        out["patient_his_number"] = _text(data.patient_his_number, "HIS number", 64)
    if data.patient_phone is not UNSET:
        phone = data.patient_phone.strip()
        if phone and not PHONE_RE.fullmatch(phone):
            raise BadRequest("{phone!r} is not a phone number.", phone=phone[:40])
        out["patient_phone"] = phone
    if data.check_item_id is not UNSET:
        out["check_item"] = data.check_item_id
    if data.department_id is not UNSET:
        out["department"] = data.department_id
    if data.exam_category is not UNSET:
        out["exam_category"] = _text(data.exam_category, "exam category", 40)
    if data.scanning_method is not UNSET:
        out["scanning_method"] = _text(data.scanning_method, "scanning method", 60)
    if not out:
        raise BadRequest(
            "Nothing to change: send at least one field.",
        )
    return out


async def update(ctx: Ctx, exam_id: int, data: ExamUpdate) -> ExamRead:
    changes = validated_changes(data)
    version = None if data.version is UNSET else data.version
    await update_examination(ctx, exam_id, changes, version)
    if {"patient_id_number", "patient_phone"} & set(changes):  # the patient archives follow
        await rematch(ctx, exam_id)
    return await view(ctx, exam_id)


async def set_priority(ctx: Ctx, exam_id: int, data: PriorityIn) -> ExamRead:
    """routine | urgent | emergency, by a doctor or the administrator of the examination's
    own hospital (another hospital's, even one diagnosing it, is refused: 404)."""
    level = priorities.parse(data.priority)
    await update_examination(ctx, exam_id, {"priority": level}, data.version)
    return await view(ctx, exam_id)
