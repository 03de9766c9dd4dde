"""DICOM to index rows: the patient, study, series and instance rows ingest writes (also used
by ``bench.aimis_setup``'s bulk fill), and the upserts of the first three by their ``*_key``
column (``INSERT … ON CONFLICT DO NOTHING``, then read back: another sender may have won)."""

from __future__ import annotations

from datetime import date
from typing import Any, Protocol

from pydicom.dataset import Dataset

from imaging.read import ParsedInstance
from kernel.id_numbers import normalised
from kernel.priority import from_dicom
from store.tables import Instance, Patient, Series, Study


class Stored(Protocol):
    """A file as stored: its size, its SHA-256 and its path under the online folder."""

    size: int
    sha: str
    storage_path: str


def text_of(ds: Dataset, keyword: str, limit: int) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        value = "\\".join(str(v) for v in value)
    return str(value).strip()[:limit]


def int_of(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return None if value in (None, "") else int(value)
    except (TypeError, ValueError):
        return None


PRIORITY_KEYWORDS = ("RequestedProcedurePriority", "ScheduledProcedureStepPriority")


def priority_of(ds: Dataset) -> int:
    """The priority the file states (``kernel.priority.from_dicom``): Requested Procedure
    Priority (0040,1003) or Scheduled Procedure Step Priority (0074,1200), at the top level
    or in an item of the Request Attributes Sequence (0040,0275); STAT → emergency, HIGH →
    urgent, else routine. A malformed sequence counts as none."""
    values = [text_of(ds, k, 16) for k in PRIORITY_KEYWORDS]
    try:
        for item in ds.get("RequestAttributesSequence") or []:
            values += [text_of(item, k, 16) for k in PRIORITY_KEYWORDS]
    except (TypeError, ValueError, AttributeError):
        pass
    return from_dicom(*values)


def merge_values(existing: str, new: str, limit: int) -> str:
    values = {v for v in existing.split("\\") if v}
    if new:
        values.add(new)
    return "\\".join(sorted(values))[:limit]


async def _insert_or_get(table: Any, key_column: Any, key: str, row: Any) -> int:
    await table.insert(row).on_conflict(target=key_column, action="DO NOTHING")
    found = await table.select(table._meta.primary_key).where(key_column == key).first()
    return int(found["id"])


def patient_key(hospital_id: int, ds: Dataset) -> str:
    pid = text_of(ds, "PatientID", 64)
    issuer = text_of(ds, "IssuerOfPatientID", 64)
    return f"{hospital_id}:{issuer}:{pid}"[:200]


async def upsert_patient(hospital_id: int, ds: Dataset, at: Any) -> int:
    key = patient_key(hospital_id, ds)
    existing = await Patient.select(Patient.id).where(Patient.patient_key == key).first()
    if existing:
        return int(existing["id"])
    return await _insert_or_get(Patient, Patient.patient_key, key, patient_row(hospital_id, ds, at))


async def upsert_study(
    hospital_id: int,
    patient_id: int,
    study_uid: str,
    ds: Dataset,
    at: Any,
    known: dict[str, Any],
) -> int:
    """The study's id; its modalities and body parts gain this file's. ``known``: the rows
    this batch has seen (key → id, modalities, body parts), so a batch reads each once."""
    key = f"{hospital_id}:{study_uid}"
    modality = text_of(ds, "Modality", 16)
    body_part = text_of(ds, "BodyPartExamined", 64)
    existing = known.get(key)
    if existing is None:
        existing = (
            await Study.select(Study.id, Study.modalities, Study.body_parts, Study.priority)
            .where(Study.study_key == key)
            .first()
        )
    if existing:
        modalities = merge_values(existing["modalities"], modality, 100)
        body_parts = merge_values(existing["body_parts"], body_part, 200)
        level = max(int(existing["priority"]), priority_of(ds))  # the highest a file states
        if (modalities, body_parts, level) != (
            existing["modalities"],
            existing["body_parts"],
            existing["priority"],
        ):
            await Study.update(
                {Study.modalities: modalities, Study.body_parts: body_parts, Study.priority: level}
            ).where(Study.id == existing["id"])
        known[key] = {
            "id": existing["id"],
            "modalities": modalities,
            "body_parts": body_parts,
            "priority": level,
        }
        return int(existing["id"])
    study_id = await _insert_or_get(
        Study, Study.study_key, key, study_row(hospital_id, patient_id, study_uid, ds, at)
    )
    return study_id  # read again by the batch's next file (another sender may have won)


async def upsert_series(
    hospital_id: int, study_id: int, series_uid: str, ds: Dataset, at: Any
) -> int:
    key = f"{hospital_id}:{series_uid}"
    existing = await Series.select(Series.id).where(Series.series_key == key).first()
    if existing:
        return int(existing["id"])
    return await _insert_or_get(
        Series, Series.series_key, key, series_row(hospital_id, study_id, series_uid, ds, at)
    )


# --- the rows ingest writes (also used by bench.aimis_setup's bulk fill) ---------------------


def _patient_of(ds: Dataset) -> dict[str, str]:
    """The patient's attributes as the file states them (one truncation rule for the patient
    row and the copy on each study)."""
    return {
        "patient_id": text_of(ds, "PatientID", 64),
        "name": text_of(ds, "PatientName", 200),
        "birth_date": text_of(ds, "PatientBirthDate", 8),
        "sex": text_of(ds, "PatientSex", 4),
    }


def national_id_of(ds: Dataset) -> str:
    """The patient's national ID number when the file carries one among its identifiers
    (Other Patient IDs Sequence, Other Patient IDs, the Patient ID itself): the first
    value that is a well-formed resident identity card number (check digit, real date)."""
    values = [str(item.get("PatientID", "")) for item in ds.get("OtherPatientIDsSequence") or []]
    values += text_of(ds, "OtherPatientIDs", 640).split("\\")
    values.append(text_of(ds, "PatientID", 64))
    today = date.today()
    return next((n for n in (normalised(v, today) for v in values if v.strip()) if n), "")


def patient_row(hospital_id: int, ds: Dataset, at: Any) -> Patient:
    patient = _patient_of(ds)
    return Patient(
        hospital=hospital_id,
        patient_key=patient_key(hospital_id, ds),
        issuer=text_of(ds, "IssuerOfPatientID", 64),
        created_at=at,
        patient_id=patient["patient_id"],
        name=patient["name"],
        birth_date=patient["birth_date"],
        sex=patient["sex"],
        id_number=national_id_of(ds),
        phone=text_of(ds, "PatientTelephoneNumbers", 32).split("\\")[0],
    )


def study_row(hospital_id: int, patient_id: int, study_uid: str, ds: Dataset, at: Any) -> Study:
    """A new study row: the patient's attributes are copied onto it (QIDO answers from it)."""
    patient = _patient_of(ds)
    return Study(
        hospital=hospital_id,
        patient=patient_id,
        study_key=f"{hospital_id}:{study_uid}",
        study_uid=study_uid,
        study_date=text_of(ds, "StudyDate", 8),
        study_time=text_of(ds, "StudyTime", 16),
        accession_number=text_of(ds, "AccessionNumber", 64),
        study_id=text_of(ds, "StudyID", 16),
        description=text_of(ds, "StudyDescription", 200),
        referring_physician=text_of(ds, "ReferringPhysicianName", 200),
        institution=text_of(ds, "InstitutionName", 200),
        modalities=text_of(ds, "Modality", 16),
        body_parts=text_of(ds, "BodyPartExamined", 64),
        priority=priority_of(ds),
        patient_id=patient["patient_id"],
        patient_name=patient["name"],
        patient_name_search=patient["name"].upper(),
        patient_birth_date=patient["birth_date"],
        patient_sex=patient["sex"],
        created_at=at,
        updated_at=at,
    )


def series_row(hospital_id: int, study_id: int, series_uid: str, ds: Dataset, at: Any) -> Series:
    return Series(
        hospital=hospital_id,
        study=study_id,
        series_key=f"{hospital_id}:{series_uid}",
        series_uid=series_uid,
        modality=text_of(ds, "Modality", 16),
        series_number=int_of(ds, "SeriesNumber"),
        description=text_of(ds, "SeriesDescription", 200),
        body_part=text_of(ds, "BodyPartExamined", 64),
        performed_start_date=(
            text_of(ds, "PerformedProcedureStepStartDate", 8) or text_of(ds, "SeriesDate", 8)
        ),
        created_at=at,
    )


def instance_row(
    hospital_id: int,
    study_id: int,
    series_id: int,
    parsed: ParsedInstance,
    stored: Stored,
    *,
    revision: int,
    run_id: int,
    at: Any,
) -> Instance:
    sop, pixels = parsed.sop_instance_uid, parsed.pixels
    return Instance(
        hospital=hospital_id,
        study=study_id,
        series=series_id,
        sop_uid=sop,
        instance_key=f"{hospital_id}:{sop}:{revision}",
        sop_class_uid=parsed.sop_class_uid[:64],
        instance_number=int_of(parsed.dataset, "InstanceNumber"),
        transfer_syntax=str(parsed.transfer_syntax_uid)[:64],
        rows=pixels.rows if pixels else None,
        columns=pixels.columns if pixels else None,
        frames=pixels.frames if pixels else 0,
        bits_allocated=pixels.bits_allocated if pixels else None,
        photometric=(pixels.photometric_interpretation if pixels else "")[:20],
        size_bytes=stored.size,
        sha256=stored.sha,
        storage_path=stored.storage_path,
        revision=revision,
        superseded=False,
        migration=run_id,
        created_at=at,
        # decoded later by the run's thumbnail step (ingest checks the structure only)
        decode_state="pending" if pixels else "ok",
    )
