"""The code that binds a staff account's phone number at its first QR login (SPEC 1.4) goes
by text message to the number being bound: the real dispatcher (``AIMIS_SMS_*`` pointing at
the fake Tencent Cloud SMS server on loopback, which checks each request's signature), the
code read from the SMS the fake received. A wrong, foreign or expired code is refused; the
budgets hold per account and per number (the production limits, ``guarded``); a number
typed with spaces is the number bound elsewhere (``kernel.phones.compact``)."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

import msgspec
import pytest

from store.tables import Notification, ResetCode, User
from store.uow import now
from tests.fakes.tencent_sms import FakeTencentSms, SmsRequest
from tests.fixtures.hospitals import PASSWORD, doctor_account
from tests.fixtures.prefect import SMS_APP_ID, SMS_CODE_TEMPLATE, DispatcherProcess
from tests.fixtures.waiting import outbox_settled, until
from tests.integration.conftest import client

pytestmark = pytest.mark.integration

BIND = "/api/auth/first-login/phone"
VERIFY = "/api/auth/first-login/phone/verify"
WRONG_CODE = (
    "The verification code is wrong or has expired. A code allows 5 tries; then request a new one."
)


def mobile() -> str:
    return "137" + f"{secrets.randbelow(10**8):08d}"


def spaced(number: str) -> str:
    return f"{number[:3]} {number[3:7]}-{number[7:]}"


async def first_timer(uniq) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """A doctor as his administrator made him: a temporary password, no phone number."""
    return await doctor_account(uniq, must_change_password=True)


async def on_the_phone(new_api, uniq) -> tuple[Any, int]:  # type: ignore[no-untyped-def]
    """A first-timer logged in on his phone: the client and his id."""
    phone = new_api()
    username, user_id = await first_timer(uniq)
    await phone.login(username, PASSWORD)
    return phone, user_id


async def text_to(sms: FakeTencentSms, number: str, process: DispatcherProcess) -> SmsRequest:
    """The (latest) text message the fake provider received for ``number``."""

    async def sent() -> list[SmsRequest]:
        return [r for r in sms.requests if r.body.get("PhoneNumberSet") == [f"+86{number}"]]

    found = await until(sent, bool, 30, lambda _: process.output()[-4000:])
    return found[-1]


async def test_the_binding_code_goes_by_text_message_to_the_number(
    sms_dispatcher: DispatcherProcess, sms: FakeTencentSms, new_api, uniq
) -> None:
    phone, user_id = await on_the_phone(new_api, uniq)
    number = mobile()
    res = await phone.post(BIND, json={"phone": spaced(number)})
    assert res.status_code == 202, res.text

    text = await text_to(sms, number, sms_dispatcher)
    assert text.signature_ok
    assert text.body["SmsSdkAppId"] == SMS_APP_ID and text.body["TemplateId"] == SMS_CODE_TEMPLATE
    code, minutes = text.body["TemplateParamSet"]
    assert code.isdigit() and len(code) == 6 and minutes == "10"
    # Only the text message: no WeChat, WeCom, e-mail or log delivery of it; the code left
    # the outbox and never reached the dispatcher's console.
    reset = (
        await ResetCode.select(ResetCode.id)
        .where(ResetCode.user == user_id)
        .order_by(ResetCode.id, ascending=False)
        .first()
    )
    settled = await outbox_settled(f"reset-code-{reset['id']}", log=sms_dispatcher.output)
    assert settled["status"] == "done", settled["error"]
    assert "code" not in msgspec.json.decode(settled["payload"])
    deliveries = await Notification.select(Notification.channel, Notification.status).where(
        Notification.outbox_id == settled["id"]
    )
    assert deliveries == [{"channel": "sms", "status": "sent"}]
    assert code not in sms_dispatcher.output()

    # A wrong code, and the right code for another number, bind nothing.
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    res = await phone.post(VERIFY, json={"phone": number, "code": wrong})
    assert (res.status_code, res.json()["detail"]) == (400, WRONG_CODE)
    res = await phone.post(VERIFY, json={"phone": mobile(), "code": code})
    assert (res.status_code, res.json()["detail"]) == (400, WRONG_CODE)
    assert (await User.select(User.phone).where(User.id == user_id).first())["phone"] is None
    # The code from the text message binds the number, stored in its one form.
    res = await phone.post(VERIFY, json={"phone": f"+86 {spaced(number)}", "code": code})
    assert res.status_code == 200, res.text
    assert (await User.select(User.phone).where(User.id == user_id).first())["phone"] == number


async def test_an_expired_binding_code_is_refused(
    sms_dispatcher: DispatcherProcess, sms: FakeTencentSms, new_api, uniq
) -> None:
    phone, user_id = await on_the_phone(new_api, uniq)
    number = mobile()
    assert (await phone.post(BIND, json={"phone": number})).status_code == 202
    code = (await text_to(sms, number, sms_dispatcher)).body["TemplateParamSet"][0]
    # Its validity over (AIMIS_RESET_CODE_MINUTES): the row says so, as time would.
    await ResetCode.update({ResetCode.expires_at: now() - timedelta(seconds=1)}).where(
        ResetCode.user == user_id
    )
    res = await phone.post(VERIFY, json={"phone": number, "code": code})
    assert (res.status_code, res.json()["detail"]) == (400, WRONG_CODE)
    assert (await User.select(User.phone).where(User.id == user_id).first())["phone"] is None


async def test_binding_codes_are_throttled_per_account_and_per_number(
    guarded: list[str], sms_dispatcher: DispatcherProcess, uniq
) -> None:
    """The production budgets: three codes an hour per account and per number."""
    number = mobile()
    first, second = client(guarded[0]), client(guarded[1])
    ids = []
    for browser in (first, second):
        username, user_id = await first_timer(uniq)
        await browser.login(username, PASSWORD)
        ids.append(user_id)
    answers = [(await first.post(BIND, json={"phone": number})).status_code for _ in range(4)]
    assert answers == [202, 202, 202, 429]
    # Another account cannot send that number a fourth code either.
    res = await second.post(BIND, json={"phone": spaced(number)})
    assert res.status_code == 429
    assert res.json()["detail"].startswith(
        "Too many verification codes were sent to this phone number. Try again in "
    )
    assert await ResetCode.count().where(ResetCode.user == ids[1]) == 0
    # ... but may have a code for a number of its own.
    assert (await second.post(BIND, json={"phone": mobile()})).status_code == 202
    assert [await ResetCode.count().where(ResetCode.user == i) for i in ids] == [3, 1]


async def test_a_number_bound_elsewhere_is_refused_however_it_is_written(new_api, uniq) -> None:
    """ "139 0000 0002" is the "13900000002" another account has (the stored form is one);
    an administrator typing it with dashes stores that form too."""
    number = "139" + f"{secrets.randbelow(10**8):08d}"
    await doctor_account(uniq, phone=f"{number[:3]}-{number[3:7]}-{number[7:]}")
    assert await User.exists().where(User.phone == number)
    phone, user_id = await on_the_phone(new_api, uniq)
    for written in (spaced(number), f"{number[:3]} {number[3:7]} {number[7:]}", f"+86{number}"):
        res = await phone.post(BIND, json={"phone": written})
        assert res.status_code == 409, res.text
        assert "already bound to another account" in res.json()["detail"]
    assert await ResetCode.count().where(ResetCode.user == user_id) == 0
    assert (await User.select(User.phone).where(User.id == user_id).first())["phone"] is None


async def test_the_data_step_compacts_the_numbers_stored_as_typed(uniq) -> None:
    """``STAFF_PHONES`` (the 2026-12-07 step's data block) on rows written before the rule:
    each number becomes ``compact``'s form, unless another account has that form already
    (then it stays as typed: the unique index allows one)."""
    from kernel.phones import compact
    from store.db import engine
    from store.migrations.store_2026_12_07t14_00_00_000000 import STAFF_PHONES

    tail = f"{secrets.randbelow(10**4):04d}"
    typed = {
        "plain": f"139 0001 {tail}",
        "country": f"+86 139-0002-{tail}",
        "landline": f"(0755) 12{tail}-5678",
        "taken_clean": f"139000{tail}03",
        "taken_typed": f"139 000{tail[:1]} {tail[1:]}03",
        "twin_old": f"139-0004-{tail}",
        "twin_new": f"139 0004 {tail}",
    }
    ids = {}
    for key, phone in typed.items():
        rows = await User.insert(
            User(
                username=uniq(f"old-{key}"),
                phone=phone,
                password_hash="x",
                display_name="Old",
                kind="doctor",
                created_at=now(),
            )
        ).returning(User.id)
        ids[key] = rows[0]["id"]
    await engine().run_ddl(STAFF_PHONES)
    stored = {
        key: (await User.select(User.phone).where(User.id == i).first())["phone"]
        for key, i in ids.items()
    }
    assert stored == {
        "plain": compact(typed["plain"]),
        "country": f"1390002{tail}",
        "landline": compact(typed["landline"]),
        "taken_clean": typed["taken_clean"],
        "taken_typed": typed["taken_typed"],  # the clean row has it
        "twin_old": f"1390004{tail}",
        "twin_new": typed["twin_new"],
    }
    # Run again: nothing left to do changes nothing.
    await engine().run_ddl(STAFF_PHONES)
    again = {
        key: (await User.select(User.phone).where(User.id == i).first())["phone"]
        for key, i in ids.items()
    }
    assert again == stored
