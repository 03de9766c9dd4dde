"""The notifier contract: one message to one address on one channel, one typed result.

Every channel (the dispatcher log, e-mail, and later WeChat official account, WeCom
application message, WeCom group robot, SMS gateway) implements ``Notifier``; callers never
know which library delivers. Messages carry no database rows, only what is sent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

import msgspec

# How the delivery log marks a row whose earlier attempt died mid-send (``flows/notify.py``).
DUPLICATE_NOTE = "possible duplicate"


class Channel(StrEnum):
    log = "log"  # the dispatcher's console: the embedded demo, and the fallback
    email = "email"  # apprise mailto:// / mailtos:// (AIMIS_SMTP_URL, or the hospital's server)
    wecom_app = "wecom_app"  # apprise wechat://corpid:secret@agentid/userid (WeCom app message)
    wecom_bot = "wecom_bot"  # apprise wecombot://key (WeCom group robot: one post per group)
    wechat_oa = "wechat_oa"  # our wxoa:// plugin (WeChat official account template message)
    sms = "sms"  # our tcsms:// plugin (Tencent Cloud SMS): the platform's, for codes


HOSPITAL_CHANNELS = (Channel.wecom_app, Channel.wecom_bot, Channel.wechat_oa, Channel.email)


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    """Where a user can be reached: the bindings on the account."""

    user_id: int
    username: str
    hospital_id: int | None = None
    department_id: int | None = None
    email: str = ""
    wechat_openid: str = ""
    wecom_userid: str = ""
    language: str = "zh"


class OutgoingMessage(msgspec.Struct, frozen=True, kw_only=True):
    """One message for one address. ``address`` depends on the channel: an e-mail address,
    a WeCom user id, an openid, nothing for a group robot; for ``log`` the user name. The
    hospital channel's settings are read by id when it is sent. ``sensitive`` marks a secret
    (a verification code): such a body is never copied anywhere but to its recipient."""

    channel: Channel
    address: str
    title: str
    body: str
    sensitive: bool = False
    link: str = ""  # the page the message points to (an official account template's url)
    channel_id: int | None = None  # a hospital's configured channel; None: the platform's


class DeliveryResult(msgspec.Struct, frozen=True, kw_only=True):
    """``retryable=False`` says trying again cannot help (a malformed address or URL)."""

    ok: bool
    error: str = ""
    retryable: bool = True


class Notifier(Protocol):
    async def send(self, message: OutgoingMessage) -> DeliveryResult: ...
