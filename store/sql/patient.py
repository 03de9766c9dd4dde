"""The ``patient`` statements of ingest (``store.imaging_index.Batch``): a patient looked up
by its key once per batch, created when new (``ON CONFLICT DO NOTHING``: another sender may
have won, then it is read again)."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Patient

BY_KEY = Statement(
    Patient,
    "SELECT patient.id FROM patient WHERE patient.patient_key = :patient_key",
    columns=("id", "patient_key"),
)
INSERT = Statement(
    Patient,
    "INSERT INTO patient (hospital, patient_key, issuer, created_at, patient_id, name,"
    " birth_date, sex, id_number, phone)"
    " VALUES (:hospital, :patient_key, :issuer, :created_at, :patient_id, :name,"
    " :birth_date, :sex, :id_number, :phone)"
    " ON CONFLICT (patient_key) DO NOTHING RETURNING id",
    columns=(
        "hospital",
        "patient_key",
        "issuer",
        "created_at",
        "patient_id",
        "name",
        "birth_date",
        "sex",
        "id_number",
        "phone",
        "id",
    ),
)
STATEMENTS = (BY_KEY, INSERT)
