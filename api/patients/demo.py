"""The demo's patient (issue 15): an account whose holder and one family member are the
people of two demo hospitals' synthetic examinations, so that matching (cloud film) has
someone to match and a new user can log in at ``/patient/login``.

The phone is ``DEMO_PHONE``; its login code appears in the ``aimis up`` console (the log
channel). The two people are verified with synthetic ID numbers (region 110105, a sequence
chosen so; GB 11643's check character) built from the examinations' birth dates and sexes,
and those examinations (and their patients) get the same number where they had none, as a
hospital's HIS would send it. Without demo studies, two fixed people stand in. Idempotent.
"""

from __future__ import annotations

from datetime import date

from kernel import id_numbers
from store.db import transaction
from store.tables import Examination, ExamReport, Patient, PatientAccount, PatientPerson
from store.uow import now

DEMO_PHONE = "13900000001"
REGION = "110105"
# (hospital code, relationship, fallback name, birth date, sex) without demo studies
PEOPLE = [
    ("CITY", "self", "张丽", date(1986, 5, 12), "F"),
    ("EAST", "father", "张建国", date(1956, 9, 3), "M"),
]


def _given_name(shown: str, fallback: str) -> str:
    """The name as on the ID card from an examination's shown name ("王伟 WANG WEI": the
    ideographic form first when there is one)."""
    first = shown.split(" ", 1)[0]
    name = first if first and "\u4e00" <= first[0] <= "\u9fff" else shown.strip()
    return name[:50] or fallback


async def _person_of(hospital_id: int | None) -> dict | None:
    """The patient of the hospital's first examination with a reviewed report (so that
    the demo archive shows a report under City's "after review" rule), else of its first."""
    if hospital_id is None:
        return None
    query = Examination.select(
        Examination.patient_id,
        Examination.patient_sex,
        Examination.patient_birth_date,
        Examination.patient_name,
    ).where(Examination.hospital == hospital_id, Examination.patient_birth_date != "")
    reviewed = await ExamReport.select(ExamReport.examination).where(
        ExamReport.examination._.hospital == hospital_id, ExamReport.state == "reviewed"
    )
    ids = [int(r["examination"]) for r in reviewed]
    first = (
        await query.where(Examination.id.is_in(ids)).order_by(Examination.id).first()
        if ids
        else None
    )
    return first or await query.order_by(Examination.id).first()


def _birth(text: str, fallback: date) -> date:
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:8]))
    except (ValueError, IndexError):
        return fallback


async def load_demo_patient(hospital_ids: dict[str, int]) -> None:
    phone = f"86{DEMO_PHONE}"
    if await PatientAccount.exists().where(PatientAccount.phone == phone):
        return
    at = now()
    async with transaction():
        row = await PatientAccount.insert(
            PatientAccount(phone=phone, display_name="Demo patient", created_at=at)
        ).returning(PatientAccount.id)
        account_id = int(row[0]["id"])
        for n, (code, relationship, fallback, born_fallback, sex_fallback) in enumerate(PEOPLE):
            exam = await _person_of(hospital_ids.get(code))
            sex = (exam["patient_sex"] if exam else "") or sex_fallback
            born = _birth(exam["patient_birth_date"], born_fallback) if exam else born_fallback
            if relationship != "self":
                relationship = "father" if sex == "M" else "mother"
            sequence = 2 * (40 + n) + (1 if sex == "M" else 0)
            number = id_numbers.synthetic(REGION, born, sequence)
            name = _given_name(exam["patient_name"] or "", fallback) if exam else fallback
            await PatientPerson.insert(
                PatientPerson(
                    account=account_id,
                    relationship=relationship,
                    name=name,
                    id_number=number,
                    birth_date=born,
                    sex=sex,
                    verified_at=at,
                    created_at=at,
                )
            )
            if exam:
                hospital = hospital_ids[code]
                await Examination.update({Examination.patient_id_number: number}).where(
                    Examination.hospital == hospital,
                    Examination.patient_id == exam["patient_id"],
                    Examination.patient_id_number == "",
                )
                await Patient.update({Patient.id_number: number}).where(
                    Patient.hospital == hospital,
                    Patient.patient_id == exam["patient_id"],
                    Patient.id_number == "",
                )
