"""Sharing API (SPEC 2.6): thin handlers over ``api.shares.service``.

``POST /api/exams/{exam_id}/shares`` share with a colleague; ``GET /api/shares/received``
what was shared with me; ``POST /api/shares/{id}/read`` open (mark read);
``GET /api/shares/colleagues?q=`` whom I may share with.
"""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from api.auth import actor_of, ctx_of, require_permission
from api.exams.guards import require_exam_list
from api.phi import phi
from api.shares import service
from api.shares.schemas import Colleague, ReceivedShares, ShareCreate, ShareRead
from kernel.domain import Permission


class ShareController(Controller):
    path = "/api"
    tags = ["sharing"]
    guards = [require_exam_list]

    @post(
        "/exams/{exam_id:int}/shares",
        guards=[require_permission(Permission.share)],
        status_code=HTTP_201_CREATED,
    )
    async def share(self, request: Request, exam_id: int, data: ShareCreate) -> ShareRead:
        return await service.share(ctx_of(request), exam_id, data)

    @get("/shares/received", opt=phi("share.list", "exam_share"))
    async def received(self, request: Request, before: int | None = None) -> ReceivedShares:
        return await service.received(ctx_of(request), before)

    @post("/shares/{share_id:int}/read", status_code=HTTP_200_OK)
    async def read(self, request: Request, share_id: int) -> ShareRead:
        return await service.open_share(ctx_of(request), share_id)

    @get("/shares/colleagues", guards=[require_permission(Permission.share)])
    async def colleagues(self, request: Request, q: str = "") -> list[Colleague]:
        return await service.colleagues(actor_of(request), q)
