"""A patient's login code to her phone (SPEC 10.1): one flow run per outbox row.

By Tencent Cloud SMS when the operator configured it (``AIMIS_SMS_*``), else to
the ``log`` channel (the dispatcher's console: the embedded demo, where a new user reads
her code there). The code is in the payload only until the row is done (the dispatcher
scrubs it); nothing of it reaches Prefect (the only parameter is the row id).
"""

from __future__ import annotations

from flows.outbox import PermanentFailure, payload_of
from flows.runs import outbox_flow, retrying
from kernel.settings import Settings, get_settings
from notifiers.base import Channel, Notifier, OutgoingMessage
from notifiers.channels import platform_sms
from notifiers.log import LogNotifier


class CodeNotSent(Exception):
    """This try did not deliver; a later one may."""


def code_message(settings: Settings, phone: str, code: str) -> OutgoingMessage:
    """The SMS (the template's parameters: the code, its minutes) or, without an SMS
    provider, the log line a person reads."""
    minutes = settings.patient.code_minutes
    if settings.sms.configured:
        return OutgoingMessage(
            channel=Channel.sms, address=phone, title="", body=f"{code}\n{minutes}", sensitive=True
        )
    return OutgoingMessage(
        channel=Channel.log,
        address=f"patient phone {phone[2:5]}****{phone[-4:]}",
        title="AIMIS 登录验证码 login code",
        body=(
            f"您的登录验证码是 {code}，{minutes} 分钟内有效。\n"
            f"Your login code is {code}. It is valid for {minutes} minutes."
        ),
        sensitive=True,
    )


def code_notifier(settings: Settings) -> Notifier:
    return platform_sms(settings) or LogNotifier()


@retrying
async def send_code(outbox_id: int) -> None:
    payload = await payload_of(outbox_id)
    if "code" not in payload:
        raise PermanentFailure(f"outbox row {outbox_id} holds no code (already scrubbed)")
    settings = get_settings()
    message = code_message(settings, str(payload["phone"]), str(payload["code"]))
    result = await code_notifier(settings).send(message)
    if not result.ok:
        raise (CodeNotSent if result.retryable else PermanentFailure)(result.error)


@outbox_flow("notify-patient-code")
async def deliver_patient_code(outbox_id: int) -> None:
    """A login code to the patient's phone."""
    await send_code(outbox_id)
