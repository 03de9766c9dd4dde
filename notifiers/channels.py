"""Which channel reaches a user, and the notifier for each configured channel.

The binding rule: e-mail when the account has an address and SMTP is configured, else the
dispatcher log. WeChat and WeCom bindings (``wechat_openid``, ``wecom_userid``) slot in here
as new channels with their own notifiers, ahead of e-mail as the hospital configures (§8.8).
"""

from __future__ import annotations

from dataclasses import dataclass

from aimis.settings import Settings
from notifiers.apprise_adapter import email_notifier, url_notifier
from notifiers.base import Channel, Notifier, OutgoingMessage, Recipient
from notifiers.log import LogNotifier


@dataclass
class Channels:
    notifiers: dict[Channel, Notifier]
    ops_copy: Notifier | None = None  # AIMIS_NOTIFY_LOG_URL: every message, secrets withheld

    def choose(self, recipient: Recipient) -> tuple[Channel, str]:
        """The channel and address a message to ``recipient`` goes to."""
        if recipient.email and Channel.email in self.notifiers:
            return Channel.email, recipient.email
        return Channel.log, recipient.username

    def notifier(self, channel: Channel) -> Notifier:
        return self.notifiers[channel]

    def ops_message(self, message: OutgoingMessage, user_id: int) -> OutgoingMessage:
        body = "(content withheld: it holds a secret)" if message.sensitive else message.body
        return OutgoingMessage(
            channel=message.channel,
            address="operations",
            title=f"[copy] {message.title}",
            body=f"To user {user_id} by {message.channel}: {body}",
        )


def build_channels(settings: Settings) -> Channels:
    notifiers: dict[Channel, Notifier] = {Channel.log: LogNotifier()}
    smtp_url = settings.smtp_url.get_secret_value()
    if smtp_url:
        notifiers[Channel.email] = email_notifier(smtp_url)
    ops = url_notifier(settings.notify_log_url) if settings.notify_log_url else None
    return Channels(notifiers, ops)
