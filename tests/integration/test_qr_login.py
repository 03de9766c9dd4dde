"""QR-code login (SPEC 1.4): one-time token, confirmed on a logged-in phone, pushed to the
desktop page over the live channel, traded for a session exactly once. An account's first
QR login binds its phone number (a code through the reset codes' path) and sets its initial
password before it confirms."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import timedelta

import pytest
import websockets

from kernel.security import token_hash
from store.tables import AuditLog, QrLogin, ResetCode, User
from store.uow import now
from tests.fixtures.codes import latest_code
from tests.fixtures.hospitals import PASSWORD, doctor_account, make_doctor
from tests.integration.test_live import recv, subscribe, ws_url

pytestmark = pytest.mark.integration

INITIAL = "Mine#First2026"
WRONG_CODE = (
    "The verification code is wrong or has expired. A code allows 5 tries; then request a new one."
)


def mobile() -> str:
    return "139" + f"{secrets.randbelow(10**8):08d}"


async def first_timer(uniq) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    """A doctor as his administrator made him: a temporary password, no phone number."""
    return await doctor_account(uniq, must_change_password=True)


async def actions(user_id: int) -> list[tuple[str, str]]:
    rows = (
        await AuditLog.select(AuditLog.action, AuditLog.outcome)
        .where(AuditLog.target_type == "user", AuditLog.target_id == str(user_id))
        .where(AuditLog.action != "login")  # the password logins of the test's clients
        .order_by(AuditLog.id)
    )
    return [(r["action"], r["outcome"]) for r in rows]


async def test_qr_login_end_to_end(new_api, app_url, uniq) -> None:
    desktop, phone = new_api(), new_api()
    username = await make_doctor(uniq, phone=mobile())
    await phone.login(username, PASSWORD)
    qr = (await desktop.post("/api/auth/qr")).json()
    assert qr["svg"].lstrip().startswith("<svg") and qr["url"].endswith(f"/qr/{qr['token']}")
    async with websockets.connect(ws_url(app_url)) as ws:
        assert (await subscribe(ws, [qr["topic"]]))["topics"] == [qr["topic"]]
        loop = asyncio.get_running_loop()
        started = loop.time()
        confirm = await phone.post(f"/api/auth/qr/{qr['token']}/confirm")
        assert confirm.status_code == 200, confirm.text
        event = await recv(ws, within=1.0)
        assert loop.time() - started < 1.0
    assert event["type"] == "qr.confirmed"
    done = await desktop.post(f"/api/auth/qr/{qr['token']}/complete")
    assert done.status_code == 200, done.text
    assert (await desktop.get("/api/auth/me")).json()["username"] == username
    # single use: neither a second completion nor a second confirmation works
    again = await new_api().post(f"/api/auth/qr/{qr['token']}/complete")
    assert again.status_code == 400
    assert (await phone.post(f"/api/auth/qr/{qr['token']}/confirm")).status_code == 400


async def test_qr_needs_a_logged_in_phone_and_a_confirmation(new_api, uniq) -> None:
    desktop, stranger = new_api(), new_api()
    qr = (await desktop.post("/api/auth/qr")).json()
    assert (await stranger.post(f"/api/auth/qr/{qr['token']}/confirm")).status_code == 401
    res = await desktop.post(f"/api/auth/qr/{qr['token']}/complete")
    assert res.status_code == 400 and "not been confirmed" in res.json()["detail"]
    assert (await desktop.get("/api/auth/me")).status_code == 401


async def test_expired_and_unknown_qr_tokens(new_api, uniq) -> None:
    desktop, phone = new_api(), new_api()
    await phone.login(await make_doctor(uniq, phone=mobile()), PASSWORD)
    qr = (await desktop.post("/api/auth/qr")).json()
    await QrLogin.update({QrLogin.expires_at: now() - timedelta(seconds=1)}).where(
        QrLogin.token_hash == token_hash(qr["token"])
    )
    res = await phone.post(f"/api/auth/qr/{qr['token']}/confirm")
    assert res.status_code == 400 and "expired" in res.json()["detail"]
    assert (await phone.post("/api/auth/qr/not-a-token/confirm")).status_code == 404
    row = (
        await QrLogin.select(QrLogin.status)
        .where(QrLogin.token_hash == token_hash(qr["token"]))
        .first()
    )
    assert row["status"] == "pending"


async def test_qr_topic_does_not_reveal_the_token(new_api) -> None:
    qr = (await new_api().post("/api/auth/qr")).json()
    assert qr["token"] not in qr["topic"]
    assert json.dumps(qr["topic"]).count(":") == 1


async def test_first_qr_login_binds_the_phone_then_sets_the_password(
    new_api, app_url, uniq
) -> None:
    desktop, phone = new_api(), new_api()
    username, user_id = await first_timer(uniq)
    other_number = mobile()
    await make_doctor(uniq, phone=other_number)
    await phone.login(username, PASSWORD)
    qr = (await desktop.post("/api/auth/qr")).json()
    token = qr["token"]
    assert (await phone.get("/api/auth/first-login")).json() == {"phone": True, "password": True}

    # Neither a plain confirmation nor the password comes before the phone.
    res = await phone.post(f"/api/auth/qr/{token}/confirm")
    assert res.status_code == 409 and "first QR login" in res.json()["detail"]
    res = await phone.post(f"/api/auth/qr/{token}/first-password", json={"new_password": INITIAL})
    assert res.status_code == 409 and "phone number first" in res.json()["detail"]

    # Bad input and another account's number: a clear refusal, no code sent.
    res = await phone.post("/api/auth/first-login/phone", json={"phone": "call me"})
    assert res.status_code == 400 and "not a mobile phone number" in res.json()["detail"]
    res = await phone.post("/api/auth/first-login/phone", json={"phone": other_number})
    assert res.status_code == 409
    assert res.json()["detail"] == (
        f"The phone number {other_number} is already bound to another account. Use your own "
        "number, or ask your hospital's administrator."
    )
    assert not await ResetCode.exists().where(ResetCode.user == user_id)

    number = mobile()
    spaced = f"{number[:3]} {number[3:7]}-{number[7:]}"
    res = await phone.post("/api/auth/first-login/phone", json={"phone": spaced})
    assert res.status_code == 202, res.text
    reset_id, payload = await latest_code(user_id)
    assert payload["phone"] == number and payload["user_id"] == user_id
    code = payload["code"]
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"

    bind = "/api/auth/first-login/phone/verify"
    # Binding another account's number without its code says only that the code is wrong.
    res = await phone.post(bind, json={"phone": other_number, "code": code})
    assert (res.status_code, res.json()["detail"]) == (400, WRONG_CODE)
    res = await phone.post(bind, json={"phone": number, "code": wrong})
    assert (res.status_code, res.json()["detail"]) == (400, WRONG_CODE)
    # The right code for another number proves nothing about that number.
    res = await phone.post(bind, json={"phone": mobile(), "code": code})
    assert (res.status_code, res.json()["detail"]) == (400, WRONG_CODE)
    # Nor is it a password-reset code.
    res = await new_api().post(
        "/api/auth/reset", json={"identifier": username, "code": code, "new_password": INITIAL}
    )
    assert res.status_code == 400
    row = await User.select(User.phone).where(User.id == user_id).first()
    assert row["phone"] is None

    res = await phone.post(bind, json={"phone": spaced, "code": code})
    assert res.status_code == 200, res.text
    assert (await User.select(User.phone).where(User.id == user_id).first())["phone"] == number
    used = await ResetCode.select(ResetCode.used, ResetCode.tries).where(ResetCode.id == reset_id)
    assert used == [{"used": True, "tries": 5}]
    res = await phone.post(bind, json={"phone": number, "code": code})
    assert res.status_code == 409 and "already has a phone" in res.json()["detail"]
    assert (await phone.get("/api/auth/first-login")).json() == {"phone": False, "password": True}
    assert (await phone.post(f"/api/auth/qr/{token}/confirm")).status_code == 409

    # The initial password follows the rules of every password; a refusal confirms nothing.
    res = await phone.post(f"/api/auth/qr/{token}/first-password", json={"new_password": "weak"})
    assert res.status_code == 400
    res = await phone.post(f"/api/auth/qr/{token}/first-password", json={"new_password": PASSWORD})
    assert res.status_code == 400 and "must differ" in res.json()["detail"]
    assert (await desktop.post(f"/api/auth/qr/{token}/complete")).status_code == 400

    async with websockets.connect(ws_url(app_url)) as ws:
        await subscribe(ws, [qr["topic"]])
        res = await phone.post(
            f"/api/auth/qr/{token}/first-password", json={"new_password": INITIAL}
        )
        assert res.status_code == 200, res.text
        assert (await recv(ws, within=1.0))["type"] == "qr.confirmed"
    done = await desktop.post(f"/api/auth/qr/{token}/complete")
    assert done.status_code == 200 and done.json()["must_change_password"] is False
    assert (await desktop.get("/api/auth/me")).json()["username"] == username
    assert (await phone.get("/api/auth/first-login")).json() == {"phone": False, "password": False}
    await new_api().login(number, INITIAL)  # the bound number logs in, with the new password
    assert await actions(user_id) == [
        ("user.create", "success"),
        ("account.phone_code", "success"),
        ("account.phone_bind", "failure"),
        ("account.phone_bind", "failure"),
        ("account.phone_bind", "failure"),
        ("password.reset", "failure"),
        ("account.phone_bind", "success"),
        ("password.initial", "success"),
        ("login.qr_confirm", "success"),
        ("login.qr", "success"),
    ]
    refused = (
        await AuditLog.select(AuditLog.detail, AuditLog.outcome)
        .where(AuditLog.user_id == user_id, AuditLog.action == "account.phone_bind")
        .where(AuditLog.target_id == "")
        .first()
    )
    assert refused["outcome"] == "denied"
    assert other_number not in refused["detail"] and other_number[-4:] in refused["detail"]


async def test_phone_codes_allow_five_tries_even_concurrently(new_api, uniq) -> None:
    phone = new_api()
    username, user_id = await first_timer(uniq)
    await phone.login(username, PASSWORD)
    number = mobile()
    assert (
        await phone.post("/api/auth/first-login/phone", json={"phone": number})
    ).status_code == 202
    reset_id, payload = await latest_code(user_id)
    guesses = [f"{(int(payload['code']) + i) % 1_000_000:06d}" for i in range(1, 21)]
    results = await asyncio.gather(
        *[
            phone.post("/api/auth/first-login/phone/verify", json={"phone": number, "code": g})
            for g in guesses
        ]
    )
    assert [r.status_code for r in results] == [400] * 20
    [row] = await ResetCode.select(ResetCode.tries).where(ResetCode.id == reset_id)
    assert row["tries"] == 5
    # The code is spent: even the right one no longer binds.
    res = await phone.post(
        "/api/auth/first-login/phone/verify", json={"phone": number, "code": payload["code"]}
    )
    assert (res.status_code, res.json()["detail"]) == (400, WRONG_CODE)
    assert (await User.select(User.phone).where(User.id == user_id).first())["phone"] is None


async def test_two_accounts_racing_for_one_number_bind_it_once(new_api, uniq) -> None:
    number = mobile()
    phones, codes = [], []
    for _ in range(2):
        phone = new_api()
        username, user_id = await first_timer(uniq)
        await phone.login(username, PASSWORD)
        res = await phone.post("/api/auth/first-login/phone", json={"phone": number})
        assert res.status_code == 202, res.text
        phones.append(phone)
        codes.append((await latest_code(user_id))[1]["code"])
    results = await asyncio.gather(
        *[
            p.post("/api/auth/first-login/phone/verify", json={"phone": number, "code": c})
            for p, c in zip(phones, codes, strict=True)
        ]
    )
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    assert await User.count().where(User.phone == number) == 1


async def test_a_bound_phone_with_a_temporary_password_sets_only_the_password(
    new_api, uniq
) -> None:
    desktop, phone, other = new_api(), new_api(), new_api()
    username, _ = await doctor_account(uniq, must_change_password=True, phone=mobile())
    await phone.login(username, PASSWORD)
    await other.login(username, PASSWORD)
    assert (await phone.get("/api/auth/first-login")).json() == {"phone": False, "password": True}
    res = await phone.post("/api/auth/first-login/phone", json={"phone": mobile()})
    assert res.status_code == 409 and "already has a phone" in res.json()["detail"]
    token = (await desktop.post("/api/auth/qr")).json()["token"]
    res = await phone.post(f"/api/auth/qr/{token}/first-password", json={"new_password": INITIAL})
    assert res.status_code == 200, res.text
    assert (await desktop.post(f"/api/auth/qr/{token}/complete")).status_code == 200
    # This phone stays logged in; another session opened with the temporary password ends.
    assert (await phone.get("/api/auth/me")).status_code == 200
    assert (await other.get("/api/auth/me")).status_code == 401


async def test_first_login_steps_need_a_login(new_api) -> None:
    stranger = new_api()
    assert (await stranger.get("/api/auth/first-login")).status_code == 401
    res = await stranger.post("/api/auth/first-login/phone", json={"phone": mobile()})
    assert res.status_code == 401


async def test_without_an_sms_provider_the_binding_code_goes_to_the_log_channel(
    new_api, uniq
) -> None:
    """The demo (no ``AIMIS_SMS_*``): the binding code is planned for the dispatcher's
    console, the number masked, never for the user's WeChat, WeCom or e-mail."""
    from flows.notify import plan_reset_code
    from notifiers.base import Channel
    from store.tables import Outbox

    phone = new_api()
    username, user_id = await doctor_account(
        uniq, must_change_password=True, email=f"{uniq('bind')}@example.org"
    )
    await phone.login(username, PASSWORD)
    number = mobile()
    assert (await phone.post("/api/auth/first-login/phone", json={"phone": number})).status_code
    reset_id, payload = await latest_code(user_id)
    row = await Outbox.select(Outbox.id).where(Outbox.idempotency_key == f"reset-code-{reset_id}")
    [planned] = await plan_reset_code.fn(row[0]["id"])
    message = planned.message
    assert message.channel == Channel.log and message.sensitive
    assert message.address == f"staff phone {number[:3]}****{number[-4:]}"
    assert f"您的 AIMIS 验证码（绑定手机号 {number[:3]}****{number[-4:]}）是 {payload['code']}" in (
        message.body
    )
    assert number not in message.body
