"""Domain errors: each carries the HTTP status and a sentence a person understands.

Services raise these; one exception handler in the composition root turns them into a
4xx response (JSON for the API, a page for the UI) and writes the refusal to the audit log.
The message is an English id of the translation catalogue (``kernel/i18n.py``); values go in
as keyword placeholders (``NotFound("No {what} with id {id}.", what=…, id=…)``). The handler
answers in the reader's language (the UI's language cookie, else Accept-Language); the audit
log keeps the English.
"""

from __future__ import annotations

from typing import Any

from kernel import i18n


class AppError(Exception):
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        extra: dict | None = None,
        audited: bool = False,
        headers: dict[str, str] | None = None,
        **params: Any,
    ) -> None:
        if isinstance(message, i18n.Msg):  # a state machine's refusal, say
            params = {**message.params, **params}
            message = message.template
        self.template = message  # the catalogue's id
        self.params = params
        message = i18n.format(message, **params)
        super().__init__(message)
        self.message = message  # English, placeholders filled: what the audit log keeps
        self.extra = extra or {}
        self.audited = audited  # the service already wrote the refusal to the audit log
        self.headers = headers or {}  # response headers, e.g. Retry-After of a 429

    def text(self, language: str) -> str:
        """The sentence in ``language`` ("zh" or "en"); English where the catalogue has none
        (the English is the id itself: the ``en`` catalogue only labels identifiers)."""
        if language == "en":
            return self.message
        return i18n.gettext(self.template, lang=language, **self.params)


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


class TooManyRequests(AppError):
    """A rate limit: the response carries ``Retry-After``."""

    status_code = 429
