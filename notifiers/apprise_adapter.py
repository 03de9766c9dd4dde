"""The apprise adapter: the only module that imports apprise.

apprise is blocking, so each send runs in a worker thread. apprise 2.0's ``notify()``
returns an ``AppriseResult`` (its ``status`` says SUCCESS, FAILURE, NOMATCH, PARTIAL or
TIMEOUT; its log entries say why); ``bool(result)`` is only the summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import apprise

from notifiers.base import DeliveryResult, OutgoingMessage

UrlFor = Callable[[OutgoingMessage], str | None]  # None: the address cannot be used

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AppriseNotifier:
    """Sends each message to the apprise URL ``url_for`` builds for it."""

    def __init__(self, url_for: UrlFor, timeout: float = 30.0) -> None:
        self._url_for = url_for
        self._timeout = timeout

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        try:
            return await anyio.to_thread.run_sync(self._send, message)
        except Exception as exc:  # a plugin bug must fail the delivery, not the dispatcher
            return DeliveryResult(ok=False, error=f"apprise: {type(exc).__name__}: {exc}")

    def _send(self, message: OutgoingMessage) -> DeliveryResult:
        url = self._url_for(message)
        sender = apprise.Apprise()
        if url is None or not sender.add(url):
            return DeliveryResult(
                ok=False,
                error=f"apprise cannot use the {message.channel} address or URL",
                retryable=False,
            )
        with sender.notify(
            body=message.body,
            title=message.title,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=self._timeout,
        ) as result:
            if result.status == apprise.AppriseResultStatus.SUCCESS:
                return DeliveryResult(ok=True)
            reasons = [
                entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")
            ]
            error = "; ".join(reasons) or f"apprise: {result.status.name}"
        # Neither the recipient's address nor the URL's password belongs in a log line.
        return DeliveryResult(ok=False, error=error.replace(message.address, "<recipient>"))


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters set (replacing any of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def email_notifier(smtp_url: str) -> AppriseNotifier:
    """E-mail through apprise's mailto:// plugin: ``smtp_url`` names the server and the
    sender; each message sets its own ``to``."""

    def url_for(message: OutgoingMessage) -> str | None:
        if not EMAIL.fullmatch(message.address):
            return None
        return with_query(smtp_url, to=message.address)

    return AppriseNotifier(url_for)


def url_notifier(url: str) -> AppriseNotifier:
    """Every message to one fixed apprise URL (an operations copy)."""
    return AppriseNotifier(lambda _message: url)
