"""Real-name verification and family (SPEC 10.2).

The account holder verifies herself (``relationship`` "self", once) and up to
``AIMIS_PATIENT_FAMILY_MAX`` family members, each by name and national ID number
(``kernel.id_numbers``). A verified number belongs to one live person only, across all
accounts: the unique index over the rows not removed decides between two concurrent
claims (one wins, the other is a 409). A removed member keeps his row (``removed_at``) for
the audit; his number is free again.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from api.crud import unique_or_conflict
from api.patient_archive import matching
from api.patients.realm import Acting, Patient, patient_audit
from api.patients.schemas import AccountOut, PersonIn, PersonOut
from kernel import id_numbers
from kernel.errors import BadRequest, Conflict, NotFound
from kernel.settings import get_settings
from store.tables import PatientAccount, PatientPerson
from store.uow import now, unit_of_work

RELATIONSHIPS = ("self", "spouse", "father", "mother", "child", "other")
NAME = re.compile(r"[\u4e00-\u9fffA-Za-z][\u4e00-\u9fffA-Za-z·.\- ]{0,49}")


def local_today() -> date:
    """Today where the platform runs (``AIMIS_TIME_ZONE``): no birth date may pass it."""
    return datetime.now(ZoneInfo(get_settings().server.time_zone)).date()


def masked_id(number: str) -> str:
    """``110105********123X``: what a page shows of an ID number."""
    return f"{number[:6]}{'*' * (len(number) - 10)}{number[-4:]}"


def _person_out(row: dict) -> PersonOut:
    return PersonOut(
        id=row["id"],
        relationship=row["relationship"],
        name=row["name"],
        id_number=masked_id(row["id_number"]),
        birth_date=row["birth_date"].isoformat() if row["birth_date"] else "",
        sex=row["sex"],
        verified_at=row["verified_at"].isoformat(),
    )


async def live_persons(account_id: int) -> list[dict]:
    return (
        await PatientPerson.select()
        .where(PatientPerson.account == account_id, PatientPerson.removed_at.is_null())
        .order_by(PatientPerson.id)
    )


async def account(patient: Patient) -> AccountOut:
    row = await PatientAccount.select().where(PatientAccount.id == patient.account_id).first()
    if row is None:
        raise NotFound("This patient account no longer exists.")
    persons = [_person_out(p) for p in await live_persons(patient.account_id)]
    return AccountOut(
        id=row["id"],
        phone=f"{row['phone'][2:5]}****{row['phone'][-4:]}",
        language=row["language"],
        notify_opt_out=row["notify_opt_out"],
        wechat_bound=bool(row["wechat_openid"]),
        persons=persons,
        family_max=get_settings().patient.family_max,
    )


def _checked(data: PersonIn) -> tuple[str, str, id_numbers.IdNumber]:
    relationship = data.relationship.strip()
    if relationship not in RELATIONSHIPS:
        raise BadRequest("The relationship is one of: {choices}.", choices=", ".join(RELATIONSHIPS))
    name = re.sub(r"\s+", " ", data.name.strip())
    if not NAME.fullmatch(name):
        raise BadRequest(
            "Enter the name as on the ID card: 1–50 Chinese characters or letters "
            "(· . - and spaces allowed inside)."
        )
    try:
        number = id_numbers.parse(data.id_number, local_today())
    except id_numbers.IdProblem as problem:
        raise BadRequest(problem.message, **problem.params) from None
    return relationship, name, number


async def _taken(acting: Acting, refusal: Conflict, note: str) -> Conflict:
    """Audit a claim of a number someone else verified; the refusal to raise."""
    await patient_audit(
        None, acting, "patient.verify", "patient_person", outcome="denied", detail=note
    )
    return refusal


async def add_person(acting: Acting, data: PersonIn) -> PersonOut:
    """Verify a person for the account: herself ("self") or a family member."""
    patient = acting.patient
    assert patient is not None
    try:
        relationship, name, number = _checked(data)
    except BadRequest as refusal:
        await patient_audit(
            None,
            acting,
            "patient.verify",
            "patient_person",
            outcome="failure",
            detail=refusal.message,
        )
        raise BadRequest(refusal.template, audited=True, **refusal.params) from None
    persons = await live_persons(patient.account_id)
    if relationship == "self" and any(p["relationship"] == "self" for p in persons):
        raise BadRequest("Your own name is already verified.")
    family = [p for p in persons if p["relationship"] != "self"]
    limit = get_settings().patient.family_max
    if relationship != "self" and len(family) >= limit:
        raise BadRequest(
            "An account may verify at most {limit} family members; remove one first.",
            limit=limit,
        )
    taken = Conflict(
        "This ID number is already verified for a person. Each ID number belongs to one "
        "verified person only; if it is yours, ask the hospital for help.",
        audited=True,
    )
    if await PatientPerson.exists().where(
        PatientPerson.id_number == number.number, PatientPerson.removed_at.is_null()
    ):
        raise await _taken(acting, taken, "ID number already verified")
    at = now()
    try:
        async with unique_or_conflict(taken.template), unit_of_work(acting.ctx) as uow:
            row = await PatientPerson.insert(
                PatientPerson(
                    account=patient.account_id,
                    relationship=relationship,
                    name=name,
                    id_number=number.number,
                    birth_date=number.birth_date,
                    sex=number.sex,
                    verified_at=at,
                    created_at=at,
                )
            ).returning(PatientPerson.id)
            person_id = int(row[0]["id"])
            await patient_audit(
                uow,
                acting,
                "patient.verify",
                "patient_person",
                person_id,
                detail=f"{relationship} {masked_id(number.number)}",
            )
    except Conflict:
        raise await _taken(acting, taken, "ID number already verified (concurrent)") from None
    await matching.match_existing(person_id, acting.ctx)  # nothing before her first proof
    created = await PatientPerson.select().where(PatientPerson.id == person_id).first()
    assert created is not None
    return _person_out(created)


async def remove_person(acting: Acting, person_id: int) -> None:
    """Remove a family member (never the account holder herself)."""
    patient = acting.patient
    assert patient is not None
    row = (
        await PatientPerson.select(PatientPerson.relationship)
        .where(
            PatientPerson.id == person_id,
            PatientPerson.account == patient.account_id,
            PatientPerson.removed_at.is_null(),
        )
        .first()
    )
    if row is None:
        raise NotFound("No family member {id} on your account.", id=person_id)
    if row["relationship"] == "self":
        raise BadRequest("Your own verification cannot be removed; only family members can.")
    async with unit_of_work(acting.ctx) as uow:
        removed = (
            await PatientPerson.update({PatientPerson.removed_at: now()})
            .where(PatientPerson.id == person_id, PatientPerson.removed_at.is_null())
            .returning(PatientPerson.id)
        )
        if not removed:
            raise NotFound("No family member {id} on your account.", id=person_id)
        await patient_audit(uow, acting, "patient.family_remove", "patient_person", person_id)


async def has_self(account_id: int) -> bool:
    return bool(
        await PatientPerson.exists().where(
            PatientPerson.account == account_id,
            PatientPerson.relationship == "self",
            PatientPerson.removed_at.is_null(),
        )
    )
