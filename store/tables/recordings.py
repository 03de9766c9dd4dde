"""Recorded videos (issue 16, point 3): uploaded resumably (tus), processed by a flow into a
stream-friendly MP4 with a poster, played with HTTP Range. A recording belongs to an owner
(``owner_kind``, ``owner_id``: a course today); who may see or upload it is the owner's
module's answer (``api.recordings.access``). Files live under ``<data>/recordings/``; the
paths here are relative to it and never contain a name someone sent."""

from __future__ import annotations

from piccolo import columns as col
from piccolo.table import Table

from store.tables.accounts import Hospital


class Recording(Table):
    """``status``: uploading → processing → ready | failed (``failure_reason`` says why)."""

    id = col.Serial(primary_key=True)
    hospital = col.ForeignKey(Hospital, on_delete=col.OnDelete.restrict, index=True)
    owner_kind = col.Varchar(length=32)
    owner_id = col.Integer(index=True)
    uploader = col.Integer()
    filename = col.Varchar(length=255)
    declared_size = col.BigInt()
    received = col.BigInt(default=0)  # the tus offset: bytes on disk so far
    status = col.Varchar(length=12, default="uploading", index=True)
    failure_reason = col.Text(default="")
    duration_ms = col.Integer(null=True, default=None)  # milliseconds
    width = col.Integer(null=True, default=None)
    height = col.Integer(null=True, default=None)
    video_codec = col.Varchar(length=32, default="")
    audio_codec = col.Varchar(length=32, default="")
    transcoded = col.Boolean(default=False)
    stored_path = col.Varchar(length=200, default="")  # the MP4, under <data>/recordings
    poster_path = col.Varchar(length=200, default="")  # the JPEG, under <data>/recordings
    stored_size = col.BigInt(default=0)
    created_at = col.Timestamptz()
    uploaded_at = col.Timestamptz(null=True, default=None)
    ready_at = col.Timestamptz(null=True, default=None)
    version = col.Integer(default=1)
