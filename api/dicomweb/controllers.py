"""Thin DICOMweb handlers: parse the path, call one service, send its body.

The controllers answer under ``/dicomweb`` for users; a subclass with another ``path`` and a
guard that sets an ``access.StudyScope`` serves one study under its own root (a patient's
share link, ``api/patient_shares/dicomweb.py``)."""

from __future__ import annotations

from litestar import Controller, Request, Response, get
from litestar.response import Stream

from api.dicomweb import service
from api.dicomweb.access import base_url, reader, refusals_audited, require_dicomweb_caller
from api.dicomweb.attributes import Level
from api.dicomweb.qido import Scope
from api.dicomweb.rendered import ignored_parameters, parse_render_params
from api.dicomweb.service import Body
from api.phi import phi

INSTANCE = "/studies/{study:str}/series/{series:str}/instances/{instance:str}"
# Every search and retrieve is a patient-data read: one audit row per call (api.phi), the
# target the study (UID) the path names, or the one the service read.
SEARCH = phi("dicomweb.search", "study", "study")
SEARCH_ALL = phi("dicomweb.search", "study")  # no study in the path
RETRIEVE = phi("dicomweb.retrieve", "study", "study")
METADATA = phi("dicomweb.metadata", "study", "study")
FRAMES = phi("dicomweb.frames", "study", "study")
BULKDATA = phi("dicomweb.bulkdata", "study", "study")
RENDERED = phi("dicomweb.rendered", "study", "study")
THUMBNAIL = phi("dicomweb.thumbnail", "study", "study")


def _send(body: Body) -> Response:
    if body.stream is not None:
        return Stream(body.stream, media_type=body.media_type, headers=body.headers)
    return Response(body.content, media_type=body.media_type, headers=body.headers)


def _accept(request: Request) -> str:
    return request.headers.get("accept", "")


class QidoController(Controller):
    """QIDO-RS: search for studies, series and instances."""

    path = "/dicomweb"
    guards = [require_dicomweb_caller]
    tags = ["dicomweb"]

    async def _search(self, request: Request, level: Level, scope: Scope) -> Response:
        async with refusals_audited(request) as ctx:
            return _send(
                await service.search(
                    ctx,
                    reader(request),
                    level,
                    list(request.query_params.multi_items()),
                    _accept(request),
                    base_url(request),
                    scope,
                )
            )

    @get("/studies", opt=SEARCH_ALL)
    async def studies(self, request: Request) -> Response:
        return await self._search(request, Level.STUDY, Scope())

    @get("/series", opt=SEARCH_ALL)
    async def all_series(self, request: Request) -> Response:
        return await self._search(request, Level.SERIES, Scope())

    @get("/instances", opt=SEARCH_ALL)
    async def all_instances(self, request: Request) -> Response:
        return await self._search(request, Level.INSTANCE, Scope())

    @get("/studies/{study:str}/series", opt=SEARCH)
    async def study_series(self, request: Request, study: str) -> Response:
        return await self._search(request, Level.SERIES, Scope(study))

    @get("/studies/{study:str}/instances", opt=SEARCH)
    async def study_instances(self, request: Request, study: str) -> Response:
        return await self._search(request, Level.INSTANCE, Scope(study))

    @get("/studies/{study:str}/series/{series:str}/instances", opt=SEARCH)
    async def series_instances(self, request: Request, study: str, series: str) -> Response:
        return await self._search(request, Level.INSTANCE, Scope(study, series))


