"""The patient's archive routes (``/api/patient/archive``, the patient realm: the
``aimis_patient`` session alone, ``require_patient``; no staff session, no DICOMweb).

The images of an examination come from ``…/archive/{exam}/wado/…``, the paths the touch
viewer (``ui/static/mobile-viewer.js``) asks of its WADO-RS base, answered for her visible
examinations' studies only: another study's UIDs are a 404."""

from __future__ import annotations

from litestar import Controller, Request, Response, get, post
from litestar.status_codes import HTTP_200_OK

from api.bounds import Id
from api.dicomweb.rendered import parse_render_params
from api.patient_archive import archive, qr
from api.patient_archive.schemas import (
    ArchiveExam,
    ArchiveExamDetail,
    ArchiveHospital,
    ManualMatch,
    ProofOut,
    QrScan,
    QrScanOut,
)
from api.patients.realm import acting_of, require_patient

WADO = "/{exam_id:int}/wado/series/{series:str}"
PRIVATE = {"Cache-Control": "private, max-age=3600"}


class PatientArchiveController(Controller):
    path = "/api/patient/archive"
    tags = ["patients"]
    guards = [require_patient]

    @get("/examinations")
    async def examinations(
        self, request: Request, person_id: int | None = None
    ) -> list[ArchiveExam]:
        return await archive.list_exams(acting_of(request), person_id)

    @get("/examinations/{exam_id:int}")
    async def examination(self, request: Request, exam_id: Id) -> ArchiveExamDetail:
        return await archive.detail(acting_of(request), exam_id)

    @get("/hospitals")
    async def hospitals(self) -> list[ArchiveHospital]:
        return await archive.hospitals()

    @post("/persons/{person_id:int}/proof", status_code=HTTP_200_OK)
    async def prove(self, request: Request, person_id: Id, data: ManualMatch) -> ProofOut:
        return await archive.prove(acting_of(request), person_id, data)

    @post("/qr", status_code=HTTP_200_OK)
    async def scan(self, request: Request, data: QrScan) -> QrScanOut:
        """A scanned report QR code: the examination it names, matched to her (the
        person whose name it carries) if it was not yet (``api.patient_archive.qr``)."""
        done = await qr.scan(acting_of(request), data.token)
        return QrScanOut(done.examination_id, done.matched, done.visible)

    async def _picture(
        self,
        request: Request,
        exam_id: int,
        series: str,
        instance: str | None = None,
        frame: int | None = None,
        original: bool = False,
    ) -> Response:
        q = request.query_params
        params = parse_render_params(
            q.get("window", ""), q.get("viewport", ""), q.get("quality", "")
        )
        media_type, data = await archive.picture(
            acting_of(request),
            exam_id,
            request.headers.get("accept", ""),
            params,
            series,
            instance,
            frame,
            original,
        )
        return Response(data, media_type=media_type, headers=PRIVATE)

    @get(WADO + "/thumbnail")
    async def series_thumbnail(self, request: Request, exam_id: int, series: str) -> Response:
        return await self._picture(request, exam_id, series)

    @get(WADO + "/instances/{instance:str}/frames/{frame:int}/thumbnail")
    async def frame_thumbnail(
        self, request: Request, exam_id: int, series: str, instance: str, frame: int
    ) -> Response:
        return await self._picture(request, exam_id, series, instance, frame)

    @get(WADO + "/instances/{instance:str}/frames/{frame:int}/rendered")
    async def frame_rendered(
        self, request: Request, exam_id: int, series: str, instance: str, frame: int
    ) -> Response:
        return await self._picture(request, exam_id, series, instance, frame, original=True)
