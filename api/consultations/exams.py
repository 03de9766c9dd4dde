"""Cloud examinations of a consultation (SPEC 3.1, 3.3): found by the patient's ID number or
HIS number among the examinations the applicant may see (``store.examinations``' one rule:
his hospital's and those shared with it), attached in the apply form or later, opened from
the room in the viewer and on the report page.

Who reads an attached examination's images and report is ``store.scoping``'s
(``consultation_exams_sql``): the doctors taking part in the consultation (its participants
and the experts of invited departments that have not declined), exactly the attached
examinations and nothing else of the patient.

Where they are kept: no table links a consultation to its examinations, and issue 14 could
add no migration, so an attachment is a timeline step of the consultation (``exam_attach``,
``exam_detach``, summary ``examination_id``, written by the engine's ``note``) and the
attached set is what those steps leave, in order. A ``consultation_examination`` table
(consultation, examination, added_by, added_at; unique pair) would replace ``attached_ids``
and the subquery in ``store.scoping`` and nothing else.
"""

from __future__ import annotations

from typing import Any

from api.consultations import access
from api.consultations.schemas import ExamIn, ExamRead
from api.consultations.steps import CASE, iso, open_for_editing, record_step
from api.viewer.controllers import viewer_url
from kernel.errors import BadRequest, NotFound, Unauthorized
from kernel.i18n import N_
from store import engine
from store.examinations import examination_clause, get_examination
from store.reads import note
from store.tables import Examination
from store.uow import Actor, Ctx, UnitOfWork, unit_of_work

ATTACH = "exam_attach"
DETACH = "exam_detach"
MAX_EXAMS = 20  # attached to one consultation
SEARCH_LIMIT = 50
REFUSED = N_("Only the applicant and the participants attach examinations to a consultation.")
CLOSED = N_("Examinations cannot be attached to or removed from a consultation that is {state}.")
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
    """The attached examinations, in the order they were attached (see the module's doc)."""
    kept: dict[int, None] = {}
    for row in await engine.timeline(CASE, consultation_id):
        exam_id = row["summary"].get("examination_id")
        if row["event"] == ATTACH and isinstance(exam_id, int):
            kept[exam_id] = None
        elif row["event"] == DETACH and isinstance(exam_id, int):
            kept.pop(exam_id, None)
    return list(kept)


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
    ids = await attached_ids(consultation_id)
    if not ids:
        return []
    rows = await Examination.select(*COLUMNS).where(
        await examination_clause(actor), Examination.id.is_in(ids)
    )
    found = {r["id"]: r for r in rows}
    return [_read(found[i], True) if i in found else ExamRead(id=i, readable=False) for i in ids]


async def checked_ids(actor: Actor, exam_ids: list[int], already: int = 0) -> list[int]:
    """The examinations to attach, each one the actor may see (else 404), each once."""
    unique = list(dict.fromkeys(exam_ids))
    if already + len(unique) > MAX_EXAMS:
        raise BadRequest(
            "At most {max_exams} examinations can be attached to one consultation.",
            max_exams=MAX_EXAMS,
        )
    for exam_id in unique:
        await get_examination(actor, exam_id)
    return unique


async def add(uow: UnitOfWork, consultation_id: int, state: str, exam_ids: list[int]) -> None:
    """Attach checked examinations: one timeline step each, in the caller's transaction."""
    for exam_id in exam_ids:
        await record_step(uow, consultation_id, ATTACH, state, summary={"examination_id": exam_id})
        await uow.audit(
            "consultation.attach_exam", CASE, consultation_id, detail=f"examination {exam_id}"
        )


async def attach(ctx: Ctx, consultation_id: int, data: ExamIn) -> list[ExamRead]:
    actor = _actor(ctx)
    row = await open_for_editing(actor, consultation_id, REFUSED, CLOSED)
    have = await attached_ids(consultation_id)
    new = [i for i in dict.fromkeys(data.examination_ids) if i not in have]
    ids = await checked_ids(actor, new, len(have))
    if ids:
        async with unit_of_work(ctx) as uow:
            await add(uow, consultation_id, row["state"], ids)
    return await examinations(actor, consultation_id)


async def detach(ctx: Ctx, consultation_id: int, exam_id: int) -> list[ExamRead]:
    actor = _actor(ctx)
    row = await open_for_editing(actor, consultation_id, REFUSED, CLOSED)
    if exam_id not in await attached_ids(consultation_id):
        raise NotFound(
            "Examination {exam_id} is not attached to this consultation.", exam_id=exam_id
        )
    async with unit_of_work(ctx) as uow:
        await record_step(
            uow, consultation_id, DETACH, row["state"], summary={"examination_id": exam_id}
        )
        await uow.audit(
            "consultation.detach_exam", CASE, consultation_id, detail=f"examination {exam_id}"
        )
    return await examinations(actor, consultation_id)
