"""The ``study`` statements of ingest (``store.imaging_index.Batch``): the study read once per
batch (its tier decides whether files may join it; on PostgreSQL the row is locked, so two
batches of one study merge its modalities in turn), created when new, and everything the
batch changed written back in one ``UPDATE`` (modalities, body parts, priority, counters)."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Study

_FOR_INGEST = (
    "SELECT study.id, study.modalities, study.body_parts, study.priority, study.tier"
    " FROM study WHERE study.study_key = :study_key"
)
FOR_INGEST = Statement(
    Study,
    _FOR_INGEST,
    columns=("id", "modalities", "body_parts", "priority", "tier", "study_key"),
    postgres=_FOR_INGEST + " FOR NO KEY UPDATE",
)
TIERS = Statement(
    Study,
    "SELECT study.study_key, study.tier FROM study"
    " WHERE study.study_key IN (SELECT value FROM json_each(:keys))",
    columns=("study_key", "tier"),
    postgres="SELECT study.study_key, study.tier FROM study"
    " WHERE study.study_key IN (SELECT jsonb_array_elements_text(CAST(:keys AS jsonb)))",
)
INSERT_COLUMNS = (
    "hospital",
    "patient",
    "study_key",
    "study_uid",
    "study_date",
    "study_time",
    "accession_number",
    "study_id",
    "description",
    "referring_physician",
    "institution",
    "modalities",
    "body_parts",
    "priority",
    "patient_id",
    "patient_name",
    "patient_name_search",
    "patient_birth_date",
    "patient_sex",
    "created_at",
    "updated_at",
)
INSERT = Statement(
    Study,
    f"INSERT INTO study ({', '.join(INSERT_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in INSERT_COLUMNS)})"
    " ON CONFLICT (study_key) DO NOTHING RETURNING id",
    columns=(*INSERT_COLUMNS, "id"),
)
_GROW = (
    "UPDATE study SET modalities = :modalities, body_parts = :body_parts,"
    " priority = :priority, num_instances = num_instances + :count,"
    " num_series = num_series + :new_series, size_bytes = size_bytes + :size,"
    " undecodable = undecodable + :undecodable,"
    " updated_at = CASE WHEN :touched = 1 THEN {at} ELSE updated_at END WHERE id = :id"
)
GROW = Statement(
    Study,
    _GROW.format(at=":at"),
    columns=(
        "modalities",
        "body_parts",
        "priority",
        "num_instances",
        "num_series",
        "size_bytes",
        "undecodable",
        "updated_at",
        "id",
    ),
    postgres=_GROW.format(at="CAST(:at AS timestamptz)"),
)
FLAG_UNDECODABLE = Statement(
    Study,
    "UPDATE study SET undecodable = undecodable + 1 WHERE id = :id",
    columns=("undecodable", "id"),
)
STATEMENTS = (FOR_INGEST, TIERS, INSERT, GROW, FLAG_UNDECODABLE)
