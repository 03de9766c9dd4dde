"""The examination record of a study (issue 5 item 1): created from the study's DICOM
attributes at migration, edited by admins, seen through one visibility rule.

- ``examination_from_study(study_id)`` is idempotent: one Examination per Study (the
  ``study`` column is unique), a second call returns the existing id.
- Every change of an examination row that a list shows (created, status changed, edited)
  writes a live event ``exam.changed`` on ``hospital:<owner>`` with ids and the status only,
  never patient data, so open lists re-fetch what they may see.
- ``examination_branches(actor)`` / ``examination_clause(actor)`` are the visibility rule
  of examinations: the actor's hospital (``store.scoping.patient_hospital_ids``: an
  alliance admin sees none), plus
  examinations shared with the actor's hospital by a DiagnosisRequest that is not rejected
  or cancelled — ``examination.shared_with``, which triggers on diagnosis_request keep
  (migration 2026-11-28T02:12:36), so the shared branch pages by its own time index.
  Neither branch holds a soft-deleted examination (``store.scoping.not_deleted``); an
  examination is deleted and restored with its study (``mark_deleted``).
  ``examination_clause`` (single rows: the examination, its report) also lets a doctor read
  the examinations attached to the consultations he takes part in
  (``store.scoping.consultation_exams_sql``); the lists do not show them.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from piccolo.columns.combination import WhereRaw

from kernel.domain import Kind
from kernel.errors import BadRequest, Conflict, Forbidden, NotFound
from kernel.i18n import Msg
from store.scoping import NOTHING, consultation_exams_sql, not_deleted, patient_hospital_ids
from store.tables import (
    BodyPart,
    CheckItem,
    Department,
    DeviceType,
    DiagnosisRequest,
    Examination,
    Patient,
    Study,
)
from store.uow import Actor, Ctx, UnitOfWork, now, unit_of_work
from store.zones import hospital_zone

STATUSES = ("images_arrived", "report_draft", "initial_report", "reviewed", "printed")
# DiagnosisRequest states in which the target hospital no longer sees the examination.
CLOSED_REQUEST_STATES = ("rejected", "cancelled")
# Modalities that are not images of the patient: never the examination's device type.
NON_IMAGE_MODALITIES = frozenset({"SR", "PR", "KO", "SEG", "REG", "DOC", "RWV", "AU", "OT"})
EVENT_TYPE = "exam.changed"


# --- DICOM attributes -> examination values -------------------------------------------------


def split_person_name(pn: str) -> tuple[str, str]:
    """DICOM PN "ZHANG^SAN=张三=" → ("ZHANG SAN", "张三"): alphabetic and ideographic."""
    groups = (pn or "").split("=")
    alphabetic = " ".join(p for p in groups[0].split("^") if p).strip()
    ideographic = "".join(p for p in groups[1].split("^") if p).strip() if len(groups) > 1 else ""
    return alphabetic, ideographic


def display_name(pn: str) -> str:
    """The name a list shows: the ideographic form first when there is one."""
    alphabetic, ideographic = split_person_name(pn)
    return " ".join(p for p in (ideographic, alphabetic) if p)


def name_search_key(pn: str) -> str:
    """Upper-case key for prefix search; ``patient_name`` (ideographic first) serves the
    Chinese prefix, this key the alphabetic one (pinyin, case-insensitive)."""
    alphabetic, ideographic = split_person_name(pn)
    return (alphabetic or ideographic).upper()


def primary_modality(modalities: str) -> str:
    codes = [m for m in (modalities or "").replace(",", "\\").split("\\") if m]
    images = [m for m in codes if m.upper() not in NON_IMAGE_MODALITIES]
    return (images or codes or [""])[0].upper()[:16]


def exam_time_of(study_date: str, study_time: str, zone: ZoneInfo) -> datetime | None:
    """StudyDate + StudyTime as the hospital's local time; None when the date is unusable."""
    digits = re.sub(r"\D", "", study_date or "")
    if len(digits) != 8:
        return None
    try:
        day = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return None
    raw = (study_time or "").replace(":", "").split(".")[0]
    hh, mm, ss = (raw + "000000")[0:2], (raw + "000000")[2:4], (raw + "000000")[4:6]
    try:
        clock = time(int(hh), int(mm), int(ss)) if raw.isdigit() else time(0, 0)
    except ValueError:
        clock = time(0, 0)
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


