"""The Tencent Cloud SMS plugin (``notifiers/tencent_sms.py``) against a fake SendSms API on
loopback that checks each request's TC3-HMAC-SHA256 signature on its own; and the login
code's way to it (``flows/patient_codes.py``: SMS when configured, else the log)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from flows.patient_codes import code_message, code_notifier
from kernel.settings import Settings, SmsSettings
from notifiers.apprise_adapter import sms_notifier
from notifiers.base import Channel, OutgoingMessage
from notifiers.log import LogNotifier
from tests.fakes.tencent_sms import FakeTencentSms

pytestmark = pytest.mark.integration

PHONE = "8613912345678"


@pytest.fixture
def sms() -> Iterator[FakeTencentSms]:
    server = FakeTencentSms().start()
    yield server
    server.stop()


def notifier(sms: FakeTencentSms, secret_key: str | None = None, secret_id: str | None = None):  # type: ignore[no-untyped-def]
    return sms_notifier(
        secret_id or sms.secret_id,
        secret_key or sms.secret_key,
        "1400000001",
        "AIMIS影像",
        "2000001",
        "ap-guangzhou",
        sms.base_url,
    )


def message(body: str = "654321\n5", address: str = PHONE) -> OutgoingMessage:
    return OutgoingMessage(
        channel=Channel.sms, address=address, title="", body=body, sensitive=True
    )


async def test_a_signed_send_sms_reaches_the_provider(sms: FakeTencentSms) -> None:
    result = await notifier(sms).send(message())
    assert result.ok, result.error
    [sent] = sms.requests
    assert sent.signature_ok
    assert sent.headers["x-tc-action"] == "SendSms"
    assert sent.headers["x-tc-version"] == "2021-01-11"
    assert sent.headers["x-tc-region"] == "ap-guangzhou"
    assert sent.headers["content-type"] == "application/json; charset=utf-8"
    assert sent.body == {
        "PhoneNumberSet": ["+8613912345678"],
        "SmsSdkAppId": "1400000001",
        "SignName": "AIMIS影像",
        "TemplateId": "2000001",
        "TemplateParamSet": ["654321", "5"],
    }


async def test_a_wrong_key_is_refused_by_the_provider_and_never_logged(
    sms: FakeTencentSms,
) -> None:
    wrong = "notTheSecretKey00000000000000000"
    result = await notifier(sms, secret_key=wrong).send(message())
    assert not result.ok
    assert [r.signature_ok for r in sms.requests] == [False]
    assert sms.requests[0].answer["Error"]["Code"] == "AuthFailure.SignatureFailure"
    assert wrong not in result.error and "654321" not in result.error
    unknown = await notifier(sms, secret_id="AKIDsomebodyElse").send(message())
    assert not unknown.ok
    assert sms.requests[1].answer["Error"]["Code"] == "AuthFailure.SecretIdNotFound"


async def test_an_address_that_is_no_phone_is_not_sent(sms: FakeTencentSms) -> None:
    result = await notifier(sms).send(message(address="doctor@example.org"))
    assert not result.ok and not result.retryable
    assert sms.requests == []


async def test_the_login_code_goes_by_sms_when_configured_else_to_the_log(
    sms: FakeTencentSms,
) -> None:
    configured = Settings(
        sms=SmsSettings(
            secret_id=sms.secret_id,
            secret_key=SecretStr(sms.secret_key),
            sdk_app_id="1400000001",
            sign_name="AIMIS",
            template_id="2000001",
            base_url=sms.base_url,
        )
    )
    text = code_message(configured, PHONE, "024680")
    assert text.channel == Channel.sms and text.address == PHONE and text.sensitive
    assert (await code_notifier(configured).send(text)).ok
    assert sms.requests[-1].signature_ok
    assert sms.requests[-1].body["TemplateParamSet"] == ["024680", "5"]

    demo = Settings(sms=SmsSettings())
    line = code_message(demo, PHONE, "024680")
    assert line.channel == Channel.log
    assert "024680" in line.body and "验证码" in line.body
    assert PHONE not in line.address  # the console shows the phone masked: 139****5678
    assert isinstance(code_notifier(demo), LogNotifier)


async def test_the_demo_shows_a_requested_code_in_the_log_channel(new_api, caplog) -> None:  # type: ignore[no-untyped-def]
    """The outbox row a code request wrote, sent by the flow's task body as the dispatcher
    runs it (no SMS configured: the suite's app and this process, like the demo)."""
    import logging

    import msgspec

    from flows.patient_codes import send_code as send_code_task
    from store.tables import Outbox, PatientCode
    from tests.fixtures.patients import new_phone, send_code

    phone = new_phone()
    assert (await send_code(new_api(), phone)).status_code == 202
    code_row = (
        await PatientCode.select(PatientCode.id).where(PatientCode.phone == f"86{phone}").first()
    )
    assert code_row is not None
    row = (
        await Outbox.select()
        .where(Outbox.idempotency_key == f"patient-code-{code_row['id']}")
        .first()
    )
    assert row is not None and row["kind"] == "notify.patient_code"
    code = msgspec.json.decode(row["payload"])["code"]
    with caplog.at_level(logging.INFO, logger="notifiers.log"):
        await send_code_task.fn(row["id"])
    [line] = [r.getMessage() for r in caplog.records if r.name == "notifiers.log"]
    assert f"patient phone {phone[:3]}****{phone[-4:]}" in line
    assert f"您的登录验证码是 {code}" in line and f"Your login code is {code}" in line
    assert phone not in line