class WadoController(Controller):
    """WADO-RS: instances, metadata, frames, bulk data, rendered images, thumbnails."""

    path = "/dicomweb"
    guards = [require_dicomweb_caller]
    tags = ["dicomweb"]

    async def _retrieve(self, request: Request, *uids: str | None) -> Response:
        async with refusals_audited(request) as ctx:
            return _send(
                await service.retrieve(
                    ctx, reader(request), _accept(request), base_url(request), *uids
                )
            )

    async def _metadata(self, request: Request, *uids: str | None) -> Response:
        async with refusals_audited(request) as ctx:
            return _send(
                await service.metadata(
                    ctx, reader(request), _accept(request), base_url(request), *uids
                )
            )

    @get("/studies/{study:str}", opt=RETRIEVE)
    async def study(self, request: Request, study: str) -> Response:
        return await self._retrieve(request, study)

    @get("/studies/{study:str}/series/{series:str}", opt=RETRIEVE)
    async def series(self, request: Request, study: str, series: str) -> Response:
        return await self._retrieve(request, study, series)

    @get(INSTANCE, opt=RETRIEVE)
    async def instance(self, request: Request, study: str, series: str, instance: str) -> Response:
        return await self._retrieve(request, study, series, instance)

    @get("/studies/{study:str}/metadata", opt=METADATA)
    async def study_metadata(self, request: Request, study: str) -> Response:
        return await self._metadata(request, study)

    @get("/studies/{study:str}/series/{series:str}/metadata", opt=METADATA)
    async def series_metadata(self, request: Request, study: str, series: str) -> Response:
        return await self._metadata(request, study, series)

    @get(INSTANCE + "/metadata", opt=METADATA)
    async def instance_metadata(
        self, request: Request, study: str, series: str, instance: str
    ) -> Response:
        return await self._metadata(request, study, series, instance)

    @get(INSTANCE + "/frames/{frames:str}", opt=FRAMES)
    async def frames(
        self, request: Request, study: str, series: str, instance: str, frames: str
    ) -> Response:
        async with refusals_audited(request) as ctx:
            return _send(
                await service.frames(
                    ctx, reader(request), _accept(request), study, series, instance, frames
                )
            )

    @get(INSTANCE + "/bulkdata/{tag:str}", opt=BULKDATA)
    async def bulkdata(
        self, request: Request, study: str, series: str, instance: str, tag: str
    ) -> Response:
        async with refusals_audited(request) as ctx:
            return _send(
                await service.bulkdata(
                    ctx, reader(request), _accept(request), study, series, instance, tag
                )
            )


class RenderedController(Controller):
    """``/rendered`` and ``/thumbnail`` as JPEG or PNG."""

    path = "/dicomweb"
    guards = [require_dicomweb_caller]
    tags = ["dicomweb"]

    async def _render(
        self,
        request: Request,
        thumbnail: bool,
        study: str,
        series: str | None = None,
        instance: str | None = None,
        frames: str | None = None,
    ) -> Response:
        async with refusals_audited(request) as ctx:
            q = request.query_params
            params = parse_render_params(
                q.get("window", ""), q.get("viewport", ""), q.get("quality", "")
            )
            accept = _accept(request)
            if thumbnail:
                body = await service.thumbnail(
                    ctx, reader(request), accept, params, study, series, instance, frames
                )
            else:
                assert series is not None and instance is not None
                body = await service.render(
                    ctx, reader(request), accept, params, study, series, instance, frames
                )
            body.headers.update(service.warning_header(ignored_parameters(q.keys())))
            return _send(body)

    @get(INSTANCE + "/rendered", opt=RENDERED)
    async def instance_rendered(
        self, request: Request, study: str, series: str, instance: str
    ) -> Response:
        return await self._render(request, False, study, series, instance)

    @get(INSTANCE + "/frames/{frames:str}/rendered", opt=RENDERED)
    async def frame_rendered(
        self, request: Request, study: str, series: str, instance: str, frames: str
    ) -> Response:
        return await self._render(request, False, study, series, instance, frames=frames)

    @get("/studies/{study:str}/thumbnail", opt=THUMBNAIL)
    async def study_thumbnail(self, request: Request, study: str) -> Response:
        return await self._render(request, True, study)

    @get("/studies/{study:str}/series/{series:str}/thumbnail", opt=THUMBNAIL)
    async def series_thumbnail(self, request: Request, study: str, series: str) -> Response:
        return await self._render(request, True, study, series)

    @get(INSTANCE + "/thumbnail", opt=THUMBNAIL)
    async def instance_thumbnail(
        self, request: Request, study: str, series: str, instance: str
    ) -> Response:
        return await self._render(request, True, study, series, instance)

    @get(INSTANCE + "/frames/{frames:str}/thumbnail", opt=THUMBNAIL)
    async def frame_thumbnail(
        self, request: Request, study: str, series: str, instance: str, frames: str
    ) -> Response:
        return await self._render(request, True, study, series, instance, frames=frames)
