"""API-token page of the management platform: create (the token is shown once), list with
prefix and last use, revoke. Changes go through the JSON API (``/api/tokens``)."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.response import Redirect, Template

from api.tokens import service
from store.uow import Actor
from ui.pages import page, to_login


class TokenPages(Controller):
    include_in_schema = False
    path = "/manage/tokens"

    @get("/")
    async def tokens(self, request: Request) -> Template | Redirect:
        actor = request.scope.get("user")
        if not isinstance(actor, Actor) or not actor.is_admin or actor.realm != "admin":
            return to_login(request, admin=True)
        return await page(
            request,
            "tokens/index.html",
            tokens=await service.list_tokens(actor),
            users=await service.token_users(actor),
            dicomweb_url=f"{str(request.base_url).rstrip('/')}/dicomweb",
        )
