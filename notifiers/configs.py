"""What a hospital configures for each channel kind (SPEC 8.8), and the checks on it.

A channel's settings are a flat JSON object. Each kind names its fields; a field marked
``secret`` (an app secret, a robot's webhook key, an SMTP URL with its password) is
write-only: it is stored, used by the notifier, and never shown again — a reader learns
only whether it is set. ``base_url`` is the API host: Tencent's real hosts by default, another
only when the platform's operator allows it (a gateway; the tests' servers on loopback), see
``notifiers.outbound``; a hospital's own mail server must be a public host likewise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kernel import i18n
from notifiers import outbound
from notifiers.base import Channel

WECOM_BASE = f"https://{outbound.WECOM_HOST}"
WECHAT_BASE = f"https://{outbound.WECHAT_HOST}"

IDENT = re.compile(r"[A-Za-z0-9_-]{1,128}")
DIGITS = re.compile(r"[0-9]{1,20}")
OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")  # official-account openids are 28 characters
WECOM_USERID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")  # WeCom: 1–64, no spaces


class ConfigProblem(ValueError):
    """A sentence for the admin: what is wrong with the channel's settings (a catalogue id and
    its placeholders' values, ``kernel.i18n``)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(i18n.format(message, **params))
        self.message, self.params = message, params


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    pattern: re.Pattern[str] | None = IDENT
    required: bool = True
    secret: bool = False
    default: str = ""


KIND_LABELS: dict[Channel, str] = {
    Channel.wecom_app: i18n.N_("WeCom application message"),
    Channel.wecom_bot: i18n.N_("WeCom group robot"),
    Channel.wechat_oa: i18n.N_("WeChat official account template message"),
    Channel.email: i18n.N_("E-mail"),
}

FIELDS: dict[Channel, tuple[Field, ...]] = {
    Channel.wecom_app: (
        Field("corp_id", "corp ID (CorpID)"),
        Field("agent_id", "application AgentId", DIGITS),
        Field("secret", "application Secret", secret=True),
        Field("base_url", "API host", None, required=False, default=WECOM_BASE),
    ),
    Channel.wecom_bot: (
        Field("key", "webhook key", secret=True),
        Field("base_url", "API host", None, required=False, default=WECOM_BASE),
    ),
    Channel.wechat_oa: (
        Field("app_id", "AppID"),
        Field("secret", "AppSecret", secret=True),
        Field("template_id", "template ID"),
        Field("base_url", "API host", None, required=False, default=WECHAT_BASE),
    ),
    Channel.email: (
        # Empty: the platform's mail server (AIMIS_SMTP_URL).
        Field("smtp_url", "mail server URL", None, required=False, secret=True),
    ),
}

# The binding a user-addressed kind needs on the account; the robot needs none.
BINDINGS: dict[Channel, str] = {
    Channel.wecom_app: "wecom_userid",
    Channel.wechat_oa: "wechat_openid",
    Channel.email: "email",
}


def kind_of(value: str) -> Channel:
    try:
        kind = Channel(value)
    except ValueError:
        kind = Channel.log
    if kind not in FIELDS:
        raise ConfigProblem(
            f"{value[:20]!r} is not a channel kind; use one of: {', '.join(FIELDS)}."
        )
    return kind


def _check_base_url(kind: Channel, value: str) -> str:
    try:
        return outbound.check_base_url(kind, value)
    except outbound.Refused as exc:
        raise ConfigProblem(exc.message, **exc.params) from None


def _check_smtp_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("mailto", "mailtos") or not parts.hostname:
        raise ConfigProblem(
            "The mail server URL is an apprise mailto:// or mailtos:// URL, e.g. "
            "mailtos://user:password@smtp.example.com:465?from=aimis@example.com."
        )
    try:
        outbound.check_smtp_url(value)
    except outbound.Refused as exc:
        raise ConfigProblem(exc.message, **exc.params) from None
    return value


def check_config(
    kind: Channel, given: dict[str, Any], stored: dict[str, str] | None = None
) -> dict[str, str]:
    """The settings to store: ``given`` over ``stored``; an empty secret keeps the stored one.

    Raises ``ConfigProblem`` naming the field when something is missing or malformed.
    """
    fields = {f.name: f for f in FIELDS[kind]}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ConfigProblem(
            f"A {KIND_LABELS[kind]} channel has no setting {unknown[0]!r}; "
            f"its settings are: {', '.join(fields)}."
        )
    out = dict(stored or {})
    for name, value in given.items():
        if not isinstance(value, str):
            raise ConfigProblem(f"The {fields[name].label} must be text.")
        value = value.strip()
        if value or not fields[name].secret:
            out[name] = value
    for f in fields.values():
        value = out.get(f.name, "") or f.default
        if not value:
            if f.required:
                raise ConfigProblem(f"The {f.label} of the {KIND_LABELS[kind]} is missing.")
            out[f.name] = ""
            continue
        if f.name == "base_url":
            value = _check_base_url(kind, value)
        elif f.name == "smtp_url":
            value = _check_smtp_url(value)
        elif f.pattern is not None and not f.pattern.fullmatch(value):
            raise ConfigProblem(
                f"The {f.label} may hold only letters, digits, '-' and '_' (at most 128)."
                if f.pattern is IDENT
                else f"The {f.label} is a number."
            )
        out[f.name] = value
    return out


def public_view(kind: Channel, config: dict[str, str]) -> tuple[dict[str, str], dict[str, bool]]:
    """What an admin may read back: the plain settings, and for each secret whether it is set."""
    plain = {f.name: config.get(f.name, "") for f in FIELDS[kind] if not f.secret}
    secrets = {f.name: bool(config.get(f.name)) for f in FIELDS[kind] if f.secret}
    return plain, secrets


def check_binding(binding: str, value: str) -> str:
    """A user's openid / WeCom user id, checked; empty clears the binding."""
    value = value.strip()
    if not value:
        return ""
    if binding == "wechat_openid" and not OPENID.fullmatch(value):
        raise ConfigProblem(
            "A WeChat openid has 6–64 letters, digits, '-' or '_' (the official account "
            "shows it as 28 characters, e.g. oUpF8uMuAJO_M2pxb1Q9zNjWeS6o)."
        )
    if binding == "wecom_userid" and not WECOM_USERID.fullmatch(value):
        raise ConfigProblem(
            "A WeCom user id (账号) has 1–64 letters, digits, '.', '_', '-' or '@' and starts "
            "with a letter or digit."
        )
    return value
