"""Cloud examinations of a consultation (SPEC 3.1, 3.3): found by the patient's ID number or
HIS number among the examinations the applicant may see (``store.examinations``' one rule:
his hospital's and those shared with it), attached in the apply form or later, opened from
the room in the viewer and on the report page.

Where they are kept: ``consultation_examination`` (consultation, examination, added_by,
added_at; one row per pair, unique), in the order attached; a detach deletes the row. Each
attach and detach is also a timeline step of the consultation (``exam_attach``,
``exam_detach``, summary ``examination_id``, written by the engine's ``note`` in the same unit
of work as the row), so the room's history shows who attached what and when. Before issue 15
the steps were all there was; migration 2026-12-07T14:00 filled the table from them.

Limits: at most ``MAX_EXAMS`` examinations a consultation, also when many attach at once: the
count is taken in the write's transaction with the consultation's row locked (PostgreSQL
``FOR UPDATE``; SQLite has one writer at a time), where the case's state is checked again.
Attaching one that is attached already is refused (409) and changes nothing. A deleted
examination does not count (it is not in the room); restored, it may bring the room past
the limit, which only stops new attachments.

Who reads an attached examination's images and report is ``store.scoping``'s
(``consultation_exams_sql``): the doctors taking part in the consultation (its participants,
the applicant among them, and the expert named on each invitation whose department has not
declined), exactly the attached examinations and nothing else of the patient, until it is
withdrawn, rejected or cancelled. A department invited without a named expert gives its
doctors nothing: its reviewers see the case to decide, and read its examinations once they
join ("agree and join") or are named its expert (SPEC 3.2).

A soft-deleted examination (SPEC 8.11) leaves the room for everyone and its images are no
longer read through the attachment (``ConsultationExamination`` is in
``store.scoping.DELETED_BY``); its row stays, so a restore brings it back where it was.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg

from api.consultations import access
from api.consultations.schemas import ExamIn, ExamRead
from api.consultations.steps import CASE, OPEN_STATES, iso, open_for_editing, record_step
from api.viewer.controllers import viewer_url
from kernel.errors import BadRequest, Conflict, NotFound, Unauthorized
from kernel.i18n import N_, Msg
from kernel.settings import get_settings
from store.examinations import examination_clause, get_examination
from store.reads import note
from store.scoping import not_deleted
from store.tables import Consultation, ConsultationExamination, Examination
from store.uow import Actor, Ctx, UnitOfWork, now, unit_of_work

ATTACH = "exam_attach"
DETACH = "exam_detach"
MAX_EXAMS = 20  # attached to one consultation
SEARCH_LIMIT = 50
REFUSED = N_("Only the applicant and the participants attach examinations to a consultation.")
CLOSED = N_("Examinations cannot be attached to or removed from a consultation that is {state}.")
ALREADY = N_("Examination {exam_id} is attached to this consultation already.")
COLUMNS = (
    Examination.id,
    Examination.hospital.name,
    Examination.exam_time,
    Examination.device_type,
    Examination.body_part,
    Examination.check_item_name,
    Examination.accession_number,
    Examination.status,
    Examination.patient_name,
    Examination.study,
    Examination.study.study_uid,
)


def _actor(ctx: Ctx) -> Actor:
    if ctx.actor is None:
        raise Unauthorized("Please log in; your session is missing or has expired.")
    return ctx.actor


def _read(row: dict[str, Any], attached: bool) -> ExamRead:
    uid, study = row["study.study_uid"], row["study"]
    return ExamRead(
        id=row["id"],
        readable=True,
        hospital_name=row["hospital.name"] or "",
        exam_time=iso(row["exam_time"]),
        device_type=row["device_type"],
        body_part=row["body_part"],
        check_item_name=row["check_item_name"],
        accession_number=row["accession_number"],
        status=row["status"],
        patient_name=row["patient_name"],
        viewer_url=viewer_url([uid]) if uid else "",
        mobile_url=f"/studies/{study}/mobile" if study else "",
        report_url=f"/exams/{row['id']}/report",
        attached=attached,
    )


async def attached_ids(consultation_id: int) -> list[int]:
    """The attached examinations that are not deleted, in the order they were attached."""
    rows = (
        await ConsultationExamination.select(ConsultationExamination.examination)
        .where(
            ConsultationExamination.consultation == consultation_id,
            not_deleted(ConsultationExamination),
        )
        .order_by(ConsultationExamination.id)
    )
    return [int(r["examination"]) for r in rows]


async def search(
    actor: Actor, id_number: str = "", his_number: str = "", consultation_id: int | None = None
) -> list[ExamRead]:
    """The patient's examinations the actor may see, newest first; with ``consultation_id``
    (one he takes part in) each says whether it is attached to it already."""
    idn, his = id_number.strip().upper()[:32], his_number.strip()[:64]
    if not idn and not his:
        raise BadRequest(
            "Enter the patient's ID number or HIS number to find the examinations.",
        )
    attached: set[int] = set()
    if consultation_id is not None:
        await access.involvement(actor, consultation_id)
        attached = set(await attached_ids(consultation_id))
    by = [(Examination.patient_id_number, idn), (Examination.patient_his_number, his)]
    which: Any = None
    for column, value in by:
        if value:
            which = column == value if which is None else which | (column == value)
    rows = (
        await Examination.select(*COLUMNS)
        .where(await examination_clause(actor), which)
        .order_by(Examination.exam_time, ascending=False)
        .limit(SEARCH_LIMIT)
    )
    note(detail=f"examinations of ID number {idn or '-'} / HIS number {his or '-'}")
    return [_read(r, r["id"] in attached) for r in rows]


async def examinations(actor: Actor, consultation_id: int) -> list[ExamRead]:
    """The room's cloud examinations: those the reader may open in full, the others by id."""
    return await attached_reads(actor, await attached_ids(consultation_id))