async def match_check_item(
    hospital_id: int, modality: str, body_part: str
) -> dict[str, Any] | None:
    """The hospital's active check item for this device type and body part, if exactly
    one such pair is in its dictionary (the lowest id when several are)."""
    if not modality or not body_part:
        return None
    types = await DeviceType.select(DeviceType.id).where(
        DeviceType.hospital == hospital_id, DeviceType.active.eq(True), DeviceType.code == modality
    )
    parts = await BodyPart.select(BodyPart.id).where(
        BodyPart.hospital == hospital_id, BodyPart.active.eq(True), BodyPart.code == body_part
    )
    if not types or not parts:
        return None
    return (
        await CheckItem.select(
            CheckItem.id, CheckItem.name, CheckItem.exam_category, CheckItem.scanning_method
        )
        .where(
            CheckItem.hospital == hospital_id,
            CheckItem.active.eq(True),
            CheckItem.device_type.is_in([t["id"] for t in types]),
            CheckItem.body_part.is_in([p["id"] for p in parts]),
        )
        .order_by(CheckItem.id)
        .first()
    )


async def exam_changed(uow: UnitOfWork, exam_id: int, hospital_id: int, status: str) -> None:
    """The live event open lists refresh on: call it in the transaction of any change of an
    examination row (its status above all). Ids and status only: no patient data."""
    payload = {"id": exam_id, "hospital_id": hospital_id, "status": status}
    await uow.event(f"hospital:{hospital_id}", EVENT_TYPE, payload)
    targets = await DiagnosisRequest.select(DiagnosisRequest.target_hospital).where(
        DiagnosisRequest.examination == exam_id,
        DiagnosisRequest.state.not_in(list(CLOSED_REQUEST_STATES)),
    )
    for target in {int(t["target_hospital"]) for t in targets} - {hospital_id}:
        await uow.event(f"hospital:{target}", EVENT_TYPE, payload)


async def examination_from_study(study_id: int) -> int:
    """Create the examination of study ``study_id`` from its DICOM attributes (idempotent)
    and return its id. Called by the migration flow at its "matched" step; status
    ``images_arrived``, department unknown, check item from the hospital's dictionary."""
    existing = await Examination.select(Examination.id).where(Examination.study == study_id).first()
    if existing:
        return int(existing["id"])
    study = await Study.select().where(Study.id == study_id).first()
    if study is None:
        raise NotFound(f"No study with id {study_id} exists.")
    patient = await Patient.select().where(Patient.id == study["patient"]).first() or {}
    hospital_id = int(study["hospital"])
    zone = await hospital_zone(hospital_id)
    pn = patient.get("name") or study["patient_name"]
    modality = primary_modality(study["modalities"])
    body_part = (study["body_parts"] or "").split("\\")[0].strip().upper()[:64]
    item = await match_check_item(hospital_id, modality, body_part)
    at = now()
    values = Examination(
        hospital=hospital_id,
        study=study_id,
        patient_name=display_name(pn)[:200],
        patient_name_search=name_search_key(pn)[:200],
        patient_sex=(patient.get("sex") or study["patient_sex"] or "")[:4],
        patient_birth_date=(patient.get("birth_date") or study["patient_birth_date"] or "")[:8],
        patient_id=(patient.get("patient_id") or study["patient_id"] or "")[:64],
        patient_id_number=(patient.get("id_number") or "")[:32],
        patient_phone=(patient.get("phone") or "")[:32],
        accession_number=study["accession_number"] or "",
        check_item=item["id"] if item else None,
        check_item_name=item["name"] if item else "",
        device_type=modality,
        body_part=body_part,
        exam_category=item["exam_category"] if item else "",
        scanning_method=item["scanning_method"] if item else "",
        exam_time=exam_time_of(study["study_date"], study["study_time"], zone)
        or study["created_at"],
        status="images_arrived",
        priority=int(study["priority"] or 0),  # what its DICOM states (store.index_rows)
        deleted_at=study["deleted_at"],  # a deleted study's examination is born deleted
        created_at=at,
        updated_at=at,
    )
    try:
        async with unit_of_work(Ctx(user_agent="migration")) as uow:
            row = await Examination.insert(values).returning(Examination.id)
            exam_id = int(row[0]["id"])
            await exam_changed(uow, exam_id, hospital_id, "images_arrived")
            await uow.audit(
                "exam.create",
                "examination",
                exam_id,
                hospital_id=hospital_id,
                detail=f"from study {study_id}",
            )
    except (sqlite3.IntegrityError, asyncpg.UniqueViolationError):
        again = await Examination.select(Examination.id).where(Examination.study == study_id)
        if not again:
            raise
        return int(again[0]["id"])  # a concurrent call created it first
    return exam_id


