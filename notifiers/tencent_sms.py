"""Tencent Cloud SMS (``SendSms``, API version 2021-01-11) as an apprise custom plugin.

A text message in mainland China goes out only through an approved signature (签名) and
template (模板); the message's *body* therefore holds the template's parameters, one a line
(the login code: the code, then its minutes). URL form::

    tcsms://SECRET_ID:SECRET_KEY@SDK_APP_ID/PHONE[/PHONE...]?sign=SIGN&template=TEMPLATE_ID&region=ap-guangzhou&base=https://sms.tencentcloudapi.com

Each request is signed with TC3-HMAC-SHA256 as Tencent Cloud's "Signature v3" describes:
the canonical request (method, ``/``, empty query, the ``content-type`` and ``host``
headers, their names, the body's SHA-256), the string to sign (algorithm, timestamp,
``<date>/sms/tc3_request``, the canonical request's SHA-256), and the key derived by
HMAC-SHA256 from ``"TC3" + SecretKey`` over the UTC date, the service and ``tc3_request``.
``base`` is configurable so that a gateway (and the tests' fake server on loopback) can be
reached. Imported only by the apprise adapter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from apprise.decorators import notify

log = logging.getLogger(__name__)

DEFAULT_BASE = "https://sms.tencentcloudapi.com"
SERVICE = "sms"
VERSION = "2021-01-11"
ACTION = "SendSms"
ALGORITHM = "TC3-HMAC-SHA256"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host"


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def signature(secret_key: str, host: str, body: str, timestamp: int) -> tuple[str, str]:
    """The request's signature and credential scope (TC3-HMAC-SHA256)."""
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{day}/{SERVICE}/tc3_request"
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\n",
            SIGNED_HEADERS,
            hashlib.sha256(body.encode()).hexdigest(),
        ]
    )
    to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), day), SERVICE), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest(), scope


def send_sms(
    base: str,
    secret_id: str,
    secret_key: str,
    payload: dict[str, Any],
    region: str,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """One signed ``SendSms`` call; its ``Response`` object. Raises on a transport error
    or on an ``Error`` answer."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    host = urlsplit(base).netloc
    at = int(time.time()) if timestamp is None else timestamp
    sig, scope = signature(secret_key, host, body, at)
    res = requests.post(
        base.rstrip("/") + "/",
        data=body.encode(),
        headers={
            "Authorization": (
                f"{ALGORITHM} Credential={secret_id}/{scope}, "
                f"SignedHeaders={SIGNED_HEADERS}, Signature={sig}"
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Version": VERSION,
            "X-TC-Timestamp": str(at),
            "X-TC-Region": region,
        },
        timeout=10,
    )
    res.raise_for_status()
    answer = res.json().get("Response", {})
    error = answer.get("Error")
    if error:
        raise RuntimeError(f"Tencent Cloud SMS refused: {error.get('Code')} {error.get('Message')}")
    return dict(answer)


@notify(on="tcsms", name="Tencent Cloud SMS")
def send_text_message(
    body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any
) -> bool:
    qsd = meta.get("qsd", {})
    secret_id, secret_key = unquote(meta.get("user") or ""), unquote(meta.get("password") or "")
    app_id = unquote(meta.get("host") or "")
    phones = [unquote(p) for p in (meta.get("fullpath") or "").split("/") if p]
    template, sign = qsd.get("template", ""), qsd.get("sign", "")
    if not (secret_id and secret_key and app_id and phones and template):
        log.warning("tcsms URL needs SECRET_ID:SECRET_KEY@SDK_APP_ID, a PHONE and template=")
        return False
    payload = {
        "PhoneNumberSet": [p if p.startswith("+") else f"+{p}" for p in phones],
        "SmsSdkAppId": app_id,
        "SignName": sign,
        "TemplateId": template,
        "TemplateParamSet": [line for line in body.splitlines() if line],
    }
    try:
        answer = send_sms(
            qsd.get("base", DEFAULT_BASE),
            secret_id,
            secret_key,
            payload,
            qsd.get("region", "ap-guangzhou"),
        )
    except (requests.RequestException, RuntimeError, ValueError) as exc:
        log.warning("Tencent Cloud SMS send failed: %s", exc)
        return False
    failed = [s for s in answer.get("SendStatusSet", []) if s.get("Code") != "Ok"]
    for status in failed:
        log.warning("Tencent Cloud SMS: %s %s", status.get("Code"), status.get("Message"))
    return not failed and bool(answer.get("SendStatusSet"))