async def attached_reads(actor: Actor, ids: list[int]) -> list[ExamRead]:
    """Attached examinations ``ids`` (a consultation's or a ward round's) in their order:
    those the reader may open in full, the others by id."""
    if not ids:
        return []
    rows = await Examination.select(*COLUMNS).where(
        await examination_clause(actor), Examination.id.is_in(ids)
    )
    found = {r["id"]: r for r in rows}
    return [_read(found[i], True) if i in found else ExamRead(id=i, readable=False) for i in ids]


def check_limit(total: int) -> None:
    if total > MAX_EXAMS:
        raise BadRequest(
            "At most {max_exams} examinations can be attached to one consultation.",
            max_exams=MAX_EXAMS,
        )


async def checked_ids(actor: Actor, exam_ids: list[int]) -> list[int]:
    """The examinations to attach, each one the actor may see (else 404), each once."""
    unique = list(dict.fromkeys(exam_ids))
    check_limit(len(unique))
    for exam_id in unique:
        await get_examination(actor, exam_id)
    return unique


async def _locked_state(consultation_id: int) -> str:
    """The consultation's state, its row locked until the transaction ends (PostgreSQL; on
    SQLite the transaction is the only writer already), so concurrent attaches count one
    after the other; 409 when it is no longer open."""
    lock = " FOR UPDATE" if get_settings().is_postgres else ""
    rows = await Consultation.raw(
        f"SELECT state FROM consultation WHERE id = {{}}{lock}", consultation_id
    )
    state = str(rows[0]["state"])
    if state not in OPEN_STATES:
        raise Conflict(CLOSED, state=Msg(state, context="consultation state"))
    return state


async def add(
    uow: UnitOfWork, consultation_id: int, state: str, exam_ids: list[int], added_by: int
) -> None:
    """Attach checked examinations in the caller's transaction: per examination its row,
    its timeline step and its audit row. The consultation's row must be locked (``attach``)
    or new (the apply form)."""
    for exam_id in exam_ids:
        try:
            await ConsultationExamination.insert(
                ConsultationExamination(
                    consultation=consultation_id,
                    examination=exam_id,
                    added_by=added_by,
                    added_at=now(),
                )
            )
        except (sqlite3.IntegrityError, asyncpg.UniqueViolationError):
            raise Conflict(ALREADY, exam_id=exam_id) from None
        await record_step(uow, consultation_id, ATTACH, state, summary={"examination_id": exam_id})
        await uow.audit(
            "consultation.attach_exam", CASE, consultation_id, detail=f"examination {exam_id}"
        )


async def attach(ctx: Ctx, consultation_id: int, data: ExamIn) -> list[ExamRead]:
    actor = _actor(ctx)
    await open_for_editing(actor, consultation_id, REFUSED, CLOSED)
    wanted = list(dict.fromkeys(data.examination_ids))
    await checked_ids(actor, wanted)
    async with unit_of_work(ctx) as uow:
        state = await _locked_state(consultation_id)
        rows = await ConsultationExamination.select(
            ConsultationExamination.examination, ConsultationExamination.examination.deleted_at
        ).where(ConsultationExamination.consultation == consultation_id)
        there = {int(r["examination"]) for r in rows}
        for exam_id in wanted:
            if exam_id in there:
                raise Conflict(ALREADY, exam_id=exam_id)
        live = sum(1 for r in rows if r["examination.deleted_at"] is None)
        check_limit(live + len(wanted))
        await add(uow, consultation_id, state, wanted, actor.user_id)
    return await examinations(actor, consultation_id)


async def detach(ctx: Ctx, consultation_id: int, exam_id: int) -> list[ExamRead]:
    actor = _actor(ctx)
    await open_for_editing(actor, consultation_id, REFUSED, CLOSED)
    async with unit_of_work(ctx) as uow:
        state = await _locked_state(consultation_id)
        if exam_id not in await attached_ids(consultation_id):
            raise NotFound(
                "Examination {exam_id} is not attached to this consultation.", exam_id=exam_id
            )
        await ConsultationExamination.delete().where(
            ConsultationExamination.consultation == consultation_id,
            ConsultationExamination.examination == exam_id,
        )
        await record_step(uow, consultation_id, DETACH, state, summary={"examination_id": exam_id})
        await uow.audit(
            "consultation.detach_exam", CASE, consultation_id, detail=f"examination {exam_id}"
        )
    return await examinations(actor, consultation_id)
