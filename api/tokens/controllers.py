"""API tokens: ``/api/tokens`` (admins create, list and revoke; a user lists his own)."""

from __future__ import annotations

from litestar import Controller, Request, delete, get, post
from litestar.status_codes import HTTP_200_OK

from api.auth import actor_of, ctx_of, require_admin, require_login
from api.tokens import service
from api.tokens.schemas import TokenCreate, TokenCreated, TokenRead


class TokenController(Controller):
    path = "/api/tokens"
    tags = ["tokens"]

    @get("/", guards=[require_login])
    async def list_tokens(self, request: Request, user_id: int | None = None) -> list[TokenRead]:
        return await service.list_tokens(actor_of(request), user_id)

    @post("/", guards=[require_admin])
    async def create_token(self, request: Request, data: TokenCreate) -> TokenCreated:
        return await service.create_token(ctx_of(request), data)

    @delete("/{token_id:int}", guards=[require_admin], status_code=HTTP_200_OK)
    async def revoke_token(self, request: Request, token_id: int) -> TokenRead:
        return await service.revoke_token(ctx_of(request), token_id)
