"""API-token page of the management platform: create (the token is shown once), list with
prefix and last use, revoke. Changes go through the JSON API (``/api/tokens``)."""

from __future__ import annotations

from litestar import Request, get
from litestar.response import Template

from api.tokens import service
from ui.pages import PageController, admin_of, page


class TokenPages(PageController):
    path = "/manage/tokens"

    @get("/")
    async def tokens(self, request: Request) -> Template:
        actor = admin_of(request)
        return await page(
            request,
            "tokens/index.html",
            tokens=await service.list_tokens(actor),
            users=await service.token_users(actor),
            dicomweb_url=f"{str(request.base_url).rstrip('/')}/dicomweb",
        )
