"""Archive and data-maintenance API (SPEC 8.9, 8.11, 9.2): thin handlers, one service call
each. Everything needs an administrator logged in through the administrator login."""

from __future__ import annotations

from litestar import Controller, Request, get, post, put
from litestar.params import Parameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from api.archive import by_hand, deletion, service
from api.archive.schemas import (
    Done,
    MaintenanceIn,
    PolicyRead,
    PolicyRunIn,
    PolicyUpdate,
    RetrievalCreate,
    RetrievalDetail,
    RetrievalRead,
    RetrievalReason,
    StudyPage,
)
from api.auth import actor_of, ctx_of, require_admin, require_login
from api.live import register_case_watcher
from api.phi import patient_only, phi

register_case_watcher("retrieval", service.can_watch)


class ArchiveController(Controller):
    path = "/api/archive"
    tags = ["archive"]
    guards = [require_admin]

    @get("/policies")
    async def policies(self, request: Request) -> list[PolicyRead]:
        return await service.list_policies(actor_of(request))

    @get("/policy")
    async def policy(self, request: Request, hospital_id: int | None = None) -> PolicyRead:
        return await service.get_policy(actor_of(request), hospital_id)

    @put("/policy")
    async def update_policy(self, request: Request, data: PolicyUpdate) -> PolicyRead:
        return await service.update_policy(ctx_of(request), data)

    @post("/policy/run", status_code=HTTP_202_ACCEPTED)
    async def run_policy(self, request: Request, data: PolicyRunIn) -> Done:
        return await service.run_policy(ctx_of(request), data)

    @get("/studies", opt=phi("study.list", "study"))
    async def studies(
        self, request: Request, tier: str = "", q: str = "", offset: int = 0, limit: int = 50
    ) -> StudyPage:
        return await service.list_studies(ctx_of(request), tier, q, offset, limit)

    @get("/deleted", opt=phi("study.list", "study"))
    async def deleted(
        self, request: Request, q: str = "", offset: int = 0, limit: int = 50
    ) -> StudyPage:
        return await service.list_studies(ctx_of(request), "", q, offset, limit, deleted=True)

    @post("/studies/{study_id:int}/delete", status_code=HTTP_200_OK, opt=patient_only())
    async def delete_study(self, request: Request, study_id: int, data: MaintenanceIn) -> Done:
        return await deletion.delete_study(ctx_of(request), study_id, data)

    @post("/studies/{study_id:int}/restore", status_code=HTTP_200_OK, opt=patient_only())
    async def restore_study(self, request: Request, study_id: int, data: MaintenanceIn) -> Done:
        return await deletion.restore_study(ctx_of(request), study_id, data)

    @post("/studies/{study_id:int}/archive", status_code=HTTP_202_ACCEPTED, opt=patient_only())
    async def archive_study(self, request: Request, study_id: int, data: MaintenanceIn) -> Done:
        return await by_hand.archive_now(ctx_of(request), study_id, data)

    @get("/retrievals", opt=phi("retrieval.list", "retrieval"))
    async def retrievals(
        self,
        request: Request,
        state_name: str = Parameter(query="state", default=""),
        offset: int = 0,
        limit: int = 50,
    ) -> list[RetrievalRead]:
        return await service.list_retrievals(actor_of(request), state_name, offset, limit)

    @post("/retrievals", opt=patient_only())
    async def request_retrieval(self, request: Request, data: RetrievalCreate) -> RetrievalRead:
        return await service.request_retrieval(ctx_of(request), data)

    @get("/retrievals/{retrieval_id:int}", opt=phi("retrieval.view", "retrieval", "retrieval_id"))
    async def retrieval(self, request: Request, retrieval_id: int) -> RetrievalDetail:
        return await service.get_retrieval(actor_of(request), retrieval_id)


class StudyRetrievalController(Controller):
    """A doctor's request for an archived study of his hospital (the admins' own route is
    ``POST /api/archive/retrievals``); the same request, the same case."""

    path = "/api/archive/studies/{study_id:int}/retrieval"
    tags = ["archive"]
    guards = [require_login]

    @post("/", opt=patient_only())
    async def request_retrieval(
        self, request: Request, study_id: int, data: RetrievalReason
    ) -> RetrievalRead:
        return await service.request_retrieval(
            ctx_of(request), RetrievalCreate(study_id=study_id, reason=data.reason)
        )