async def mark_deleted(uow: UnitOfWork, study_id: int, deleted_at: datetime | None) -> None:
    """Soft-delete (``deleted_at``) or restore (None) the examination of study ``study_id``
    with its study, in the study's unit of work (SPEC 8.11): the examination count triggers
    follow ``deleted_at``, and open lists hear of it."""
    rows = (
        await Examination.update(
            {
                Examination.deleted_at: deleted_at,
                Examination.updated_at: now(),
                Examination.version: Examination.version + 1,
            }
        )
        .where(Examination.study == study_id)
        .returning(Examination.id, Examination.hospital, Examination.status)
    )
    for row in rows:
        await exam_changed(uow, int(row["id"]), int(row["hospital"]), row["status"])


# --- visibility -----------------------------------------------------------------------------


async def visible_hospital_ids(actor: Actor) -> list[int]:
    """The hospitals whose examinations ``actor`` sees as their owner: his own (a doctor's,
    a hospital admin's); an alliance admin none (``store.scoping.patient_hospital_ids``)."""
    return patient_hospital_ids(actor)


def shared_clause(hospital_id: int, own: list[int]) -> Any:
    """Examinations of other hospitals shared with ``hospital_id``: ``shared_with``, the
    target of the examination's open request, kept by triggers on diagnosis_request and
    indexed with (exam_time, id) and (print_time, id) like the own branch's hospital."""
    return (
        (Examination.shared_with == hospital_id)
        & Examination.hospital.not_in(own)
        & not_deleted(Examination)
    )


async def list_branches(actor: Actor) -> tuple[Any, Any]:
    """What ``actor`` sees, as two disjoint clauses: his hospital's examinations (an
    alliance admin's: the alliance's; None when he has none), and those of other hospitals
    shared with his hospital by an open DiagnosisRequest (None when there are none). A
    list pages each by the same keyset code and merges them; an OR of both would sort
    every row of the hospital."""
    own = await visible_hospital_ids(actor)
    if not own:
        return None, None
    mine: Any = Examination.hospital.is_in(own) if len(own) > 1 else Examination.hospital == own[0]
    shared = None
    if actor.hospital_id is not None:
        clause = shared_clause(actor.hospital_id, own)
        if await Examination.exists().where(clause):
            shared = clause
    return mine & not_deleted(Examination), shared


async def examination_branches(actor: Actor) -> list[Any]:
    """``list_branches`` as a list of where-clauses."""
    return [c for c in await list_branches(actor) if c is not None]


async def examination_clause(actor: Actor) -> Any:
    """Which examinations ``actor`` sees, as one clause (for reading single rows, which
    the row's id leads)."""
    own = await visible_hospital_ids(actor)
    if not own:
        return NOTHING
    mine: Any = Examination.hospital.is_in(own) if len(own) > 1 else Examination.hospital == own[0]
    clause = mine & not_deleted(Examination)
    if actor.hospital_id is not None:
        clause = clause | shared_clause(actor.hospital_id, own)
    granted = consultation_exams_sql(actor, "examination.id")
    if granted is not None:
        sql, args = granted
        attached = WhereRaw(sql, *args)
        clause = clause | (attached & not_deleted(Examination))
    return clause


async def get_examination(actor: Actor, exam_id: int) -> dict[str, Any]:
    row = (
        await Examination.select()
        .where(await examination_clause(actor), Examination.id == exam_id)
        .first()
    )
    if row is None:
        raise NotFound(
            f"No examination with id {exam_id} exists, or it belongs to another hospital."
        )
    return row


