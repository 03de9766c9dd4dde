"""``/api/ingest``: uploads, migration runs, the migration log, DICOM nodes (admins)."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, patch, post
from litestar.di import Provide
from litestar.response import Stream
from litestar.status_codes import HTTP_200_OK

from api.auth import actor_of, ctx_of, require_admin
from api.ingest import nodes, service
from api.ingest.schemas import (
    LogPage,
    NodeCreate,
    NodeRead,
    NodeUpdate,
    RunDetail,
    RunPage,
    RunRead,
    UploadAccepted,
)
from api.ingest.service import LogQuery, RunQuery, provide_log_query, provide_run_query
from api.ingest.upload import upload
from api.live import register_case_watcher
from api.phi import patient_only, phi
from store.scoping import visible
from store.tables import MigrationRun
from store.uow import Actor


async def can_watch(actor: Actor, run_id: int) -> bool:
    """A run's live events are for the admins who may see its hospital."""
    if not actor.is_admin:
        return False
    row = await visible(MigrationRun, actor, MigrationRun.id).where(MigrationRun.id == run_id)
    return bool(row)


LOG_QUERY = {"log_query": Provide(provide_log_query, sync_to_thread=False)}
RUN_QUERY = {"run_query": Provide(provide_run_query, sync_to_thread=False)}

register_case_watcher("migration", can_watch)


class IngestController(Controller):
    path = "/api/ingest"
    tags = ["ingest"]
    guards = [require_admin]

    @post("/uploads", request_max_body_size=None, status_code=201, opt=patient_only())
    async def upload(self, request: Request, hospital_id: int | None = None) -> UploadAccepted:
        """multipart/form-data, one ``files`` part per file (a folder's files, zips)."""
        ctx = ctx_of(request)
        hospital = await service.upload_hospital(actor_of(request), hospital_id)
        run_id = await upload(ctx, hospital, request.headers, request.stream())
        run = await service.get_run(actor_of(request), run_id)
        return UploadAccepted(run_id, run.received, f"/manage/migrations/{run_id}")

    @get("/runs", dependencies=RUN_QUERY, opt=patient_only())
    async def runs(self, request: Request, run_query: RunQuery, offset: int = 0) -> RunPage:
        return await service.list_runs(actor_of(request), run_query, offset)

    @get("/runs/{run_id:int}", opt=phi("migration.read", "migration", "run_id"))
    async def run(
        self, request: Request, run_id: int, status: str = "", offset: int = 0
    ) -> RunDetail:
        return await service.run_detail(ctx_of(request), run_id, status, offset)

    @post("/runs/{run_id:int}/retry", status_code=HTTP_200_OK, opt=patient_only())
    async def retry(self, request: Request, run_id: int, version: int | None = None) -> RunRead:
        return await service.retry(ctx_of(request), run_id, version)

    @get("/log", dependencies=LOG_QUERY, opt=phi("migration_log.read", "migration_log"))
    async def log(self, request: Request, log_query: LogQuery, offset: int = 0) -> LogPage:
        return await service.migration_log(ctx_of(request), log_query, offset)

    @get("/log.csv", dependencies=LOG_QUERY, opt=phi("migration_log.export", "migration_log"))
    async def log_csv(self, request: Request, log_query: LogQuery) -> Stream:
        lines = await service.export_log(ctx_of(request), log_query)
        return Stream(
            lines,
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": 'attachment; filename="migration-log.csv"',
                "Cache-Control": "no-store",
            },
        )

    @get("/nodes")
    async def list_nodes(self, request: Request) -> list[NodeRead]:
        return await nodes.list_nodes(ctx_of(request))

    @post("/nodes")
    async def create_node(self, request: Request, data: NodeCreate) -> NodeRead:
        return await nodes.create_node(ctx_of(request), data)

    @patch("/nodes/{node_id:int}")
    async def update_node(self, request: Request, node_id: int, data: NodeUpdate) -> NodeRead:
        return await nodes.update_node(ctx_of(request), node_id, data)

    @delete("/nodes/{node_id:int}", status_code=HTTP_200_OK)
    async def delete_node(self, request: Request, node_id: int) -> dict[str, bool]:
        await nodes.delete_node(ctx_of(request), node_id)
        return {"deleted": True}
