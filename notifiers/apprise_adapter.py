"""The apprise adapter: the only module that imports apprise.

apprise is blocking, so each send runs in a worker thread. apprise 2.0's ``notify()``
returns an ``AppriseResult`` (its ``status`` says SUCCESS, FAILURE, NOMATCH, PARTIAL or
TIMEOUT; its log entries say why); ``bool(result)`` is only the summary.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import anyio
import apprise

from notifiers import outbound
from notifiers.base import Channel, DeliveryResult, OutgoingMessage

UrlFor = Callable[[OutgoingMessage], str | None]  # None: the address cannot be used
Prepare = Callable[[Any], None]  # adjusts the apprise plugin instance before it sends
Check = Callable[[], None]  # raises outbound.Refused when the destination is not allowed

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class AppriseNotifier:
    """Sends each message to the apprise URL ``url_for`` builds for it.

    A hospital's channel passes ``allowed`` (the operator's exceptions) and ``check`` (its
    destination rule, ``notifiers.outbound``): ``check`` runs before each send, and every
    connection the send makes is checked as it is made; a refusal fails the delivery for
    good, with the reason in the delivery log.
    """

    def __init__(
        self,
        url_for: UrlFor,
        timeout: float = 30.0,
        *,
        prepare: Prepare | None = None,
        storage: Path | None = None,
        secrets: tuple[str, ...] = (),
        allowed: outbound.Allowance | None = None,
        check: Check | None = None,
    ) -> None:
        self._url_for = url_for
        self._timeout = timeout
        self._prepare = prepare
        self._secrets = tuple(s for s in secrets if s)  # never in an error text
        self._allowed = allowed
        self._check = check
        # Plugins that cache an access token (WeCom) keep it here across sends and restarts.
        self._asset = (
            apprise.AppriseAsset(storage_path=str(storage), storage_mode="auto")
            if storage is not None
            else apprise.AppriseAsset()
        )

    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        try:
            return await anyio.to_thread.run_sync(self._send, message)
        except Exception as exc:  # a plugin bug must fail the delivery, not the dispatcher
            return DeliveryResult(ok=False, error=f"apprise: {type(exc).__name__}: {exc}")

    def _send(self, message: OutgoingMessage) -> DeliveryResult:
        if self._check is not None:
            try:
                self._check()
            except outbound.Refused as exc:
                return DeliveryResult(ok=False, error=f"not sent: {exc}", retryable=False)
        url = self._url_for(message)
        plugin = apprise.Apprise.instantiate(url, asset=self._asset) if url else None
        sender = apprise.Apprise(asset=self._asset)
        if plugin is None or not sender.add(plugin):
            return DeliveryResult(
                ok=False,
                error=f"apprise cannot use the {message.channel} address or URL",
                retryable=False,
            )
        if self._prepare is not None:
            self._prepare(plugin)
        if self._allowed is None:
            error = self._notify(sender, message)
        else:
            with outbound.guarded(self._allowed) as guard:
                error = self._notify(sender, message)
            if guard.refused:
                return DeliveryResult(
                    ok=False, error=f"not sent: {guard.refused[0]}", retryable=False
                )
        if error is None:
            return DeliveryResult(ok=True)
        # Neither the recipient's address nor the URL's password belongs in a log line.
        if message.address:
            error = error.replace(message.address, "<recipient>")
        for secret in self._secrets:
            error = error.replace(secret, "<secret>")
        return DeliveryResult(ok=False, error=error)

    def _notify(self, sender: apprise.Apprise, message: OutgoingMessage) -> str | None:
        """None when sent, else what apprise says went wrong."""
        with sender.notify(
            body=message.body,
            title=message.title,
            body_format=apprise.NotifyFormat.TEXT,
            timeout=self._timeout,
        ) as result:
            if result.status == apprise.AppriseResultStatus.SUCCESS:
                return None
            reasons = [
                entry.message for entry in result.logs() if entry.level in ("WARNING", "ERROR")
            ]
            return "; ".join(reasons) or f"apprise: {result.status.name}"


def with_query(url: str, **params: str) -> str:
    """``url`` with query parameters set (replacing any of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


def email_notifier(smtp_url: str, allowed: outbound.Allowance | None = None) -> AppriseNotifier:
    """E-mail through apprise's mailto:// plugin: ``smtp_url`` names the server and the
    sender; each message sets its own ``to``. ``allowed``: a hospital's own mail server,
    held to the outbound rule (the platform's, ``AIMIS_SMTP_URL``, is the operator's)."""

    def url_for(message: OutgoingMessage) -> str | None:
        if not EMAIL.fullmatch(message.address):
            return None
        return with_query(smtp_url, to=message.address)

    password = urlsplit(smtp_url).password or ""
    if allowed is None:
        return AppriseNotifier(url_for, secrets=(password,))

    def check() -> None:
        outbound.check_smtp_url(smtp_url, allowed)

    return AppriseNotifier(url_for, secrets=(password,), allowed=allowed, check=check)


def _base_check(kind: Channel, base: str, allowed: outbound.Allowance) -> Check:
    def check() -> None:
        outbound.check_base_url(kind, base, allowed)

    return check


def _q(value: str) -> str:
    return quote(value, safe="")


def wecom_app_notifier(
    config: dict[str, str], storage: Path | None, allowed: outbound.Allowance
) -> AppriseNotifier:
    """WeCom application message, apprise's ``wechat://corpid:secret@agentid/userid``; the
    plugin's token and send URLs are pointed at the configured API host."""
    base = config["base_url"].rstrip("/")

    def url_for(message: OutgoingMessage) -> str | None:
        if not message.address:
            return None
        return (
            f"wechat://{_q(config['corp_id'])}:{_q(config['secret'])}@{config['agent_id']}"
            f"/{_q(message.address)}"
        )

    def prepare(plugin: Any) -> None:
        plugin.token_url = f"{base}/cgi-bin/gettoken"
        plugin.notify_url = f"{base}/cgi-bin/message/send"
        # apprise spaces one plugin instance's requests 5.5 s apart; an instance here sends
        # one message, so that only ever delayed the send right after a token fetch
        plugin.request_rate_per_sec = 0

    return AppriseNotifier(
        url_for,
        prepare=prepare,
        storage=storage,
        secrets=(config["secret"],),
        allowed=allowed,
        check=_base_check(Channel.wecom_app, base, allowed),
    )


def wecom_bot_notifier(config: dict[str, str], allowed: outbound.Allowance) -> AppriseNotifier:
    """WeCom group robot, apprise's ``wecombot://key``: one post to the group, no address."""
    base, key = config["base_url"].rstrip("/"), config["key"]

    def prepare(plugin: Any) -> None:
        plugin.api_url = f"{base}/cgi-bin/webhook/send?key={_q(key)}"

    return AppriseNotifier(
        lambda _m: f"wecombot://{_q(key)}",
        prepare=prepare,
        secrets=(key,),
        allowed=allowed,
        check=_base_check(Channel.wecom_bot, base, allowed),
    )


def wechat_oa_notifier(config: dict[str, str], allowed: outbound.Allowance) -> AppriseNotifier:
    """WeChat official account template message through our ``wxoa://`` plugin."""
    import notifiers.wechat_official  # noqa: F401  (registers the wxoa:// scheme)

    def url_for(message: OutgoingMessage) -> str | None:
        if not message.address:
            return None
        query = {"template": config["template_id"], "base": config["base_url"]}
        if message.link:
            query["link"] = message.link
        return (
            f"wxoa://{_q(config['app_id'])}:{_q(config['secret'])}@wechat/"
            f"{_q(message.address)}?{urlencode(query)}"
        )

    return AppriseNotifier(
        url_for,
        secrets=(config["secret"],),
        allowed=allowed,
        check=_base_check(Channel.wechat_oa, config["base_url"], allowed),
    )


def sms_notifier(
    secret_id: str,
    secret_key: str,
    sdk_app_id: str,
    sign_name: str,
    template_id: str,
    region: str,
    base_url: str,
) -> AppriseNotifier:
    """Tencent Cloud SMS through our ``tcsms://`` plugin: the platform's own account (the
    operator's settings, ``AIMIS_SMS_*``), the address a phone number (E.164
    digits), the body the template's parameters one a line."""
    import notifiers.tencent_sms  # noqa: F401  (registers the tcsms:// scheme)

    def url_for(message: OutgoingMessage) -> str | None:
        if not (message.address.isascii() and message.address.isdigit()):
            return None
        query = urlencode(
            {"sign": sign_name, "template": template_id, "region": region, "base": base_url}
        )
        return (
            f"tcsms://{_q(secret_id)}:{_q(secret_key)}@{_q(sdk_app_id)}/{message.address}?{query}"
        )

    return AppriseNotifier(url_for, secrets=(secret_key,))


def url_notifier(url: str) -> AppriseNotifier:
    """Every message to one fixed apprise URL (an operations copy)."""
    return AppriseNotifier(lambda _message: url)
