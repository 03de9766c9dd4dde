"""API-token page of the management platform: create (the token is shown once), list with
prefix and last use, revoke. Changes go through the JSON API (``/api/tokens``)."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from api.tokens import service
from ui.pages import admin_of, page


class TokenPages(Controller):
    include_in_schema = False
    path = "/manage/tokens"

    @get("/")
    async def tokens(self, request: Request) -> Template | Redirect:
        actor = admin_of(request)
        if isinstance(actor, Redirect):
            return actor
        return await page(
            request,
            "tokens/index.html",
            tokens=await service.list_tokens(actor),
            users=await service.token_users(actor),
            dicomweb_url=f"{str(request.base_url).rstrip('/')}/dicomweb",
        )
