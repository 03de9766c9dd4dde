"""A fake Tencent Cloud SMS API on loopback: records every request and checks its
TC3-HMAC-SHA256 signature the way Tencent Cloud's "Signature v3" page describes, written
here on its own (not with the plugin's code), so a wrong signature is refused as the real
server refuses it (``AuthFailure.SignatureFailure``)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class SmsRequest:
    headers: dict[str, str]
    body: dict[str, Any]
    signature_ok: bool
    answer: dict[str, Any] = field(default_factory=dict)


def _sign(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


@dataclass
class FakeTencentSms:
    secret_id: str = "AKIDfakeSecretId0000000000000000"
    secret_key: str = "fakeSecretKey0000000000000000000"
    requests: list[SmsRequest] = field(default_factory=list)
    max_skew_seconds: int = 300
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def _verify(self, headers: dict[str, str], raw: bytes) -> str:
        """Empty when the request is signed right, else the error code Tencent answers."""
        auth = headers.get("authorization", "")
        if not auth.startswith("TC3-HMAC-SHA256 "):
            return "AuthFailure.SignatureFailure"
        parts = dict(p.strip().split("=", 1) for p in auth[len("TC3-HMAC-SHA256 ") :].split(","))
        credential = parts.get("Credential", "").split("/")
        if len(credential) != 4 or credential[0] != self.secret_id:
            return "AuthFailure.SecretIdNotFound"
        timestamp = int(headers.get("x-tc-timestamp", "0"))
        if abs(time.time() - timestamp) > self.max_skew_seconds:
            return "AuthFailure.SignatureExpire"
        day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        if credential[1:] != [day, "sms", "tc3_request"]:
            return "AuthFailure.SignatureFailure"
        signed = parts.get("SignedHeaders", "").split(";")
        canonical_headers = "".join(f"{h}:{headers.get(h, '').strip().lower()}\n" for h in signed)
        canonical = (
            f"POST\n/\n\n{canonical_headers}\n{';'.join(signed)}\n"
            + hashlib.sha256(raw).hexdigest()
        )
        scope = f"{day}/sms/tc3_request"
        to_sign = (
            f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n"
            + hashlib.sha256(canonical.encode()).hexdigest()
        )
        key = _sign(_sign(_sign(("TC3" + self.secret_key).encode(), day), "sms"), "tc3_request")
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts.get("Signature", "")):
            return "AuthFailure.SignatureFailure"
        if "content-type" not in signed or "host" not in signed:
            return "AuthFailure.SignatureFailure"
        return ""

    def start(self) -> FakeTencentSms:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                error = fake._verify(headers, raw)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {}
                record = SmsRequest(headers, body, not error)
                answer: dict[str, Any]
                if error:
                    answer = {"Error": {"Code": error, "Message": "refused"}, "RequestId": "r1"}
                elif headers.get("x-tc-action") != "SendSms":
                    answer = {"Error": {"Code": "InvalidAction", "Message": "?"}, "RequestId": "r"}
                else:
                    answer = {
                        "SendStatusSet": [
                            {
                                "SerialNo": f"serial-{len(fake.requests)}",
                                "PhoneNumber": phone,
                                "Fee": 1,
                                "SessionContext": "",
                                "Code": "Ok",
                                "Message": "send success",
                                "IsoCode": "CN",
                            }
                            for phone in body.get("PhoneNumberSet", [])
                        ],
                        "RequestId": f"req-{len(fake.requests)}",
                    }
                record.answer = answer
                fake.requests.append(record)
                out = json.dumps({"Response": answer}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