# --- admin edits ----------------------------------------------------------------------------

# What a doctor of the examination's hospital may change as well (issue 14 item 9).
DOCTOR_EDITABLE = frozenset({"priority"})
EDITABLE = (
    "priority",
    "patient_name",
    "patient_sex",
    "patient_birth_date",
    "patient_id_number",
    "patient_his_number",
    "patient_phone",
    "check_item",
    "department",
    "exam_category",
    "scanning_method",
)


async def check_item_of(hospital_id: int, check_item_id: int) -> dict[str, Any]:
    row = (
        await CheckItem.select(CheckItem.id, CheckItem.name)
        .where(CheckItem.id == check_item_id, CheckItem.hospital == hospital_id)
        .first()
    )
    if row is None:
        raise BadRequest(f"The check item {check_item_id} is not in this hospital's dictionary.")
    return row


async def check_department(hospital_id: int, department_id: int) -> None:
    if not await Department.exists().where(
        Department.id == department_id, Department.hospital == hospital_id
    ):
        raise BadRequest(f"The department {department_id} is not a department of this hospital.")


async def update_examination(
    ctx: Ctx, exam_id: int, changes: dict[str, Any], version: int | None
) -> int:
    """Apply validated ``changes`` (keys from EDITABLE) to an examination of the actor's own
    hospital (an admin's; a doctor's for DOCTOR_EDITABLE); with ``version`` only if it is
    current (409 otherwise). Returns the new version."""
    actor = ctx.actor
    if actor is None or not (
        actor.is_admin or (actor.kind == Kind.doctor and set(changes) <= DOCTOR_EDITABLE)
    ):
        raise Forbidden("Only an administrator edits examinations.")
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise BadRequest(f"These fields cannot be edited: {', '.join(sorted(unknown))}.")
    row = await get_examination(actor, exam_id)
    if row["hospital"] not in await visible_hospital_ids(actor):
        raise NotFound(
            f"No examination with id {exam_id} exists, or it belongs to another hospital."
        )
    values: dict[Any, Any] = {}
    for key, value in changes.items():
        values[Examination._meta.get_column_by_name(key)] = value
    if "patient_name" in changes:
        values[Examination.patient_name_search] = str(changes["patient_name"]).upper()
    if changes.get("check_item") is not None:
        item = await check_item_of(row["hospital"], int(changes["check_item"]))
        values[Examination.check_item_name] = item["name"]
    elif "check_item" in changes:
        values[Examination.check_item_name] = ""
    if changes.get("department") is not None:
        await check_department(row["hospital"], int(changes["department"]))
    values[Examination.updated_at] = now()
    async with unit_of_work(ctx) as uow:
        query = Examination.update({**values, Examination.version: Examination.version + 1})
        query = query.where(Examination.id == exam_id)
        if version is not None:
            query = query.where(Examination.version == version)
        done = await query.returning(Examination.version)
        if not done:
            current = await Examination.select(Examination.version).where(Examination.id == exam_id)
            now_at = current[0]["version"] if current else None
            raise Conflict(
                "Someone else changed this {what} in the meantime (it is now at version "
                "{current_version}, you edited version {version}). Reload and try again.",
                what=Msg("examination"),
                current_version=now_at,
                version=version,
                extra={"current_version": now_at},
            )
        await exam_changed(uow, exam_id, int(row["hospital"]), row["status"])
        await uow.audit(
            "exam.update",
            "examination",
            exam_id,
            hospital_id=int(row["hospital"]),
            detail="changed: " + ", ".join(sorted(changes)),
        )
    return int(done[0]["version"])


async def examinations_for_all_studies() -> int:
    """Create the examination of every study that has none yet (the demo loader and a
    one-off backfill); returns how many were created. Idempotent."""
    have = {
        int(r["study"])
        for r in await Examination.select(Examination.study).where(Examination.study.is_not_null())
    }
    studies = await Study.select(Study.id).where(not_deleted(Study)).order_by(Study.id)
    missing = [int(s["id"]) for s in studies if int(s["id"]) not in have]
    for study_id in missing:
        await examination_from_study(study_id)
    return len(missing)
