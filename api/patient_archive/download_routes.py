"""The original images' download (SPEC 10.6, ``downloads``): the security code and the link
are the patient realm's (``require_patient``); the link itself, ``GET
/api/patient/downloads/<token>``, needs no session (it may be opened on another device) and
streams the zip."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from api.bounds import Id
from api.patient_archive import downloads
from api.patient_archive.schemas import DownloadAsked, DownloadCodeIn, DownloadLink
from api.patient_shares.controllers import recipient_ctx
from api.patients.realm import acting_of, require_patient


class PatientDownloadController(Controller):
    path = "/api/patient/downloads"
    tags = ["patients"]

    @post("/examinations/{exam_id:int}", guards=[require_patient], status_code=HTTP_202_ACCEPTED)
    async def ask(self, request: Request, exam_id: Id) -> DownloadAsked:
        """Text a security code for downloading this examination's originals."""
        return await downloads.ask(acting_of(request), exam_id)

    @post("/{request_id:int}/code", guards=[require_patient], status_code=HTTP_200_OK)
    async def confirm(self, request: Request, request_id: Id, data: DownloadCodeIn) -> DownloadLink:
        """The security code → the download link (valid 30 minutes)."""
        return await downloads.confirm(acting_of(request), request_id, data.code)

    @get("/{token:str}")
    async def download(self, request: Request, token: str) -> Stream:
        """The zip of the original DICOM files with a DICOMDIR, streamed."""
        name, chunks = await downloads.start(recipient_ctx(request), token)
        return Stream(
            chunks,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "private, no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )
