"""The ``log`` channel: the message goes to the dispatcher's console.

With no mail server configured (the embedded demo) this is how a user's verification code
reaches the person running ``aimis up``. The logger is a plain one, never Prefect's run
logger, so secrets stay out of Prefect's database.
"""

from __future__ import annotations

import logging

from notifiers.base import DeliveryResult, OutgoingMessage

log = logging.getLogger("notifiers.log")


class LogNotifier:
    async def send(self, message: OutgoingMessage) -> DeliveryResult:
        log.info("message for %s — %s: %s", message.address, message.title, message.body)
        return DeliveryResult(ok=True)
