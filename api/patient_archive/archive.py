"""The patient's archive (SPEC 10.4, issue 15 points 3 and 5): her and her family's
visible examinations, one examination's report and images, and the proof of an
examination, for the patient realm's routes (``api.patient_archive.patient_routes``).

Everything is reached through ``visible_exam``: an examination is hers when a live match
(not un-matched) of one of her account's live persons names it, its ``visible_at`` has
passed and the examination is not deleted. Anything else, another account's included, is
the same 404, whose words do not tell whether it exists. Every read and every proof is an
audit row of the patient realm (``patient:<account>``) with the examination's hospital."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import anyio

from api.dicomweb import rendered
from api.dicomweb.lookup import ARCHIVED_TIERS, STORED_COLUMNS, Stored, stored_of
from api.dicomweb.media import choose_image
from api.dicomweb.service import thumbnail_bytes
from api.patient_archive import matching, policy
from api.patient_archive.schemas import (
    ArchiveExam,
    ArchiveExamDetail,
    ArchiveHospital,
    ArchiveReport,
    ManualMatch,
    ProofOut,
)
from api.patients.realm import Acting, patient_audit
from api.viewer.studies import ImageRef, image_columns, images_in
from kernel.errors import Conflict, NotFound
from store.tables import ExamReport, Hospital, Instance, PatientMatch, PatientPerson
from store.uow import now

NOT_YOURS = "No such examination in your archive (it may not be visible yet)."
# audit target types of store.scoping.PATIENT_AUDIT_TARGETS (never the alliance admin's)
TARGET = "examination"
ACCOUNT = "patient_account"


def _account(acting: Acting) -> int:
    assert acting.patient is not None  # every caller is behind require_patient
    return acting.patient.account_id


async def persons_of(account_id: int) -> dict[int, dict[str, Any]]:
    rows = await PatientPerson.select(
        PatientPerson.id, PatientPerson.name, PatientPerson.relationship
    ).where(PatientPerson.account == account_id, PatientPerson.removed_at.is_null())
    return {int(r["id"]): r for r in rows}


async def _visible_rows(person_ids: list[int], exam_id: int | None = None) -> list[dict[str, Any]]:
    query = PatientMatch.select(
        PatientMatch.id,
        PatientMatch.person,
        PatientMatch.visible_at,
        PatientMatch.examination.id.as_alias("exam_id"),
        PatientMatch.examination.study.as_alias("study_id"),
        PatientMatch.examination._.study._.study_uid.as_alias("study_uid"),
        PatientMatch.examination._.study._.modalities.as_alias("modalities"),
        PatientMatch.examination.check_item_name.as_alias("check_item"),
        PatientMatch.examination.device_type.as_alias("device_type"),
        PatientMatch.examination.body_part.as_alias("body_part"),
        PatientMatch.examination.exam_time.as_alias("exam_time"),
        PatientMatch.examination.hospital.as_alias("hospital_id"),
        PatientMatch.examination._.hospital._.name.as_alias("hospital"),
    ).where(
        PatientMatch.person.is_in(person_ids or [0]),
        PatientMatch.unmatched_at.is_null(),
        PatientMatch.visible_at.is_not_null(),
        PatientMatch.visible_at <= now(),
        PatientMatch.examination.deleted_at.is_null(),
    )
    if exam_id is not None:
        query = query.where(PatientMatch.examination == exam_id)
    return list(await query.order_by(PatientMatch.examination.exam_time, ascending=False))


async def _report_states(exam_ids: list[int]) -> dict[int, dict[str, Any]]:
    rows = await ExamReport.select().where(ExamReport.examination.is_in(exam_ids or [0]))
    return {int(r["examination"]): r for r in rows}


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _exam(row: dict[str, Any], persons: dict[int, dict[str, Any]], report: Any) -> ArchiveExam:
    person = persons[int(row["person"])]
    state = report["state"] if report else ""
    return ArchiveExam(
        id=int(row["exam_id"]),
        person_id=int(row["person"]),
        person_name=person["name"],
        relationship=person["relationship"],
        hospital_id=int(row["hospital_id"]),
        hospital=row["hospital"],
        check_item=row["check_item"]
        or " ".join(x for x in (row["device_type"], row["body_part"]) if x),
        exam_time=_iso(row["exam_time"]),
        report_state="reviewed" if state == "reviewed" else "pending",
    )


async def list_exams(acting: Acting, person_id: int | None = None) -> list[ArchiveExam]:
    """Her and her family's visible examinations, newest first (one person's, if asked)."""
    persons = await persons_of(_account(acting))
    if person_id is not None and person_id not in persons:
        raise NotFound("No such person in your archive (removed, or never added).")
    ids = [person_id] if person_id is not None else list(persons)
    rows = await _visible_rows(ids)
    reports = await _report_states([int(r["exam_id"]) for r in rows])
    await patient_audit(
        None,
        acting,
        "patient_archive.list",
        ACCOUNT,
        _account(acting),
        detail=f"{len(rows)} examination(s) listed",
    )
    return [_exam(r, persons, reports.get(int(r["exam_id"]))) for r in rows]


async def visible_exam(acting: Acting, exam_id: int) -> tuple[dict[str, Any], dict]:
    """The visible match row of one of her examinations, and her persons; else 404."""
    persons = await persons_of(_account(acting))
    rows = await _visible_rows(list(persons), exam_id)
    if not rows:
        await patient_audit(
            None,
            acting,
            "patient_archive.view",
            TARGET,
            exam_id,
            outcome="denied",
            detail="not a visible examination of this account",
        )
        raise NotFound(NOT_YOURS)
    return rows[0], persons


async def images_of(study_id: int) -> list[ImageRef]:
    return await images_in(Instance.select(*image_columns()), study_id)


async def detail(acting: Acting, exam_id: int) -> ArchiveExamDetail:
    """One examination: the reviewed report (only a reviewed one is a patient's to read)
    and its images."""
    row, persons = await visible_exam(acting, exam_id)
    report = (await _report_states([exam_id])).get(exam_id)
    shown = report is not None and report["state"] == "reviewed"
    images = await images_of(int(row["study_id"])) if row["study_id"] else []
    await patient_audit(
        None,
        acting,
        "patient_archive.view",
        TARGET,
        exam_id,
        detail=f"examination {exam_id} of hospital {row['hospital_id']}: report "
        f"{'shown' if shown else 'not reviewed yet'}, {len(images)} image(s)",
    )
    return ArchiveExamDetail(
        exam=_exam(row, persons, report),
        study_uid=row["study_uid"] or "",
        modalities=row["modalities"] or "",
        report=ArchiveReport(
            title=report["title"],
            findings=report["findings"],
            impression=report["impression"],
            reviewed_at=_iso(report["reviewed_at"]),
        )
        if shown and report is not None
        else None,
        images=images,
    )


async def _stored(study_id: int, series_uid: str, sop_uid: str | None) -> list[Stored]:
    """The current instances of a series (or one instance) of this study only."""
    query = Instance.select(*STORED_COLUMNS).where(
        Instance.study == study_id,
        Instance.study.deleted_at.is_null(),
        Instance.superseded == False,  # noqa: E712
        Instance.series.series_uid == series_uid,
    )
    if sop_uid is not None:
        query = query.where(Instance.sop_uid == sop_uid)
    rows = await query.order_by(Instance.instance_number).order_by(Instance.id)
    if not rows:
        raise NotFound("No such image in this examination.")
    if rows[0]["study.tier"] in ARCHIVED_TIERS:
        raise Conflict(
            "This examination's images are in the hospital's long-term archive; "
            "ask the hospital to bring them back."
        )
    return [stored_of(r) for r in rows]


async def picture(
    acting: Acting,
    exam_id: int,
    accept: str,
    params: rendered.RenderParams,
    series_uid: str,
    sop_uid: str | None = None,
    frame: int | None = None,
    original: bool = False,
) -> tuple[str, bytes]:
    """A thumbnail (series or frame) or an original frame of one of her visible
    examinations: the UIDs must be of that examination's study, or 404."""
    row, _ = await visible_exam(acting, exam_id)
    if not row["study_id"]:
        raise NotFound("No such image in this examination.")
    media_type = choose_image(accept)
    stored = await _stored(int(row["study_id"]), series_uid, sop_uid)
    chosen = stored[len(stored) // 2] if sop_uid is None else stored[0]
    index = (frame or 1) - 1
    if not 0 <= index < max(1, chosen.frames or 1):
        raise NotFound("No such image in this examination.")
    if original:
        data = await anyio.to_thread.run_sync(rendered.rendered, chosen, index, media_type, params)
    else:
        data = await thumbnail_bytes(chosen, None if frame is None else index, media_type, params)
    await patient_audit(
        None,
        acting,
        "patient_archive.image",
        TARGET,
        exam_id,
        detail=f"{'original' if original else 'thumbnail'} of study {chosen.study_uid}, "
        f"instance {chosen.sop_uid}, frame {index + 1}; hospital {row['hospital_id']}",
    )
    return media_type, data


async def hospitals() -> list[ArchiveHospital]:
    """The alliance hospitals whose cloud film is on (the proof form's choices)."""
    rows = (
        await Hospital.select(Hospital.id, Hospital.name)
        .where(Hospital.active.eq(True))
        .order_by(Hospital.name)
    )
    return [
        ArchiveHospital(int(r["id"]), r["name"])
        for r in rows
        if await policy.hospital_has_cloud_film(int(r["id"]))
    ]


async def prove(acting: Acting, person_id: int, data: ManualMatch) -> ProofOut:
    """The manual proof for one of her persons (another account's is a 404); the matches
    made, and how many of them are visible now."""
    persons = await persons_of(_account(acting))
    if person_id not in persons:
        await patient_audit(
            None,
            acting,
            "patient_match.manual",
            "patient_person",
            person_id,
            outcome="denied",
            detail="not a person of this account",
        )
        raise NotFound("No such person in your archive (removed, or never added).")
    made = await matching.manual_match(
        acting.ctx, person_id, data, username=f"patient:{_account(acting)}"
    )
    at = now()
    visible = [m.examination_id for m in made if m.visible_at is not None and m.visible_at <= at]
    return ProofOut(matched=len(made), visible=len(visible), examination_ids=visible)
