"""The ``instance`` statements of ingest (``store.imaging_index.Batch``): every stored row of
the batch's SOP Instance UIDs in one query (the current revision of each, and whether a row
already holds a file), the new row (``INSERT … RETURNING``), the superseded one, and the
thumbnail step's decode outcome."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Instance

_OF_SOPS = (
    "SELECT instance.id, instance.sop_uid, instance.sha256, instance.revision,"
    " instance.size_bytes, instance.storage_path, instance.superseded, instance.decode_state"
    " FROM instance WHERE instance.hospital = :hospital AND instance.sop_uid IN ({sops})"
)
OF_SOPS = Statement(
    Instance,
    _OF_SOPS.format(sops="SELECT value FROM json_each(:sops)"),
    columns=(
        "id",
        "sop_uid",
        "sha256",
        "revision",
        "size_bytes",
        "storage_path",
        "superseded",
        "decode_state",
        "hospital",
    ),
    postgres=_OF_SOPS.format(sops="SELECT jsonb_array_elements_text(CAST(:sops AS jsonb))"),
)
HOLDS_FILE = Statement(
    Instance,
    "SELECT instance.id FROM instance WHERE instance.storage_path = :storage_path LIMIT 1",
    columns=("id", "storage_path"),
)
INSERT_COLUMNS = (
    "hospital",
    "study",
    "series",
    "sop_uid",
    "instance_key",
    "sop_class_uid",
    "instance_number",
    "transfer_syntax",
    "rows",
    "columns",
    "frames",
    "bits_allocated",
    "photometric",
    "size_bytes",
    "sha256",
    "storage_path",
    "revision",
    "superseded",
    "migration",
    "created_at",
    "decode_state",
)
INSERT = Statement(
    Instance,
    f"INSERT INTO instance ({', '.join(INSERT_COLUMNS)})"
    f" VALUES ({', '.join(':' + c for c in INSERT_COLUMNS)}) RETURNING id",
    columns=(*INSERT_COLUMNS, "id"),
)
SUPERSEDE = Statement(
    Instance,
    "UPDATE instance SET superseded = TRUE WHERE id = :id",
    columns=("superseded", "id"),
)
STATEMENTS = (OF_SOPS, HOLDS_FILE, INSERT, SUPERSEDE)
