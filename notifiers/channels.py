"""Which channel reaches a user, and the notifier for each configured channel.

The platform's fallback: e-mail when the account has an address and SMTP is configured,
else the dispatcher log. A hospital's own channels (WeCom app, WeCom robot, WeChat official
account, its own mail server; SPEC 8.8) are chosen by its rules in ``flows/notify.py``;
``hospital_notifier`` builds the notifier of one such channel from its stored settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kernel.settings import Settings
from notifiers.apprise_adapter import (
    email_notifier,
    sms_notifier,
    url_notifier,
    wechat_oa_notifier,
    wecom_app_notifier,
    wecom_bot_notifier,
)
from notifiers.base import Channel, Notifier, OutgoingMessage, Recipient
from notifiers.log import LogNotifier
from notifiers.outbound import Allowance, parse_allowance


@dataclass
class Channels:
    notifiers: dict[Channel, Notifier]
    ops_copy: Notifier | None = None  # AIMIS_NOTIFY_LOG_URL: every message, secrets withheld
    platform_smtp_url: str = ""  # a hospital's e-mail channel without a server of its own
    token_storage: Path | None = None  # where WeCom access tokens are cached between sends
    # the operator's exceptions to the outbound rule of hospital channels (notifiers.outbound)
    allowed: Allowance = field(default_factory=Allowance)

    def choose(self, recipient: Recipient) -> tuple[Channel, str]:
        """The channel and address a message to ``recipient`` goes to."""
        if recipient.email and Channel.email in self.notifiers:
            return Channel.email, recipient.email
        return Channel.log, recipient.username

    def notifier(self, channel: Channel) -> Notifier:
        return self.notifiers[channel]

    def hospital_notifier(self, kind: Channel, config: dict[str, str]) -> Notifier | None:
        """The notifier of a hospital's channel; None when it cannot send (e-mail with
        neither the hospital's nor the platform's mail server)."""
        if kind == Channel.wecom_app:
            return wecom_app_notifier(config, self.token_storage, self.allowed)
        if kind == Channel.wecom_bot:
            return wecom_bot_notifier(config, self.allowed)
        if kind == Channel.wechat_oa:
            return wechat_oa_notifier(config, self.allowed)
        if kind == Channel.email:
            if config.get("smtp_url"):  # the hospital's own server: held to the outbound rule
                return email_notifier(config["smtp_url"], self.allowed)
            smtp_url = self.platform_smtp_url
            return email_notifier(smtp_url) if smtp_url else None
        return None

    def ops_message(self, message: OutgoingMessage, user_id: int | None) -> OutgoingMessage:
        body = "(content withheld: it holds a secret)" if message.sensitive else message.body
        who = "the group" if user_id is None else f"user {user_id}"
        return OutgoingMessage(
            channel=message.channel,
            address="operations",
            title=f"[copy] {message.title}",
            body=f"To {who} by {message.channel}: {body}",
        )


def platform_sms(settings: Settings, template_id: str | None = None) -> Notifier | None:
    """The platform's Tencent Cloud SMS account (``AIMIS_SMS_*``) with one of its approved
    templates (the codes' by default; the cloud-film notice's), None when not configured."""
    sms = settings.sms
    if not sms.configured or template_id == "":
        return None
    return sms_notifier(
        sms.secret_id,
        sms.secret_key.get_secret_value(),
        sms.sdk_app_id,
        sms.sign_name,
        sms.template_id if template_id is None else template_id,
        sms.region,
        sms.base_url,
    )


def build_channels(settings: Settings) -> Channels:
    notifiers: dict[Channel, Notifier] = {Channel.log: LogNotifier()}
    sms = platform_sms(settings)
    if sms is not None:
        notifiers[Channel.sms] = sms
    smtp_url = settings.notify.smtp_url.get_secret_value()
    if smtp_url:
        notifiers[Channel.email] = email_notifier(smtp_url)
    ops = url_notifier(settings.notify.log_url) if settings.notify.log_url else None
    return Channels(
        notifiers,
        ops,
        smtp_url,
        settings.server.data_dir / "apprise",
        parse_allowance(settings.notify.allowed_hosts),
    )
