"""The bearer token → actor lookup of every DICOMweb request (``api.tokens.service``), as
plain SQL: the token, its account, the account's hospital and role in one statement."""

from __future__ import annotations

from store.sql import Statement
from store.tables import ApiToken

# What ``api.tokens.service._refusal`` checks and ``store.uow.actor_from_row`` reads
# (prefix ``user.``), named as the Piccolo select through ``ApiToken.user`` named them.
ACTOR_OF_TOKEN = Statement(
    ApiToken,
    "SELECT api_token.id AS id, api_token.hospital AS hospital,"
    " api_token.expires_at AS expires_at, api_token.last_used_at AS last_used_at,"
    " api_token.revoked_at AS revoked_at,"
    ' u.active AS "user.active", u.frozen AS "user.frozen",'
    ' h.active AS "user.hospital.active", u.id AS "user.id",'
    ' u.username AS "user.username", u.kind AS "user.kind",'
    ' u.alliance AS "user.alliance", u.hospital AS "user.hospital",'
    ' u.department AS "user.department", r.permissions AS "user.role.permissions"'
    " FROM api_token"
    ' JOIN app_user u ON u.id = api_token."user"'
    " LEFT JOIN hospital h ON h.id = u.hospital"
    " LEFT JOIN role r ON r.id = u.role"
    " WHERE api_token.token_hash = :token_hash",
    columns=("id", "hospital", "expires_at", "last_used_at", "revoked_at", "user", "token_hash"),
)

# ``last_used_at`` moves at most once a minute (``api.tokens.service.TOUCH_SECONDS``).
TOUCH = Statement(
    ApiToken,
    "UPDATE api_token SET last_used_at = :at WHERE id = :id",
    columns=("last_used_at", "id"),
)

STATEMENTS = (ACTOR_OF_TOKEN, TOUCH)
