"""Notifiers: real apprise against a real SMTP server and a webhook recorder on loopback,
and the channels as the dispatcher uses them with the real Prefect server (SPEC 1.3, 8.8)."""

from __future__ import annotations

import json
import re
import time

import msgspec
import pytest
from pydantic import SecretStr

from kernel.settings import NotifySettings, Settings
from notifiers.apprise_adapter import email_notifier, url_notifier
from notifiers.base import Channel, OutgoingMessage, Recipient
from notifiers.channels import build_channels
from store.tables import Notification, ResetCode, User
from store.uow import Ctx, unit_of_work
from tests.conftest import free_port
from tests.fixtures.hospitals import doctor_account
from tests.fixtures.waiting import outbox_settled

pytestmark = pytest.mark.integration

PASSWORD = "Good#Pass123"


def mail(address: str, body: str = "Your code is 123456.") -> OutgoingMessage:
    return OutgoingMessage(
        channel=Channel.email, address=address, title="AIMIS test", body=body, sensitive=True
    )


async def test_email_reaches_the_mail_server(smtp) -> None:
    result = await email_notifier(smtp.url).send(mail("ward7@hospital.test"))
    assert result.ok and result.error == ""
    [received] = await smtp.wait_for("ward7@hospital.test")
    assert received.subject == "AIMIS test"
    assert received.sender == "aimis@test.local"
    assert received.code() == "123456"


async def test_mail_server_down_is_a_retryable_failure_that_names_no_one() -> None:
    url = f"mailto://127.0.0.1:{free_port()}?from=aimis@test.local&mode=insecure"
    result = await email_notifier(url).send(mail("patient.family@hospital.test"))
    assert not result.ok and result.retryable
    assert result.error and "patient.family" not in result.error


async def test_an_unusable_address_is_not_retried(smtp) -> None:
    result = await email_notifier(smtp.url).send(mail("not an address"))
    assert (result.ok, result.retryable) == (False, False)
    assert smtp.to("not an address") == []


async def test_webhook_through_apprise(ops_http) -> None:
    before = len(ops_http.requests)
    notifier = url_notifier(f"json://127.0.0.1:{ops_http.port}/hook")
    result = await notifier.send(mail("ops", body="disk 91% full"))
    assert result.ok
    path, body = ops_http.requests[before]
    assert path == "/hook"
    assert json.loads(body)["message"] == "disk 91% full"


def test_channel_follows_the_users_binding(smtp) -> None:
    with_mail = Recipient(user_id=1, username="dr.a", email="a@hospital.test")
    without = Recipient(user_id=2, username="dr.b")
    channels = build_channels(Settings(notify=NotifySettings(smtp_url=SecretStr(smtp.url))))
    assert channels.choose(with_mail) == (Channel.email, "a@hospital.test")
    assert channels.choose(without) == (Channel.log, "dr.b")
    no_smtp = build_channels(Settings(notify=NotifySettings(smtp_url=SecretStr(""))))
    assert no_smtp.choose(with_mail) == (Channel.log, "dr.a")


async def make_doctor(uniq, email: str = "") -> tuple[str, int]:
    return await doctor_account(
        uniq, "WEST", prefix="note", display_name="Notified Doctor", email=email
    )


async def request_code(api, username: str, user_id: int) -> dict:
    """POST /api/auth/forgot and wait until the dispatcher has finished the outbox row."""
    res = await api.post("/api/auth/forgot", json={"identifier": username})
    assert res.status_code == 202
    reset = (
        await ResetCode.select(ResetCode.id)
        .where(ResetCode.user == user_id)
        .order_by(ResetCode.id, ascending=False)
        .first()
    )
    return await outbox_settled(f"reset-code-{reset['id']}", within=20)


async def test_without_email_the_code_goes_to_the_dispatcher_log(
    api, dispatcher, ops_http, uniq
) -> None:
    username, user_id = await make_doctor(uniq)
    row = await request_code(api, username, user_id)
    assert row["status"] == "done"
    [note] = await Notification.select().where(Notification.outbox_id == row["id"])
    assert (note["channel"], note["status"], note["user_id"]) == ("log", "sent", user_id)

    lines = [line for line in dispatcher.output().splitlines() if f"for {username} " in line]
    code = re.search(r"\b(\d{6})\b", lines[-1])
    assert code, lines
    res = await api.post(
        "/api/auth/reset",
        json={"identifier": username, "code": code.group(1), "new_password": "Fresh#Pass789"},
    )
    assert res.status_code == 200, res.text

    # AIMIS_NOTIFY_LOG_URL got a copy that says who and how, never the code.
    copies = [json.loads(b)["message"] for _p, b in ops_http.requests]
    mine = [c for c in copies if f"To user {user_id} by log" in c]
    assert mine and code.group(1) not in mine[0]


async def test_an_unusable_address_fails_at_once(api, dispatcher, smtp, uniq) -> None:
    username, user_id = await make_doctor(uniq, email="placeholder@hospital.test")
    await User.update({User.email: "broken@@address"}).where(User.id == user_id)
    row = await request_code(api, username, user_id)
    assert (row["status"], row["attempts"]) == ("failed", 1)  # no point trying again
    assert "PermanentFailure" in row["error"]
    [note] = await Notification.select().where(Notification.outbox_id == row["id"])
    assert (note["channel"], note["status"]) == ("email", "failed")
    assert "broken@@address" not in row["error"] + note["error"]


async def queue(kind: str, payload: dict, key: str) -> None:
    """An outbox row as a service writes it, in its own unit of work."""
    async with unit_of_work(Ctx()) as uow:
        await uow.outbox(kind, payload, key=key)


async def test_a_case_step_reaches_everyone_involved_on_their_channel(
    dispatcher, smtp, uniq
) -> None:
    _by_mail, mail_id = await make_doctor(uniq, email=f"{uniq('c')}@hospital.test")
    by_log, log_id = await make_doctor(uniq)
    key = uniq("notify-consultation-")
    await queue(
        "notify",
        {
            "business_type": "consultation",
            "event": "start",
            "case_type": "consultation",
            "case_id": 424242,
            "user_ids": [mail_id, log_id, 987654321],  # the last one no longer exists
            "link": "/consultations/424242",
        },
        key,
    )
    row = await outbox_settled(key)
    assert (row["status"], row["attempts"]) == ("done", 1)
    email = (await User.select(User.email).where(User.id == mail_id).first())["email"]
    [received] = await smtp.wait_for(email)
    assert "start" in received.text and "/consultations/424242" in received.text
    assert any(f"message for {by_log} " in line for line in dispatcher.output().splitlines())
    notes = await Notification.select().where(Notification.outbox_id == row["id"])
    assert sorted((n["user_id"], n["channel"], n["status"], n["business_type"]) for n in notes) == [
        (mail_id, "email", "sent", "consultation"),
        (log_id, "log", "sent", "consultation"),
    ]


async def test_a_reset_code_for_a_missing_user_fails_without_retries(dispatcher, uniq) -> None:
    key = uniq("reset-code-missing-")
    started = time.monotonic()
    await queue("notify.reset_code", {"user_id": 987654321, "reset_id": 0, "code": "123456"}, key)
    row = await outbox_settled(key)
    assert (row["status"], row["attempts"]) == ("failed", 1)
    assert "no longer exists" in row["error"]
    assert "code" not in msgspec.json.decode(row["payload"])
    assert time.monotonic() - started < 10  # not 2 + 5 + 15 s of pointless task retries
