"""A fake WeChat / WeCom API on loopback: records every request, answers like the real
servers (token endpoints, WeCom app message, WeCom group robot, official-account template
message), and can be told to fail the next N requests."""

from __future__ import annotations

import json
import threading
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


@dataclass
class FakeWeChat:
    requests: list[Recorded] = field(default_factory=list)
    fail_next: int = 0
    fail_status: int = 500
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def sent(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

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
                self.wfile.write(raw)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode(errors="replace")
                fake.requests.append(Recorded(method, url.path, query, body))
                if fake.fail_next > 0:
                    fake.fail_next -= 1
                    self._reply(fake.fail_status, {"errcode": -1, "errmsg": "system busy"})
                    return
                if url.path in ("/cgi-bin/gettoken", "/cgi-bin/token"):
                    self._reply(
                        200, {"errcode": 0, "access_token": "fake-token", "expires_in": 7200}
                    )
                elif url.path == "/cgi-bin/message/template/send":
                    self._reply(200, {"errcode": 0, "errmsg": "ok", "msgid": len(fake.requests)})
                elif url.path in ("/cgi-bin/message/send", "/cgi-bin/webhook/send"):
                    self._reply(200, {"errcode": 0, "errmsg": "ok"})
                else:
                    self._reply(404, {"errcode": 404, "errmsg": "unknown path"})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
