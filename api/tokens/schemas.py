"""Wire structs of the API-token endpoints."""

from __future__ import annotations

from api.bounds import Id, Int, Text
from api.schemas import Base


class TokenRead(Base):
    id: int
    user_id: int
    username: str
    display_name: str
    hospital_id: int
    name: str
    prefix: str
    status: str  # active | expired | revoked
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class TokenCreate(Base):
    user_id: Id
    name: Text
    expires_days: Int | None = None  # None: until revoked


class TokenCreated(Base):
    token: str  # shown once; only its hash is kept
    info: TokenRead
