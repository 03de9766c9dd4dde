"""Domain errors: each carries the HTTP status and a sentence a person understands.

Services raise these; one exception handler in the composition root turns them into a
4xx response (JSON for the API, a page for the UI) and writes the refusal to the audit log.
"""

from __future__ import annotations


class AppError(Exception):
    status_code = 400

    def __init__(self, message: str, *, extra: dict | None = None, audited: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.audited = audited  # the service already wrote the refusal to the audit log


class BadRequest(AppError):
    status_code = 400


class Unauthorized(AppError):
    status_code = 401


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class TooLarge(AppError):
    status_code = 413


class Locked(AppError):
    """The account is frozen."""

    status_code = 423
