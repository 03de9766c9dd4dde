"""Where a hospital's notification channel may send (issue 12: server-side request forgery).

A hospital admin sets his channels' API host (``base_url``) and his mail server
(``smtp_url``). Unchecked, that lets him make the platform send requests to its own loopback,
the cloud's metadata address or the hospital network behind it. So:

- The WeCom and WeChat channels go to Tencent's hosts only (``https://qyapi.weixin.qq.com``,
  ``https://api.weixin.qq.com``); a hospital's own mail server is any host on the public
  internet.
- Loopback, link-local (169.254/16, fe80::/10), private (10/8, 172.16/12, 192.168/16,
  fc00::/7, 100.64/10), unspecified, multicast and reserved addresses are refused, as are
  names that resolve to one.
- The operator (never a hospital admin) lists exceptions in ``AIMIS_NOTIFY_ALLOWED_HOSTS``:
  comma-separated host names, IP addresses or networks, each optionally with ``:port``
  (``gateway.example.org, 10.20.0.0/16, 127.0.0.1:8080``). A listed host is allowed for
  every kind, under any address it resolves to.

The check runs when the admin saves (a 400 naming the reason), again before each send, and
once more at the moment each connection is made (``guarded``: a ``socket.connect`` audit
hook, PEP 578, scoped by a context variable to the send): a name that resolves differently
at send time (DNS rebinding), a redirect to another address or a plugin's own connection
are all held to the address actually connected to.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kernel import i18n
from notifiers.base import Channel

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

WECOM_HOST = "qyapi.weixin.qq.com"
WECHAT_HOST = "api.weixin.qq.com"
# The one host each HTTP channel reaches by default; e-mail has no provider: any public host.
PROVIDER_HOSTS: dict[Channel, str] = {
    Channel.wecom_app: WECOM_HOST,
    Channel.wecom_bot: WECOM_HOST,
    Channel.wechat_oa: WECHAT_HOST,
}
SETTING = "AIMIS_NOTIFY_ALLOWED_HOSTS"

# scheme://host[:port][/path] and nothing else: no user info, query, fragment, backslash or
# space, so that every URL parser on the way reads the same host as this check.
HTTP_URL = re.compile(
    r"(?P<scheme>https?)://(?P<host>[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])"
    r"(?::(?P<port>[0-9]{1,5}))?(?P<path>/[A-Za-z0-9._~/-]*)?"
)
HOST = re.compile(r"[A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]|[0-9A-Fa-f:.]{2,45}")


class Refused(ValueError):
    """A destination the policy refuses: the English sentence (a catalogue id) and its
    placeholders' values (``kernel.i18n``)."""

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(i18n.format(message, **params))
        self.message, self.params = message, params


@dataclass(frozen=True)
class Allowance:
    """The operator's exceptions (``AIMIS_NOTIFY_ALLOWED_HOSTS``), parsed."""

    names: frozenset[tuple[str, int | None]] = frozenset()
    networks: tuple[tuple[Network, int | None], ...] = ()

    def allows_name(self, host: str, port: int) -> bool:
        host = _norm(host)
        return (
            (host, None) in self.names
            or (host, port) in self.names
            or ((ip := _ip(host)) is not None and self.allows_ip(ip, port))
        )

    def allows_ip(self, ip: IP, port: int) -> bool:
        return any(ip in net and want in (None, port) for net, want in self.networks)


