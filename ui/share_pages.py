"""Sharing pages (SPEC 2.6, issue 5 item 8): "shared with me" (live, newest first, unread
marked), the deep link of the WeCom message (``/exams/shared/<id>``: marks the share read and
opens the examination), and the exam page's share panel (colleague search, message, Share),
all phone-sized too. They read through ``api.shares.service`` like the API; the Share button
posts to the JSON API, so the rules and the audit live in one place.
"""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Redirect, Template

from api.auth import ctx_of
from api.phi import phi
from api.shares import service
from kernel.domain import Permission
from kernel.errors import Forbidden
from store.examinations import get_examination
from ui.exam_pages import exam_reader
from ui.pages import PageController, local_clock, page


class SharePages(PageController):
    path = "/exams"

    @get("/shared", opt=phi("share.list", "exam_share"))
    async def received(self, request: Request, before: int | None = None) -> Template:
        actor = await exam_reader(request)
        shares = await service.received(ctx_of(request), before)
        return await page(
            request,
            "shares/received.html",
            shares=shares,
            when=await local_clock(actor),
            topic=f"user:{actor.user_id}",
            more=before is not None or len(shares.items) >= service.RECEIVED_LIMIT,
        )

    @get("/shared/rows", opt=phi("share.list", "exam_share"))
    async def rows(self, request: Request) -> Template:
        """The list alone: what the live refresh swaps in."""
        actor = await exam_reader(request)
        shares = await service.received(ctx_of(request))
        return await page(
            request,
            "shares/_rows.html",
            shares=shares,
            when=await local_clock(actor),
        )

    @get("/shared/{share_id:int}")
    async def open(self, request: Request, share_id: int) -> Redirect:
        """The link of the message: mark read, then the examination's own page."""
        await exam_reader(request)
        opened = await service.open_share(ctx_of(request), share_id)
        return Redirect(f"/exams/{opened.exam_id}")

    @get("/{exam_id:int}/panel/share")
    async def panel(self, request: Request, exam_id: int) -> Template:
        actor = await exam_reader(request)
        await get_examination(actor, exam_id)  # 404 for an examination he may not see
        allowed = Permission.share.value in actor.permissions and actor.hospital_id is not None
        return await page(
            request,
            "shares/panel.html",
            exam_id=exam_id,
            allowed=allowed,
            colleagues=await service.colleagues(actor) if allowed else [],
        )

    @get("/{exam_id:int}/panel/share/colleagues")
    async def colleagues(self, request: Request, exam_id: int, q: str = "") -> Template:
        """The colleague picker's options for a search (swapped into the select)."""
        actor = await exam_reader(request)
        await get_examination(actor, exam_id)
        if Permission.share.value not in actor.permissions:
            raise Forbidden(f"Your role lacks the permission {Permission.share.value!r}.")
        return await page(
            request, "shares/_colleagues.html", colleagues=await service.colleagues(actor, q)
        )
