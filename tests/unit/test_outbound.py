"""The outbound rule of hospital notification channels (notifiers/outbound.py): which
addresses are not public, how the operator's exceptions are read, and the stored form of an
API host. The end-to-end proof (save → 400, send → refused, nothing arrives) is
tests/integration/test_notification_outbound.py."""

from __future__ import annotations

import ipaddress

import pytest

from notifiers.base import Channel
from notifiers.outbound import (
    Allowance,
    Refused,
    check_base_url,
    check_smtp_url,
    non_public,
    parse_allowance,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.255.0.9", "a loopback address"),
        ("::1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("10.0.0.1", "a private address"),
        ("172.31.255.255", "a private address"),
        ("192.168.0.1", "a private address"),
        ("fd12::1", "a private address"),
        ("100.64.0.1", "a private address"),
        ("0.0.0.0", "the unspecified address"),
        ("::", "the unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "not public"),  # reserved (Python versions differ in the word)
        ("203.0.113.7", "not public"),  # documentation range
        ("8.8.8.8", ""),
        ("2400:da00::6666", ""),
    ],
)
def test_non_public(address: str, kind: str) -> None:
    found = non_public(ipaddress.ip_address(address))
    assert found != "" if kind == "not public" else found == kind


def test_the_operators_exceptions() -> None:
    allowed = parse_allowance(
        " gw.Example.org., 10.20.0.0/16 , 127.0.0.1:8080, [::1]:9000, fc00::/7"
    )
    assert allowed.allows_name("GW.example.org", 443)
    assert allowed.allows_name("10.20.3.4", 25) and not allowed.allows_name("10.21.0.1", 25)
    assert allowed.allows_name("127.0.0.1", 8080) and not allowed.allows_name("127.0.0.1", 8081)
    assert allowed.allows_name("[::1]", 9000) and not allowed.allows_name("::1", 9001)
    assert allowed.allows_name("fd00::7", 80)
    assert parse_allowance("") == Allowance()
    for bad in ("http://gw.example.org", "gw.example.org:99999", "a b"):
        with pytest.raises(ValueError, match="AIMIS_NOTIFY_ALLOWED_HOSTS"):
            parse_allowance(bad)


def test_api_hosts() -> None:
    none = Allowance()
    wecom, oa = Channel.wecom_app, Channel.wechat_oa
    assert check_base_url(wecom, " https://qyapi.weixin.qq.com/ ", none) == (
        "https://qyapi.weixin.qq.com"
    )
    assert check_base_url(oa, "https://API.weixin.qq.com.", none)
    for kind, url in (
        (oa, "https://qyapi.weixin.qq.com"),  # the other provider's host
        (wecom, "https://api.weixin.qq.com"),
        (wecom, "https://qyapi.weixin.qq.com.attacker.example"),
        (wecom, "https://qyapi.weixin.qq.com?x=1"),
        (wecom, "ftp://qyapi.weixin.qq.com"),
        (wecom, "http://2130706433"),  # 127.0.0.1 as one number
        (wecom, "http://0x7f.1"),
    ):
        with pytest.raises(Refused):
            check_base_url(kind, url, none)
    gateway = parse_allowance("gw.example.org")
    assert check_base_url(wecom, "http://gw.example.org:8080/wecom", gateway)


def test_mail_servers() -> None:
    none = Allowance()
    check_smtp_url("mailtos://u:p@203.0.114.9:465?from=a@b.example", none)  # public address
    for url in (
        "mailto://127.0.0.1",
        "mailtos://u:p@mail.example.org?smtp=10.1.1.1",
        "mailto://[::ffff:10.0.0.1]:25",
    ):
        with pytest.raises(Refused):
            check_smtp_url(url, none)
    check_smtp_url("mailto://127.0.0.1:2525", parse_allowance("127.0.0.1:2525"))
