"""A real SMTP server on loopback (aiosmtpd) that records what it is sent.

``stop()``/``start()`` take it down and bring it back on the same port (a mail server
outage); ``hold_seconds`` keeps the reply to DATA back after the message was recorded, so a
test can kill a sender between "the server has it" and "the sender knows".
"""

from __future__ import annotations

import asyncio
import email
import email.header
import re
import threading
import time
from dataclasses import dataclass
from email.message import Message

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class Mail:
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str

    def code(self) -> str:
        found = re.search(r"\b(\d{6})\b", self.text)
        assert found, f"no 6-digit code in {self.text!r}"
        return found.group(1)


def _text(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8")
    return ""


class _Handler:
    def __init__(self, fake: FakeSmtp) -> None:
        self.fake = fake

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        message = email.message_from_bytes(envelope.original_content)
        subject = str(email.header.make_header(email.header.decode_header(message["Subject"])))
        with self.fake.lock:
            self.fake.mails.append(
                Mail(envelope.mail_from, tuple(envelope.rcpt_tos), subject, _text(message))
            )
        if self.fake.hold_seconds:
            await asyncio.sleep(self.fake.hold_seconds)
        return "250 OK"


class FakeSmtp:
    def __init__(self, port: int) -> None:
        self.port = port
        self.mails: list[Mail] = []
        self.lock = threading.Lock()
        self.hold_seconds = 0.0
        self._controller: Controller | None = None

    @property
    def url(self) -> str:
        """The apprise URL AIMIS_SMTP_URL takes (plain SMTP, no login)."""
        return f"mailto://127.0.0.1:{self.port}?from=aimis@test.local&mode=insecure"

    def start(self) -> None:
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def to(self, address: str) -> list[Mail]:
        with self.lock:
            return [m for m in self.mails if address in m.to]

    async def wait_for(self, address: str, count: int = 1, within: float = 10) -> list[Mail]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if len(found := self.to(address)) >= count:
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"{count} mail(s) to {address} did not arrive in {within} s")
