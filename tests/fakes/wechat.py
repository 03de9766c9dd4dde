"""A fake WeChat / WeCom API on loopback: records every request, answers like the real
servers, and can be told to fail the next N requests.

- WeCom: ``GET /cgi-bin/gettoken?corpid=&corpsecret=``, ``POST /cgi-bin/message/send?
  access_token=`` (application message), ``POST /cgi-bin/webhook/send?key=`` (group robot);
- official account: ``GET /cgi-bin/token?grant_type=client_credential&appid=&secret=``,
  ``POST /cgi-bin/message/template/send?access_token=``.
A send with a token this server never issued is refused with errcode 40014, as the real
servers do; each request records the status and answer it got."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int = 0
    answer: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.status == 200 and self.answer.get("errcode", 0) == 0


@dataclass
class FakeWeChat:
    requests: list[Recorded] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    hold_seconds: float = 0  # accept, then wait this long before answering (a slow server)
    tokens: set[str] = field(default_factory=set)
    # web authorisation (/sns/oauth2/access_token): code -> openid, each code usable once,
    # for the app whose appid and secret are these
    oauth_codes: dict[str, str] = field(default_factory=dict)
    oauth_app: tuple[str, str] = ("wx-patient-app", "patient-app-secret")
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def sent(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    def delivered(self, path: str) -> list[Recorded]:
        """The sends on ``path`` the server accepted (answered 200, errcode 0)."""
        return [r for r in self.sent(path) if r.accepted]

    def _answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_status, {"errcode": -1, "errmsg": "system busy"}
            if path in ("/cgi-bin/gettoken", "/cgi-bin/token"):
                token = "fake-token"  # the real servers, too, hand out one until it expires
                self.tokens.add(token)
                if path == "/cgi-bin/token":  # the official account answers without errcode
                    return 200, {"access_token": token, "expires_in": 7200}
                return 200, {
                    "errcode": 0,
                    "errmsg": "ok",
                    "access_token": token,
                    "expires_in": 7200,
                }
            if path == "/sns/oauth2/access_token":
                return self._oauth(query)
            if path == "/cgi-bin/webhook/send":
                return 200, {"errcode": 0, "errmsg": "ok"}
            if path in ("/cgi-bin/message/send", "/cgi-bin/message/template/send"):
                if query.get("access_token") not in self.tokens:
                    return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
                if path == "/cgi-bin/message/template/send":
                    return 200, {"errcode": 0, "errmsg": "ok", "msgid": len(self.requests)}
                return 200, {
                    "errcode": 0,
                    "errmsg": "ok",
                    "invaliduser": "",
                    "invalidparty": "",
                    "invalidtag": "",
                    "unlicenseduser": "",
                    "msgid": f"msg-{len(self.requests)}",
                }
            return 404, {"errcode": 404, "errmsg": "unknown path"}

    def start(self) -> FakeWeChat:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def _reply(self, status: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                try:
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):  # the client was killed
                    return

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                record = Recorded(method, url.path, query, body)
                fake.requests.append(record)
                status, answer = fake._answer(url.path, query)
                if fake.hold_seconds and status == 200:
                    time.sleep(fake.hold_seconds)
                record.status, record.answer = status, answer
                self._reply(status, answer)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _oauth(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """WeChat's answers: 40013 a wrong appid, 40125 a wrong secret, 40029 an unknown or
        used code; else the openid (and a web access token we do not use)."""
        if query.get("grant_type") != "authorization_code":
            return 200, {"errcode": 40002, "errmsg": "invalid grant_type"}
        if query.get("appid") != self.oauth_app[0]:
            return 200, {"errcode": 40013, "errmsg": "invalid appid"}
        if query.get("secret") != self.oauth_app[1]:
            return 200, {"errcode": 40125, "errmsg": "invalid appsecret"}
        openid = self.oauth_codes.pop(query.get("code", ""), None)
        if openid is None:
            return 200, {"errcode": 40029, "errmsg": "invalid code"}
        return 200, {
            "access_token": "web-token",
            "expires_in": 7200,
            "refresh_token": "web-refresh",
            "openid": openid,
            "scope": "snsapi_base",
        }

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
