"""The ``series`` statements of ingest (``store.imaging_index.Batch``): the series read once
per batch with whether any instance is filed under it yet (on PostgreSQL its row locked, so
writers of one series take turns before they look up its instances, as SQLite's one writer
does), created when new, and its counters written once per batch."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Series

_FOR_INGEST = (
    "SELECT series.id, EXISTS (SELECT 1 FROM instance WHERE instance.series = series.id)"
    " AS filled FROM series WHERE series.series_key = :series_key"
)
FOR_INGEST = Statement(
    Series,
    _FOR_INGEST,
    columns=("id", "series_key"),
    postgres=_FOR_INGEST + " FOR NO KEY UPDATE OF series",
)
INSERT_COLUMNS = (
    "hospital",
    "study",
    "series_key",
    "series_uid",
    "modality",
    "series_number",
    "description",
    "body_part",
    "performed_start_date",
    "created_at",
)
INSERT = Statement(
    Series,
    f"INSERT INTO series ({', '.join(INSERT_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in INSERT_COLUMNS)})"
    " ON CONFLICT (series_key) DO NOTHING RETURNING id",
    columns=(*INSERT_COLUMNS, "id"),
)
GROW = Statement(
    Series,
    "UPDATE series SET num_instances = num_instances + :count,"
    " size_bytes = size_bytes + :size WHERE id = :id",
    columns=("num_instances", "size_bytes", "id"),
)
STATEMENTS = (FOR_INGEST, INSERT, GROW)
