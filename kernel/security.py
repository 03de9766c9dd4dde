"""Password hashing (argon2id via argon2-cffi), the strength rule, and token helpers."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from functools import lru_cache
from pathlib import Path
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


def app_secret(data_dir: Path | None = None) -> str:
    """The installation's secret (``<data_dir>/secret.key``, made at the first start, mode
    0600): the key of the staff cookies' CSRF protection, and the root the signed tokens
    derive their keys from (``signing_key``)."""
    data_dir = data_dir or get_settings().server.data_dir
    path = data_dir / "secret.key"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def signing_key(purpose: str) -> bytes:
    """A key of its own for one kind of signed token (HMAC-SHA256 of the purpose under the
    installation's secret): a token of one purpose is never valid for another."""
    return hmac.new(app_secret().encode(), purpose.encode(), hashlib.sha256).digest()


def new_token(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def token_hash(token: str) -> str:
    """Tokens are stored hashed so that a copy of the database opens no session."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
