"""The instance a WADO-RS frame, ``/rendered``, ``/thumbnail`` or bulk-data request names, as
plain SQL (``api.dicomweb.lookup.stored_instance``): the current rows of one SOP Instance UID
in its series and study, whatever their hospital. Who may see which of them is decided by
the caller (the rows carry their hospital, study and the study's deletion mark), which asks
the full scope rule (``store.scoping.images_clause``) for anything but the caller's own."""

from __future__ import annotations

from store.sql import Statement
from store.tables import Instance

# Named as ``api.dicomweb.lookup.STORED_COLUMNS`` through Piccolo's joins name them, ordered
# as ``stored_instances`` orders them.
CURRENT_BY_UIDS = Statement(
    Instance,
    "SELECT instance.id AS id, instance.hospital AS hospital, instance.study AS study,"
    ' study.study_uid AS "study.study_uid", study.tier AS "study.tier",'
    ' study.deleted_at AS "study.deleted_at", series.series_uid AS "series.series_uid",'
    " instance.sop_uid AS sop_uid, instance.sop_class_uid AS sop_class_uid,"
    " instance.transfer_syntax AS transfer_syntax, instance.frames AS frames,"
    " instance.sha256 AS sha256, instance.storage_path AS storage_path"
    " FROM instance"
    " JOIN study ON study.id = instance.study"
    " JOIN series ON series.id = instance.series"
    " WHERE instance.sop_uid = :sop_uid AND study.study_uid = :study_uid"
    " AND series.series_uid = :series_uid AND NOT instance.superseded"
    " ORDER BY series.series_number, instance.series, instance.instance_number, instance.id",
    columns=(
        "id",
        "hospital",
        "study",
        "series",
        "sop_uid",
        "sop_class_uid",
        "transfer_syntax",
        "frames",
        "sha256",
        "storage_path",
        "superseded",
        "instance_number",
    ),
)

STATEMENTS = (CURRENT_BY_UIDS,)
