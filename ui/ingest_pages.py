"""Cloud-film migration pages (SPEC 8.10, 9.1) in the management platform.

``/manage/migrations``: upload (files, a folder, zips) and the runs with live progress bars;
``/manage/migrations/{id}``: one run, its steps and every file's outcome;
``/manage/migration-log``: the billed migration log with filters and CSV;
``/manage/dicom-nodes``: the PACS and modalities allowed to send over DICOM.
Pages read through ``api.ingest`` like the API; changes go through the JSON API (``app.js``).
Progress arrives as ``migration.progress`` events on the hospital's topic (bar and counts are
patched in place); a step of a run re-fetches the table fragment.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.di import Provide
from litestar.response import Template

from api.auth import ctx_of
from api.ingest import nodes, service
from api.management.hospitals import list_hospitals as hospital_list
from api.phi import patient_only, phi
from kernel.settings import get_settings
from states.migration import PIPELINE, FileOutcome, MigrationState
from store.uow import Actor
from ui.management_pages import human_bytes
from ui.pages import PageController, admin_of, fragment, hospital_topics, local_clock, page

OPEN_STATES = [
    s.value for s in MigrationState if s not in (MigrationState.notified, MigrationState.failed)
]
ITEM_STATUSES = [o.value for o in FileOutcome]


async def _common(actor: Actor) -> dict[str, Any]:
    """What every migration page shows with: sizes, open states, the viewer's kind and
    clock."""
    return {
        "human_bytes": human_bytes,
        "open_states": OPEN_STATES,
        "is_alliance": actor.kind == "alliance_admin",
        "when": await local_clock(actor, seconds=True),
    }


class IngestPages(PageController):
    path = "/manage"

    @get(
        ["/migrations", "/migrations/table"],
        dependencies={"run_query": Provide(service.provide_run_query, sync_to_thread=False)},
        opt=patient_only(),
    )
    async def runs(
        self, request: Request, run_query: service.RunQuery, offset: int = 0
    ) -> Template:
        """The runs page, or at ``/migrations/table`` its runs table alone (htmx fragment)."""
        actor = admin_of(request)
        context = {
            "runs": await service.list_runs(actor, run_query, offset),
            **await _common(actor),
        }
        if request.url.path.rstrip("/").endswith("/table"):
            return fragment(request, "ingest/_runs.html", **context)
        hospitals = await hospital_list(actor)
        return await page(
            request,
            "ingest/runs.html",
            hospitals=hospitals,
            topics=hospital_topics(hospitals),
            state=run_query.state,
            source=run_query.source,
            states=service.STATES,
            sources=service.SOURCES,
            max_upload=get_settings().ingest.max_upload_bytes,
            **context,
        )

    @get("/migrations/{run_id:int}", opt=phi("migration.read", "migration", "run_id"))
    async def run(
        self, request: Request, run_id: int, status: str = "", offset: int = 0
    ) -> Template:
        actor = admin_of(request)
        detail = await service.run_detail(ctx_of(request), run_id, status, offset)
        return await page(
            request,
            "ingest/run.html",
            detail=detail,
            run=detail.run,
            status=status,
            offset=offset,
            statuses=ITEM_STATUSES,
            pipeline=[trigger for trigger, _ in PIPELINE],
            topics=[f"case:migration:{run_id}"],
            **await _common(actor),
        )

    @get(
        "/migration-log",
        dependencies={"log_query": Provide(service.provide_log_query, sync_to_thread=False)},
        opt=phi("migration_log.read", "migration_log"),
    )
    async def log(self, request: Request, log_query: service.LogQuery, offset: int = 0) -> Template:
        actor = admin_of(request)
        return await page(
            request,
            "ingest/log.html",
            log=await service.migration_log(ctx_of(request), log_query, offset),
            hospitals=await hospital_list(actor),
            date_from=log_query.date_from,
            date_to=log_query.date_to,
            hospital_id=log_query.hospital_id,
            q=log_query.q,
            query=log_query.links(),
            **await _common(actor),
        )

    @get("/dicom-nodes")
    async def dicom_nodes(self, request: Request) -> Template:
        actor = admin_of(request)
        settings = get_settings()
        return await page(
            request,
            "ingest/nodes.html",
            nodes=await nodes.list_nodes(ctx_of(request)),
            hospitals=await hospital_list(actor),
            receiver={
                "ae_title": settings.dicom.ae_title,
                "host": settings.dicom.host or settings.server.host,
                "port": settings.dicom.port,
            },
            **await _common(actor),
        )