def _norm(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def _ip(host: str) -> IP | None:
    try:
        ip = ipaddress.ip_address(_norm(host).split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def parse_allowance(text: str) -> Allowance:
    """``AIMIS_NOTIFY_ALLOWED_HOSTS``: names, addresses or networks, each with an optional
    ``:port``; a malformed entry stops the process that reads it (the operator's mistake)."""
    names: set[tuple[str, int | None]] = set()
    networks: list[tuple[Network, int | None]] = []
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            continue
        port: int | None = None
        head, sep, tail = entry.rpartition(":")
        # a port follows a name, an IPv4 address or network, or a bracketed IPv6 address
        if sep and tail.isdigit() and (head.endswith("]") or ":" not in head):
            entry, port = head, int(tail)
        entry = entry.strip("[]")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"{SETTING}: {raw.strip()!r} has no port {port}")
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            if not HOST.fullmatch(entry):
                raise ValueError(f"{SETTING}: {raw.strip()!r} is not a host[:port]") from None
            names.add((_norm(entry), port))
        else:
            networks.append((net, port))
    return Allowance(frozenset(names), tuple(networks))


@lru_cache(maxsize=8)
def _cached_allowance(text: str) -> Allowance:
    return parse_allowance(text)


def allowance() -> Allowance:
    from kernel.settings import get_settings

    return _cached_allowance(get_settings().notify.allowed_hosts)


def non_public(ip: IP) -> str:
    """What kind of address this is when it is not on the public internet, else ""."""
    if ip.is_loopback:
        return i18n.N_("a loopback address")
    if ip.is_link_local:
        return i18n.N_("a link-local address")
    if ip.is_unspecified:
        return i18n.N_("the unspecified address")
    if ip.is_multicast:
        return i18n.N_("a multicast address")
    if ip.is_private or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED):
        return i18n.N_("a private address")
    if ip.is_reserved or not ip.is_global:
        return i18n.N_("a reserved address")
    return ""


_SHARED = ipaddress.ip_network("100.64.0.0/10")


