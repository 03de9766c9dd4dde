"""STOW-RS (PS3.18 10.5): a ``multipart/related; type="application/dicom"`` request body,
streamed part by part to temp files under the data folder (never held whole in memory),
the parts ingested inline by ``ingest_files`` (checked in worker threads, indexed in one
transaction per batch) because the response lists every instance's outcome. The run's flow
(thumbnails, billing and the rest) is queued with the run, held while the parts are
ingested and released at the end (``create_run(follow_up=True)``, ``hand_over``).

Response (``application/dicom+json``): ``ReferencedSOPSequence`` for stored instances (a
duplicate of a stored one counts as stored), ``FailedSOPSequence`` with a ``FailureReason``
for the others; 200 when all were stored, 202 when some failed, 409 when none was stored.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from litestar.datastructures import Headers
from python_multipart.multipart import parse_options_header

from api.ingest.multipart import (
    Part,
    UnsupportedMediaType,
    boundary_of,
    check_declared_size,
    read_parts,
)
from api.ingest.receiving import receiving_folder
from api.ingest.steps import (
    ItemResult,
    Received,
    create_run,
    hand_over,
    ingest_files,
)
from kernel.errors import BadRequest
from kernel.settings import get_settings
from store.uow import Ctx

DICOM = "application/dicom"


# PS3.18 Table 10.5.3-2 / PS3.4 C-STORE failure reasons, by our refusal code
FAILURE_REASONS = {
    "too-large": 0xA700,  # out of resources
    "quota": 0xA700,
    "study-mismatch": 0xA900,  # data set does not match (the addressed study)
    "not-an-instance": 0xA900,
    "failed": 0x0110,  # processing failure
}
CANNOT_UNDERSTAND = 0xC000


def _boundary(content_type: str) -> bytes:
    kind, params = parse_options_header(content_type)
    if kind == b"multipart/related":
        part_type = params.get(b"type", DICOM.encode()).decode("latin-1").strip('"').lower()
        if part_type != DICOM:
            raise UnsupportedMediaType(
                "Only {dicom} parts are accepted (the request declares {part_type}); "
                "send the instances as DICOM files, not as metadata with bulk data.",
                dicom=DICOM,
                part_type=part_type,
            )
    boundary, _ = boundary_of(content_type, "multipart/related")
    return boundary


async def store_instances(
    ctx: Ctx,
    hospital_id: int,
    headers: Headers,
    body: AsyncIterator[bytes],
    study_uid: str = "",
    retrieve_root: str = "",
) -> tuple[int, dict[str, Any], int]:
    """Receive, ingest, hand over; returns (HTTP status, response dataset, run id)."""
    async with receiving_folder() as folder:
        limit = get_settings().ingest.max_upload_bytes
        check_declared_size(headers.get("content-length"), limit)
        parts = await read_parts(body, _boundary(headers.get("content-type", "")), folder, limit)
        if not parts:
            raise BadRequest("The request holds no DICOM part.")
        client = headers.get("user-agent", "")[:80]
        run_id = await create_run(
            ctx, hospital_id, "stow", f"STOW-RS {client}".strip(), follow_up=True
        )
        try:
            results = await _ingest_parts(ctx, run_id, parts, study_uid)
        finally:  # whatever was stored goes on to thumbnails and billing now (killed
            await hand_over(ctx, run_id)  # here: the follow-up queued with the run, later)
    return (*response_of(results, study_uid, retrieve_root), run_id)


async def _ingest_parts(
    ctx: Ctx, run_id: int, parts: list[Part], study_uid: str
) -> list[ItemResult]:
    """Each part's outcome, in order. A part the database or the disk fails is reported
    failed (0x0110) instead of failing the request."""
    received = []
    for i, part in enumerate(parts, start=1):
        kind = part.content_type.split(";")[0].strip().lower()
        refused = None
        if kind and kind != DICOM:
            refused = ("not-dicom", f"Part {i} is {part.content_type}, not {DICOM}.")
        received.append(Received(part.path, f"part {i}", refused=refused))
    return await ingest_files(run_id, received, ctx=ctx, study_uid=study_uid, keep_going=True)


def _uid(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def response_of(
    results: list[ItemResult], study_uid: str, retrieve_root: str
) -> tuple[int, dict[str, Any]]:
    stored = [r for r in results if r.ok]
    failed = [r for r in results if not r.ok]
    body: dict[str, Any] = {}
    studies = {r.study_uid for r in stored} | ({study_uid} if study_uid else set())
    if retrieve_root and len(studies) == 1:
        body["00081190"] = {"vr": "UR", "Value": [f"{retrieve_root}/studies/{studies.pop()}"]}
    if failed:
        body["00081198"] = {
            "vr": "SQ",
            "Value": [
                {
                    "00081150": _uid(r.sop_class_uid),
                    "00081155": _uid(r.sop_uid),
                    "00081197": {
                        "vr": "US",
                        "Value": [FAILURE_REASONS.get(r.code, CANNOT_UNDERSTAND)],
                    },
                }
                for r in failed
            ],
        }
    if stored:
        body["00081199"] = {
            "vr": "SQ",
            "Value": [_referenced(r, retrieve_root) for r in stored],
        }
    status = 200 if not failed else (202 if stored else 409)
    return status, body


def _referenced(r: ItemResult, retrieve_root: str) -> dict[str, Any]:
    item: dict[str, Any] = {"00081150": _uid(r.sop_class_uid), "00081155": _uid(r.sop_uid)}
    if retrieve_root:
        url = f"{retrieve_root}/studies/{r.study_uid}/series/{r.series_uid}/instances/{r.sop_uid}"
        item["00081190"] = {"vr": "UR", "Value": [url]}
    return item
