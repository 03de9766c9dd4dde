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


# The log channel's words per purpose (``api.patients.codes``: login, download); the SMS
# template is the operator's one verification-code template.
WORDS = {
    "login": ("登录验证码", "login code"),
    "download": ("下载原始影像的安全码", "security code for downloading the original images"),
}


def code_message(
    settings: Settings, phone: str, code: str, purpose: str = "login"
) -> OutgoingMessage:
    """The SMS (the template's parameters: the code, its minutes) or, without an SMS
    provider, the log line a person reads."""
    minutes = settings.patient.code_minutes
    if settings.sms.configured:
        return OutgoingMessage(
            channel=Channel.sms, address=phone, title="", body=f"{code}\n{minutes}", sensitive=True
        )
    zh, en = WORDS.get(purpose, WORDS["login"])
    return OutgoingMessage(
        channel=Channel.log,
        address=f"patient phone {phone[2:5]}****{phone[-4:]}",
        title=f"AIMIS {zh} {en}",
        body=(
            f"您的{zh}是 {code}，{minutes} 分钟内有效。\n"
            f"Your {en} is {code}. It is valid for {minutes} minutes."
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
    message = code_message(
        settings, str(payload["phone"]), str(payload["code"]), str(payload.get("purpose", "login"))
    )
    result = await code_notifier(settings).send(message)
    if not result.ok:
        raise (CodeNotSent if result.retryable else PermanentFailure)(result.error)


@outbox_flow("notify-patient-code")
async def deliver_patient_code(outbox_id: int) -> None:
    """A login code to the patient's phone."""
    await send_code(outbox_id)