def resolve(host: str, port: int) -> list[IP]:
    """The addresses ``host`` resolves to now; [] when it does not resolve."""
    if (ip := _ip(host)) is not None:
        return [ip]
    try:
        infos = socket.getaddrinfo(_norm(host), port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    out: list[IP] = []
    for info in infos:
        if (ip := _ip(str(info[4][0]))) is not None and ip not in out:
            out.append(ip)
    return out


def _refuse_address(what: str, host: str, ip: IP, kind: str) -> Refused:
    shown = (
        host
        if str(ip) == _norm(host)
        else i18n.Msg("{host} (it resolves to {ip})", host=host, ip=ip)
    )
    return Refused(
        "The {what} {shown} is {kind}; the platform sends only to hosts on the public "
        "internet unless its operator allows the host ({setting}).",
        what=i18n.Msg(what),
        shown=shown,
        kind=i18n.Msg(kind),
        setting=SETTING,
    )


def check_host(
    kind: Channel,
    scheme: str,
    host: str,
    port: int,
    *,
    allowed: Allowance,
    what: str = i18n.N_("API host"),
) -> None:
    """Refuse (``Refused``) a destination of a hospital's ``kind`` channel that is not the
    provider's (HTTP kinds) or not public (any kind), unless the operator allowed it."""
    if allowed.allows_name(host, port):
        return
    if (ip := _ip(host)) is not None and (bad := non_public(ip)):
        raise _refuse_address(what, host, ip, bad)
    provider = PROVIDER_HOSTS.get(kind)
    if provider is not None:
        if _norm(host) != provider:
            raise Refused(
                "The {what} {host} is not {provider}, the provider's; a gateway of "
                "your own needs the platform operator's permission ({setting}).",
                what=what,
                host=host,
                provider=provider,
                setting=SETTING,
            )
        if scheme != "https":
            raise Refused(
                "{provider} is reached over https:// only.",
                provider=provider,
            )
        return  # Tencent's name; where it leads is checked as each connection is made
    for address in resolve(host, port):
        if (bad := non_public(address)) and not allowed.allows_ip(address, port):
            raise _refuse_address(what, host, address, bad)


def check_base_url(kind: Channel, value: str, allowed: Allowance | None = None) -> str:
    """A channel's API host as it is stored: ``scheme://host[:port][/path]``, allowed."""
    value = value.strip().rstrip("/")
    match = HTTP_URL.fullmatch(value)
    if match is None:
        raise Refused(
            "The API host {value!r} is not a web address like "
            "https://{provider_hosts} (no user, query or fragment).",
            value=value[:80],
            provider_hosts=PROVIDER_HOSTS.get(kind, WECOM_HOST),
        )
    scheme, host = match["scheme"], match["host"]
    port = int(match["port"] or (443 if scheme == "https" else 80))
    if not 0 < port < 65536:
        raise Refused("The port {port} does not exist.", port=port)
    check_host(kind, scheme, host, port, allowed=allowance() if allowed is None else allowed)
    return value


def smtp_hosts(smtp_url: str) -> list[tuple[str, int]]:
    """The hosts an apprise mailto(s):// URL makes the mail plugin connect to: the URL's
    host, or the ``smtp=`` server it names."""
    parts = urlsplit(smtp_url)
    secure = parts.scheme == "mailtos"
    try:
        port = parts.port or (465 if secure else 25)
    except ValueError:
        port = 0
    hosts = [(parts.hostname or "", port)]
    for name in parse_qs(parts.query).get("smtp", []):
        hosts.append((name, port))
    return hosts


def check_smtp_url(value: str, allowed: Allowance | None = None) -> None:
    allowed = allowance() if allowed is None else allowed
    for host, port in smtp_hosts(value):
        if not HOST.fullmatch(host) or not 0 < port < 65536:
            raise Refused(
                "The mail server {host!r}:{port} is not a host name or address.",
                host=host[:80],
                port=port,
            )
        check_host(Channel.email, "smtp", host, port, allowed=allowed, what=i18n.N_("mail server"))


# --- at the moment of connecting --------------------------------------------------------------


@dataclass
class Guard:
    """One send's connections: every address connected to is checked; refusals are kept so
    the delivery log can say what was refused (the plugin only sees a failed connection)."""

    allowed: Allowance
    refused: list[str] = field(default_factory=list)
    _names: dict[str, list[IP]] = field(default_factory=dict)

    def problem(self, host: str, port: int) -> str:
        ips = [ip] if (ip := _ip(host)) is not None else resolve(host, port)
        for ip in ips:
            kind = non_public(ip)
            if not kind or self.allowed.allows_ip(ip, port) or self._allowed_name(ip, port):
                continue
            return (
                f"refused to connect to {ip}:{port}, {kind}: the platform sends only to hosts "
                f"on the public internet unless its operator allows the host ({SETTING})"
            )
        return ""

    def _allowed_name(self, ip: IP, port: int) -> bool:
        """Is ``ip`` an address of an allowed name (resolved now, once per send)?"""
        for name, want in self.allowed.names:
            if want not in (None, port):
                continue
            if name not in self._names:
                self._names[name] = resolve(name, port)
            if ip in self._names[name]:
                return True
        return False


_current: contextvars.ContextVar[Guard | None] = contextvars.ContextVar(
    "aimis_outbound_guard", default=None
)
_installed = False
_install_lock = threading.Lock()


class BlockedConnection(ConnectionRefusedError):
    """Raised inside ``socket.connect``: libraries treat it as the refused connection it is."""


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect":
        return
    guard = _current.get()
    if guard is None:
        return
    address = args[1]
    if not isinstance(address, tuple) or len(address) < 2:
        return  # a Unix socket: not a network destination
    host, port = str(address[0]), int(address[1])
    if reason := guard.problem(host, port):
        guard.refused.append(reason)
        raise BlockedConnection(reason)


def _install() -> None:
    global _installed
    with _install_lock:
        if not _installed:
            sys.addaudithook(_audit)  # for the life of the process; idle outside ``guarded``
            _installed = True


@contextmanager
def guarded(allowed: Allowance) -> Iterator[Guard]:
    """Check every connection made in this context (and in threads started with a copy of
    it, as apprise's executor does) against the policy."""
    _install()
    guard = Guard(allowed)
    token = _current.set(guard)
    try:
        yield guard
    finally:
        _current.reset(token)
