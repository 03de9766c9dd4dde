"""Recordings over HTTP (see README.md): the tus upload, the details, the video with HTTP
Range and the poster. Thin handlers; every one asks the owner's module
(``api.recordings.access``) through the services."""

from __future__ import annotations

from litestar import Controller, Request, Response, delete, get, head, patch, post
from litestar.response import Stream

from api.auth import actor_of, ctx_of, require_login
from api.recordings import owners, ranges, service, uploads
from api.recordings.service import RecordingRead
from kernel.settings import get_settings

owners.register_all()

TUS = {
    "Tus-Resumable": uploads.TUS_VERSION,
    "Cache-Control": "no-store",
}


def _headers(request: Request) -> dict[str, str]:
    return {k.lower(): v for k, v in request.headers.items()}


class RecordingUploadController(Controller):
    path = "/api/recordings/uploads"
    tags = ["recordings"]
    guards = [require_login]

    @post("/", status_code=201)
    async def create(self, request: Request) -> Response[None]:
        recording_id = await uploads.create(ctx_of(request), actor_of(request), _headers(request))
        return Response(
            None,
            status_code=201,
            headers={
                **TUS,
                "Location": f"/api/recordings/uploads/{recording_id}",
                "Upload-Offset": "0",
            },
        )

    @head("/{recording_id:int}", status_code=200)
    async def offset(self, request: Request, recording_id: int) -> Response[None]:
        row = await uploads.offset(
            actor_of(request), recording_id, request.headers.get("tus-resumable")
        )
        return Response(
            None,
            headers={
                **TUS,
                "Upload-Offset": str(row["received"]),
                "Upload-Length": str(row["declared_size"]),
            },
        )

    @patch("/{recording_id:int}", status_code=204, request_max_body_size=None)
    async def append(self, request: Request, recording_id: int) -> Response[None]:
        end = await uploads.append(
            ctx_of(request), actor_of(request), recording_id, _headers(request), request.stream()
        )
        return Response(None, status_code=204, headers={**TUS, "Upload-Offset": str(end)})

    @delete("/{recording_id:int}", status_code=204)
    async def terminate(self, request: Request, recording_id: int) -> Response[None]:
        await uploads.terminate(
            ctx_of(request), actor_of(request), recording_id, request.headers.get("tus-resumable")
        )
        return Response(None, status_code=204, headers=TUS)

    @get("/limits")
    async def limits(self) -> dict[str, int]:
        settings = get_settings().recording
        return {"max_bytes": settings.max_bytes, "chunk_bytes": settings.chunk_bytes}


class RecordingController(Controller):
    path = "/api/recordings"
    tags = ["recordings"]
    guards = [require_login]

    @get("/")
    async def of_owner(
        self, request: Request, owner_kind: str, owner_id: int
    ) -> list[RecordingRead]:
        return await service.of_owner(actor_of(request), owner_kind, owner_id)

    @get("/{recording_id:int}")
    async def one(self, request: Request, recording_id: int) -> RecordingRead:
        return await service.one(actor_of(request), recording_id)

    @get("/{recording_id:int}/video")
    async def video(self, request: Request, recording_id: int) -> Stream | Response[bytes]:
        found = await service.media(actor_of(request), recording_id, "video")
        return ranges.serve(
            found.path, found.size, found.content_type, request.headers.get("range")
        )

    @get("/{recording_id:int}/poster")
    async def poster(self, request: Request, recording_id: int) -> Stream | Response[bytes]:
        found = await service.media(actor_of(request), recording_id, "poster")
        return ranges.serve(
            found.path, found.size, found.content_type, request.headers.get("range")
        )
