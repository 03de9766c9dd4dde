"""Which examinations are a patient person's (SPEC 10.3, 9.1).

- **Manual proof first.** A person proves one examination is hers (``manual_match``): its
  examination number (accession), or its date and hospital, and the name on it must agree
  with hers. Real-name verification only checks an ID number's form, not whose it is: the
  proof is what shows she is the person the hospital examined. Wrong tries are limited
  (``MANUAL_TRIES`` per person per hour; a success gives its try back), and a refusal
  says what to check without telling whether the number exists under another name.
- **Then automatically**, for a person with a proof (a manual or QR match, even one undone
  since): every examination whose national ID number is hers (``id_number``), or, where the
  hospital allows it (``CloudFilmRule.match_by_phone``), whose phone is her account's and
  whose name agrees (``phone``). A phone shared by several people of the account whose
  names agree, or by several accounts, is ambiguous: no match. An ID number belongs to one
  live verified person at most (the unique index of ``patient_person``).
  ``match_run`` is the migration run's "matched to patient archives" step
  (``flows/migration.py``); ``match_existing(person_id)`` catches up with what is already
  stored (after the first proof, and when a person is verified).
- **Un-matching**: an examination soft-deleted (``unmatch_study``, called by
  ``api.archive.deletion``) or whose ID number or phone was corrected (``rematch``, called
  by ``api.exams.edit``) loses the automatic matches that no longer agree; manual and QR
  matches go with a deletion only. A restored examination is matched again automatically
  (``rematch_study``).
Every match and un-match is one audit row with the examination's hospital, so that hospital
admin's operation log lists them.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, time, timedelta
from typing import Any

from api import ratelimit
from api.patient_archive import policy, visibility
from api.patient_archive.schemas import ManualMatch, MatchRead
from api.ratelimit import Rule as Limit
from kernel.errors import BadRequest, NotFound, TooManyRequests
from kernel.i18n import N_
from store.db import transaction
from store.examinations import split_person_name
from store.tables import CloudFilmRule, Examination, PatientMatch, PatientPerson
from store.timers import keep_timer
from store.uow import Ctx, UnitOfWork, now, unit_of_work, write_audit
from store.zones import hospital_zone

MANUAL, ID_NUMBER, PHONE, QR = "manual", "id_number", "phone", "qr"
PROOFS = (MANUAL, QR)
AUTOMATIC = (ID_NUMBER, PHONE)
MANUAL_TRIES = Limit("patient_match", limit=10, seconds=3600)
CTX = Ctx(user_agent="patient archive matching")
NO_PROOF = N_(
    "Enter the examination number from your examination slip, or the date of the "
    "examination and the hospital."
)
NO_CLOUD_FILM = N_(
    "This hospital has not switched cloud film on: its examinations cannot be added to the archive."
)
NO_AGREEING_EXAM = N_(
    "No examination with this examination number, or on this date at this hospital, "
    "carries the name {name}. Check the number on your examination slip and the name as "
    "the hospital registered it; after {tries} wrong tries in an hour you must wait."
)


# --- normalising what is compared -------------------------------------------------------


def name_key(text: str) -> str:
    """A name as compared: NFKC, case-folded, without spaces, ``^``, dots and hyphens."""
    folded = unicodedata.normalize("NFKC", text or "").casefold()
    return re.sub(r"[\s^·.\-_,，]+", "", folded)


def exam_names(raw_pn: str, shown: str) -> set[str]:
    """Every form of the examination's name a person's name may equal: the DICOM PN's
    alphabetic and ideographic parts ("SUN^LI=孙丽" → "sunli", "孙丽"), and the name the
    list shows (an admin may have corrected it; "孙丽 SUN LI" → each part and the whole)."""
    forms = set(split_person_name(raw_pn or ""))
    forms.add(shown or "")
    forms.update((shown or "").split(" ", 1))
    return {k for k in (name_key(f) for f in forms) if k}


def names_agree(person_name: str, raw_pn: str, shown: str) -> bool:
    key = name_key(person_name)
    return bool(key) and key in exam_names(raw_pn, shown)


def phone_key(text: str) -> str:
    """Digits of a phone number, mainland mobiles with country code 86 (as accounts keep
    them: E.164 without "+")."""
    digits = re.sub(r"\D", "", text or "")
    if len(digits) == 11 and digits.startswith("1"):
        return "86" + digits
    if digits.startswith("0086"):
        return digits[2:]
    return digits


def id_key(text: str) -> str:
    return re.sub(r"\s", "", text or "").upper()


# --- reads --------------------------------------------------------------------------------


async def _exam(exam_id: int) -> dict[str, Any] | None:
    return (
        await Examination.select(
            *Examination.all_columns(), Examination.study.patient_name.as_alias("raw_pn")
        )
        .where(Examination.id == exam_id)
        .first()
    )


async def _person(person_id: int) -> dict[str, Any] | None:
    return (
        await PatientPerson.select(
            *PatientPerson.all_columns(),
            PatientPerson.account.phone.as_alias("phone"),
            PatientPerson.account.active.as_alias("account_active"),
        )
        .where(PatientPerson.id == person_id, PatientPerson.removed_at.is_null())
        .first()
    )


async def has_proof(person_id: int) -> bool:
    return await PatientMatch.exists().where(
        PatientMatch.person == person_id, PatientMatch.how.is_in(list(PROOFS))
    )


async def _live(person_id: int, exam_id: int) -> dict[str, Any] | None:
    return (
        await PatientMatch.select()
        .where(
            PatientMatch.person == person_id,
            PatientMatch.examination == exam_id,
            PatientMatch.unmatched_at.is_null(),
        )
        .first()
    )


def _read(row: dict[str, Any]) -> MatchRead:
    return MatchRead(
        id=row["id"],
        examination_id=row["examination"],
        hospital_id=row["hospital"],
        how=row["how"],
        matched_at=row["matched_at"],
        visible_at=row["visible_at"],
        notified_at=row["notified_at"],
    )


# --- making and undoing matches -----------------------------------------------------------


async def _make(
    uow: UnitOfWork, person_id: int, exam: dict[str, Any], how: str, username: str = ""
) -> int | None:
    """One live match (none when it exists already), its time, its timer, its audit row
    (``username`` the patient's ``patient:<account>`` for her own proof)."""
    if await _live(person_id, int(exam["id"])) is not None:
        return None
    rows = await PatientMatch.insert(
        PatientMatch(
            hospital=exam["hospital"],
            person=person_id,
            examination=exam["id"],
            how=how,
            matched_at=now(),
        )
    ).returning(PatientMatch.id)
    match_id = int(rows[0]["id"])
    at = await visibility.settle(match_id)
    when = at.isoformat() if at else "not yet (cloud film off, or waiting for the review)"
    await uow.audit(
        f"patient_match.{how}",
        visibility.CASE,
        match_id,
        hospital_id=int(exam["hospital"]),
        detail=f"examination {exam['id']} matched to patient person {person_id} by {how}; "
        f"visible: {when}",
        username=username,
    )
    return match_id


async def _phone_candidates(exam: dict[str, Any]) -> list[int]:
    """Proven persons of the accounts with the examination's phone whose name agrees."""
    key = phone_key(exam["patient_phone"])
    if len(key) < 7:
        return []
    rows = await PatientPerson.select(PatientPerson.id, PatientPerson.name).where(
        PatientPerson.account.phone == key,
        PatientPerson.account._.active.eq(True),
        PatientPerson.removed_at.is_null(),
    )
    agreeing = [
        int(r["id"])
        for r in rows
        if names_agree(r["name"], exam.get("raw_pn") or "", exam["patient_name"])
    ]
    return agreeing


async def match_examination(uow: UnitOfWork, exam_id: int) -> int:
    """Match one examination automatically where exactly one proven person fits; returns
    how many matches were made (0 or 1)."""
    exam = await _exam(exam_id)
    if exam is None or exam["deleted_at"] is not None:
        return 0
    number = id_key(exam["patient_id_number"])
    if number:
        person = (
            await PatientPerson.select(PatientPerson.id)
            .where(
                PatientPerson.id_number == number,
                PatientPerson.removed_at.is_null(),
                PatientPerson.account._.active.eq(True),
            )
            .first()
        )
        if person is not None and await has_proof(int(person["id"])):
            return 1 if await _make(uow, int(person["id"]), exam, ID_NUMBER) else 0
        return 0  # the number is nobody's proven one: wait for the manual proof
    default = await policy.stored_default(int(exam["hospital"]))
    if not default or not default["match_by_phone"]:
        return 0
    candidates = await _phone_candidates(exam)
    proven = [p for p in candidates if await has_proof(p)]
    if len(candidates) != 1 or len(proven) != 1:
        return 0  # nobody, or ambiguous: the manual proof decides
    return 1 if await _make(uow, proven[0], exam, PHONE) else 0


async def match_run(run_id: int, study_ids: list[int]) -> int:
    """The migration run's "matched to patient archives" step: each study's examination
    (``record_examinations`` made it just before), matched in its own transaction."""
    made = 0
    rows = await Examination.select(Examination.id).where(Examination.study.is_in(study_ids or [0]))
    for row in rows:
        async with unit_of_work(CTX) as uow:
            made += await match_examination(uow, int(row["id"]))
    return made


async def notify_run(run_id: int, study_ids: list[int]) -> int:
    """The run's "patient notified" step: the notices of matches already visible are
    queued now (their timers claimed), not at the next sweep."""
    rows = await Examination.select(Examination.id).where(Examination.study.is_in(study_ids or [0]))
    async with unit_of_work(CTX) as uow:
        return await visibility.fire_due(uow, [int(r["id"]) for r in rows])


async def match_existing(person_id: int, ctx: Ctx = CTX) -> int:
    """Catch up: the stored examinations of a proven person, by ID number (and phone where
    the hospital allows). Nothing before her first proof. Returns how many were matched."""
    person = await _person(person_id)
    if person is None or not await has_proof(person_id):
        return 0
    ids: set[int] = set()
    by_number = await Examination.select(Examination.id).where(
        Examination.patient_id_number == person["id_number"],
        Examination.deleted_at.is_null(),
    )
    ids.update(int(r["id"]) for r in by_number)
    phones = await Examination.select(Examination.id, Examination.patient_phone).where(
        Examination.patient_phone != "",
        Examination.patient_id_number == "",
        Examination.deleted_at.is_null(),
        Examination.hospital.is_in(await _phone_hospitals()),
    )
    ids.update(int(r["id"]) for r in phones if phone_key(r["patient_phone"]) == person["phone"])
    made = 0
    for exam_id in sorted(ids):
        async with unit_of_work(ctx) as uow:
            made += await match_examination(uow, exam_id)
    return made


async def _phone_hospitals() -> list[int]:
    rows = await CloudFilmRule.select(CloudFilmRule.hospital).where(
        CloudFilmRule.match_by_phone.eq(True)
    )
    return [int(r["hospital"]) for r in rows] or [0]


async def _candidates(data: ManualMatch) -> list[dict[str, Any]]:
    if data.accession_number.strip():
        where: list[Any] = [Examination.accession_number == data.accession_number.strip()]
        if data.hospital_id is not None:
            where.append(Examination.hospital == data.hospital_id)
    elif data.exam_date is not None and data.hospital_id is not None:
        zone = await hospital_zone(data.hospital_id)
        start = datetime.combine(data.exam_date, time(0, 0), tzinfo=zone).astimezone(UTC)
        where = [
            Examination.hospital == data.hospital_id,
            Examination.exam_time >= start,
            Examination.exam_time < start + timedelta(days=1),
        ]
    else:
        raise BadRequest(NO_PROOF)
    rows = (
        await Examination.select(
            *Examination.all_columns(), Examination.study.patient_name.as_alias("raw_pn")
        )
        .where(Examination.deleted_at.is_null(), *where)
        .order_by(Examination.id)
        .limit(50)
    )
    return [r for r in rows if await policy.hospital_has_cloud_film(int(r["hospital"]))]


async def _refuse(
    ctx: Ctx,
    person_id: int,
    why: str,
    hospital_id: int | None,
    username: str = "",
    how: str = MANUAL,
) -> None:
    async with transaction():
        await write_audit(
            ctx,
            f"patient_match.{how}",
            "patient_person",
            person_id,
            outcome="denied",
            detail=why,
            hospital_id=hospital_id,
            username=username or f"patient person {person_id}",
        )


async def manual_match(
    ctx: Ctx, person_id: int, data: ManualMatch, *, username: str = ""
) -> list[MatchRead]:
    """The patient's proof: the examinations that fit and carry her name become hers
    (then everything else of hers is matched automatically); otherwise a refusal that
    changes nothing. ``username`` is the patient realm's ``patient:<account>`` of the audit
    rows (the patient routes pass it)."""
    person = await _person(person_id)
    if person is None or not person["account_active"]:
        raise NotFound("No such person in your archive (removed, or never added).")
    if data.hospital_id is not None and not await policy.hospital_has_cloud_film(data.hospital_id):
        await _refuse(ctx, person_id, "hospital without cloud film", None, username)
        raise BadRequest(NO_CLOUD_FILM)
    if not data.accession_number.strip() and (data.exam_date is None or data.hospital_id is None):
        raise BadRequest(NO_PROOF)  # nothing to check: no try used
    unit = await ratelimit.take(MANUAL_TRIES, str(person_id))
    if not unit.allowed:
        await _refuse(ctx, person_id, "too many wrong tries", None, username)
        raise TooManyRequests(
            "Too many wrong tries to add an examination. Try again in {wait}.",
            wait=ratelimit.wait_words(unit.retry_after),
            extra={"retry_after": unit.retry_after},
            headers={"Retry-After": str(unit.retry_after)},
        )
    found = await _candidates(data)
    agreeing = [
        e for e in found if names_agree(person["name"], e.get("raw_pn") or "", e["patient_name"])
    ]
    if not agreeing:
        why = "no such examination" if not found else "the name does not agree"
        hospital = int(found[0]["hospital"]) if found else None
        await _refuse(ctx, person_id, why, hospital, username)
        raise BadRequest(NO_AGREEING_EXAM, name=person["name"], tries=MANUAL_TRIES.limit)
    await ratelimit.give_back(unit)
    return await _proven(ctx, person_id, agreeing, MANUAL, username)


async def _proven(
    ctx: Ctx, person_id: int, exams: list[dict[str, Any]], how: str, username: str = ""
) -> list[MatchRead]:
    """The proven examinations become hers, then everything else of hers is matched."""
    made: list[int] = []
    async with unit_of_work(ctx) as uow:
        for exam in exams:
            match_id = await _make(uow, person_id, exam, how, username)
            if match_id is None:
                live = await _live(person_id, int(exam["id"]))
                assert live is not None
                match_id = int(live["id"])
            made.append(match_id)
    await match_existing(person_id, ctx)
    rows = await PatientMatch.select().where(PatientMatch.id.is_in(made)).order_by(PatientMatch.id)
    return [_read(r) for r in rows]


async def exam_carries_name(exam_id: int, name: str) -> bool:
    """Does the examination carry this person's name (as ``names_agree`` compares)?"""
    exam = await _exam(exam_id)
    return exam is not None and names_agree(name, exam.get("raw_pn") or "", exam["patient_name"])


async def qr_match(
    ctx: Ctx, person_id: int, exam_id: int, *, username: str = ""
) -> list[MatchRead]:
    """The proof of a scanned report QR code (issue 15 point 8): the caller
    (``api.patient_archive.qr.scan``) has checked the signed single-examination token that
    names ``exam_id``; the name must still agree. ``username`` as for ``manual_match``."""
    person = await _person(person_id)
    if person is None or not person["account_active"]:
        raise NotFound("No such person in your archive (removed, or never added).")
    exam = await _exam(exam_id)
    if exam is None or exam["deleted_at"] is not None:
        raise NotFound("This examination is no longer available.")
    hospital = int(exam["hospital"])
    if not await policy.hospital_has_cloud_film(hospital):
        await _refuse(ctx, person_id, "hospital without cloud film", hospital, username, QR)
        raise BadRequest(NO_CLOUD_FILM, audited=True)
    if not names_agree(person["name"], exam.get("raw_pn") or "", exam["patient_name"]):
        await _refuse(ctx, person_id, "the name does not agree", hospital, username, QR)
        raise BadRequest(
            "The examination of this code does not carry the name {name}: it is not added "
            "to this person's archive.",
            name=person["name"],
            audited=True,
        )
    return await _proven(ctx, person_id, [exam], QR, username)


async def unmatch(uow: UnitOfWork, where: Any, reason: str) -> int:
    """Undo the live matches ``where`` selects: stamped, their timers cancelled, audited."""
    rows = (
        await PatientMatch.update(
            {PatientMatch.unmatched_at: now(), PatientMatch.unmatch_reason: reason[:200]}
        )
        .where(PatientMatch.unmatched_at.is_null(), where)
        .returning(
            PatientMatch.id, PatientMatch.hospital, PatientMatch.person, PatientMatch.examination
        )
    )
    for row in rows:
        await keep_timer(visibility.CASE, int(row["id"]), visibility.TIMER, None)
        await uow.audit(
            "patient_match.unmatch",
            visibility.CASE,
            row["id"],
            hospital_id=int(row["hospital"]),
            detail=f"examination {row['examination']} no longer in the archive of patient "
            f"person {row['person']}: {reason}",
        )
    return len(rows)


async def unmatch_study(uow: UnitOfWork, study_id: int, reason: str) -> int:
    """The study's examination was soft-deleted: every match of it goes."""
    exams = await Examination.select(Examination.id).where(Examination.study == study_id)
    ids = [int(e["id"]) for e in exams]
    return await unmatch(uow, PatientMatch.examination.is_in(ids or [0]), reason) if ids else 0


async def rematch_study(uow: UnitOfWork, study_id: int) -> int:
    """The study's examination was restored: matched again automatically (a manual match
    undone by the deletion waits for a new proof)."""
    exams = await Examination.select(Examination.id).where(Examination.study == study_id)
    return sum([await match_examination(uow, int(e["id"])) for e in exams])


async def rematch(ctx: Ctx, exam_id: int) -> int:
    """The examination's ID number or phone was corrected: the automatic matches that no
    longer agree go, and it is matched again; returns how many were undone."""
    exam = await _exam(exam_id)
    if exam is None:
        return 0
    number, phone = id_key(exam["patient_id_number"]), phone_key(exam["patient_phone"])
    live = await PatientMatch.select(
        PatientMatch.id,
        PatientMatch.how,
        PatientMatch.person.id_number.as_alias("id_number"),
        PatientMatch.person._.account._.phone.as_alias("phone"),
    ).where(
        PatientMatch.examination == exam_id,
        PatientMatch.unmatched_at.is_null(),
        PatientMatch.how.is_in(list(AUTOMATIC)),
    )
    stale = [
        int(m["id"])
        for m in live
        if (m["how"] == ID_NUMBER and m["id_number"] != number)
        or (m["how"] == PHONE and (number or m["phone"] != phone))
    ]
    async with unit_of_work(ctx) as uow:
        undone = (
            await unmatch(
                uow,
                PatientMatch.id.is_in(stale),
                "the examination's patient ID number or phone was corrected",
            )
            if stale
            else 0
        )
        await match_examination(uow, exam_id)
    return undone


async def matches_of(person_id: int) -> list[MatchRead]:
    """A person's live matches (the archive lists the visible ones)."""
    rows = (
        await PatientMatch.select()
        .where(PatientMatch.person == person_id, PatientMatch.unmatched_at.is_null())
        .order_by(PatientMatch.id)
    )
    return [_read(r) for r in rows]
