"""WeChat official account template messages as an apprise custom plugin.

apprise has no plugin for the official account (DESIGN.md), so this one speaks the real API:
``GET {base}/cgi-bin/token`` for an access token, then ``POST {base}/cgi-bin/message/
template/send`` per recipient. URL form::

    wxoa://APPID:SECRET@wechat/OPENID[/OPENID...]?template=TEMPLATE_ID&base=https://api.weixin.qq.com&link=URL

``base`` is configurable so that a hospital behind a gateway (and the tests' fake server on
loopback) can be reached. Imported only by the apprise adapter.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any
from urllib.parse import unquote

import requests
from apprise.decorators import notify

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://api.weixin.qq.com"
TOKEN_ERRORS = {40001, 40014, 42001}  # invalid or expired access token: fetch a new one
_tokens: dict[tuple[str, str], tuple[str, float]] = {}
_lock = threading.Lock()


def _token(base: str, appid: str, secret: str, refresh: bool = False) -> str:
    key = (base, appid)
    with _lock:
        cached = _tokens.get(key)
        if cached and not refresh and cached[1] > time.monotonic():
            return cached[0]
    res = requests.get(
        f"{base}/cgi-bin/token",
        params={"grant_type": "client_credential", "appid": appid, "secret": secret},
        timeout=10,
    )
    res.raise_for_status()
    data = res.json()
    if not data.get("access_token"):
        raise RuntimeError(f"WeChat token refused: {data.get('errcode')} {data.get('errmsg')}")
    ttl = max(60, int(data.get("expires_in", 7200)) - 300)
    with _lock:
        _tokens[key] = (data["access_token"], time.monotonic() + ttl)
    return str(data["access_token"])


def _send_one(base: str, appid: str, secret: str, payload: dict[str, Any]) -> None:
    for attempt in (1, 2):
        token = _token(base, appid, secret, refresh=attempt == 2)
        res = requests.post(
            f"{base}/cgi-bin/message/template/send",
            params={"access_token": token},
            json=payload,
            timeout=10,
        )
        res.raise_for_status()
        data = res.json()
        code = int(data.get("errcode", 0))
        if code == 0:
            return
        if code not in TOKEN_ERRORS or attempt == 2:
            raise RuntimeError(f"WeChat template send failed: {code} {data.get('errmsg')}")


@notify(on="wxoa", name="WeChat Official Account template message")
def send_template_message(
    body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any
) -> bool:
    qsd = meta.get("qsd", {})
    appid, secret = unquote(meta.get("user") or ""), unquote(meta.get("password") or "")
    openids = [unquote(p) for p in (meta.get("fullpath") or "").split("/") if p]
    template = qsd.get("template", "")
    base = qsd.get("base", DEFAULT_BASE).rstrip("/")
    if not (appid and secret and openids and template):
        log.warning("wxoa URL needs APPID:SECRET, at least one OPENID and template=")
        return False
    data = {
        qsd.get("title_key", "first"): {"value": title},
        qsd.get("body_key", "keyword1"): {"value": body},
    }
    if qsd.get("remark"):
        data["remark"] = {"value": qsd["remark"]}
    ok = True
    for openid in openids:
        payload: dict[str, Any] = {"touser": openid, "template_id": template, "data": data}
        if qsd.get("link"):
            payload["url"] = qsd["link"]
        try:
            _send_one(base, appid, secret, payload)
        except (requests.RequestException, RuntimeError, ValueError) as exc:
            log.warning("WeChat template message to one recipient failed: %s", exc)
            ok = False
    return ok
