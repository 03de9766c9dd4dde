"""STOW-RS handlers, mounted by ``api/dicomweb/router.py`` (``stow_handlers``); the work is
in ``api/ingest/stow.py``. Authenticated like the rest of DICOMweb (session or bearer
token); a cross-site form cannot send ``multipart/related``, so no CSRF header is needed."""

from __future__ import annotations

import msgspec
from litestar import Request, Response, post

from api.dicomweb.access import actor, base_url, refusals_audited, require_dicomweb_caller
from api.ingest.access import sending_hospital
from api.ingest.stow import store_instances

DICOM_JSON = "application/dicom+json"


@post(
    ["/dicomweb/studies", "/dicomweb/studies/{study:str}"],
    guards=[require_dicomweb_caller],
    request_max_body_size=None,  # api/ingest/stow.py enforces AIMIS_INGEST_MAX_UPLOAD_BYTES
    status_code=200,
    include_in_schema=True,
    summary="STOW-RS: store instances",
)
async def stow_rs(request: Request, study: str | None = None) -> Response[bytes]:
    async with refusals_audited(request) as ctx:
        hospital_id = sending_hospital(actor(request))
        status, body, run_id = await store_instances(
            ctx, hospital_id, request.headers, request.stream(), study or "", base_url(request)
        )
    return Response(
        _json(body),
        status_code=status,
        media_type=DICOM_JSON,
        headers={"X-AIMIS-Migration-Run": str(run_id)},
    )


def _json(body: dict) -> bytes:
    return msgspec.json.encode(body)


stow_handlers = [stow_rs]
