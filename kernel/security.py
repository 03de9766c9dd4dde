"""Password hashing (argon2id via argon2-cffi), the strength rule, and token helpers."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import lru_cache
from typing import NamedTuple

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from kernel.i18n import N_
from kernel.settings import get_settings


@lru_cache(maxsize=1)
def _hasher() -> PasswordHasher:
    """argon2id with the configured cost; verifying reads the cost from the hash itself."""
    settings = get_settings()
    return PasswordHasher(
        time_cost=settings.passwords.hash_time_cost,
        memory_cost=settings.passwords.hash_memory_kib,
        parallelism=4,
    )


COMMON_PASSWORDS = frozenset(
    {"password", "password1", "12345678", "123456789", "qwerty123", "11111111", "abc12345"}
)


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordProblem(NamedTuple):
    """Why a password is refused: an English id of the catalogue (``kernel.i18n``)."""

    en: str


def password_problem(password: str, username: str = "") -> PasswordProblem | None:
    """Return why a password is too weak, or None if it is acceptable."""
    if len(password) < 8:
        return PasswordProblem(N_("The password must have at least 8 characters."))
    if len(password) > 128:
        return PasswordProblem(N_("The password must have at most 128 characters."))
    classes = sum(
        bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]")
    )
    if classes < 3:
        return PasswordProblem(
            N_(
                "The password must mix at least three of: lower-case letters, upper-case "
                "letters, digits, symbols."
            )
        )
    if username and username.lower() in password.lower():
        return PasswordProblem(N_("The password must not contain the user name."))
    if password.lower() in COMMON_PASSWORDS:
        return PasswordProblem(N_("This password is too common."))
    return None


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """Tokens are stored hashed so that a copy of the database opens no session."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
