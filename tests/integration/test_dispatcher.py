"""The outbox dispatcher against the real Prefect server, a real SMTP server on loopback and
the real app (SPEC 1.2, 1.3; DESIGN.md "Nothing committed is lost")."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec
import pytest

from store.tables import AuditLog, Notification, Outbox, ResetCode, User
from tests.fixtures.hospitals import doctor_account
from tests.fixtures.waiting import until

pytestmark = pytest.mark.integration

PASSWORD = "Good#Pass123"
NEW_PASSWORD = "Fresh#Pass456"


async def make_doctor(uniq, with_email: bool = True) -> tuple[str, str, int]:
    username = uniq("mail")
    email = f"{username}@hospital.test" if with_email else ""
    _, user_id = await doctor_account(
        uniq, "EAST", username=username, display_name="Mail Doctor", email=email
    )
    return username, email, user_id


async def forgot(api, username: str, user_id: int) -> str:
    """Ask for a reset code; returns the outbox row's idempotency key (= flow-run name)."""
    res = await api.post("/api/auth/forgot", json={"identifier": username})
    assert res.status_code == 202, res.text
    reset = (
        await ResetCode.select(ResetCode.id)
        .where(ResetCode.user == user_id)
        .order_by(ResetCode.id, ascending=False)
        .first()
    )
    return f"reset-code-{reset['id']}"


async def outbox_row(key: str) -> dict:
    row = await Outbox.select().where(Outbox.idempotency_key == key).first()
    assert row is not None
    return {**row, "payload": msgspec.json.decode(row["payload"])}


async def wait_row(dispatcher, key: str, status: str, within: float = 20) -> dict:
    return await until(
        lambda: outbox_row(key),
        lambda row: row["status"] == status,
        within,
        lambda row: (
            f"outbox {key} is {row['status']}, not {status}: {row}\n"
            f"dispatcher log:\n{dispatcher.output()[-6000:]}"
        ),
        every=0.1,
    )


async def mails_to(dispatcher, smtp, address: str, count: int = 1, within: float = 10) -> list:
    try:
        return await smtp.wait_for(address, count, within)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\ndispatcher log:\n{dispatcher.output()[-6000:]}") from None


async def notifications(outbox_id: int) -> list[dict]:
    return await Notification.select().where(Notification.outbox_id == outbox_id)


async def test_reset_code_reaches_the_mail_server_and_resets_the_password(
    api, dispatcher, smtp, flow_runs, uniq
) -> None:
    username, email, user_id = await make_doctor(uniq)
    started = time.monotonic()
    key = await forgot(api, username, user_id)
    mails = await mails_to(dispatcher, smtp, email)
    latency = time.monotonic() - started
    print(f"reset code delivered by e-mail {latency:.2f} s after the request")
    assert latency < 8  # about 1 s on an idle machine; generous for a loaded CI
    code = mails[0].code()
    assert "AIMIS" in mails[0].subject

    res = await api.post(
        "/api/auth/reset",
        json={"identifier": username, "code": code, "new_password": NEW_PASSWORD},
    )
    assert res.status_code == 200, res.text
    await api.login(username, NEW_PASSWORD)

    row = await wait_row(dispatcher, key, "done")
    assert row["payload"] == {"user_id": user_id, "reset_id": int(key.rsplit("-", 1)[1])}
    assert row["attempts"] == 1 and row["flow_run_id"] and row["error"] == ""
    [note] = await notifications(row["id"])
    assert (note["status"], note["channel"], note["business_type"]) == ("sent", "email", "account")
    assert (note["user_id"], note["attempts"], note["error"]) == (user_id, 1, "")
    assert note["hospital_id"] is not None and note["sent_at"] is not None

    [run] = flow_runs(key)
    assert run["id"] == row["flow_run_id"] and run["state_type"] == "COMPLETED"
    assert run["parameters"] == {"outbox_id": row["id"]}  # ids only: no code, no address
    assert "notify.reset_code" in run["tags"]
    assert len(smtp.to(email)) == 1


async def test_mail_server_down_retries_with_backoff_then_fails(
    api, dispatcher, smtp, flow_runs, uniq
) -> None:
    username, email, user_id = await make_doctor(uniq)
    smtp.stop()
    try:
        key = await forgot(api, username, user_id)
        row = await wait_row(dispatcher, key, "failed", within=60)
    finally:
        smtp.start()
    assert row["attempts"] == 3  # AIMIS_DISPATCH_MAX_ATTEMPTS
    assert "code" not in row["payload"]  # the secret does not outlive the row
    assert "Connection" in row["error"] or "connect" in row["error"].lower()
    [note] = await notifications(row["id"])
    assert (note["status"], note["attempts"], note["channel"]) == ("failed", 3, "email")
    assert note["error"] and email not in note["error"]

    runs = flow_runs(key)
    assert [r["state_type"] for r in runs] == ["FAILED"] * 3  # visible in the dashboard
    waits = [
        datetime.fromisoformat(later["start_time"]) - datetime.fromisoformat(earlier["end_time"])
        for earlier, later in itertools.pairwise(runs)
    ]
    # AIMIS_DISPATCH_BACKOFF_SECONDS=0.5, doubling: 0.5 s, then 1 s between the attempts.
    assert waits[0] >= timedelta(seconds=0.45), waits
    assert waits[1] >= timedelta(seconds=0.9), waits
    assert smtp.to(email) == []


async def test_prefect_down_keeps_the_work_pending_until_it_is_back(
    api, dispatcher, prefect_proxy, smtp, uniq
) -> None:
    username, email, user_id = await make_doctor(uniq)
    prefect_proxy.down()
    try:
        key = await forgot(api, username, user_id)
        await asyncio.sleep(2)
        row = await outbox_row(key)
        assert (row["status"], row["attempts"]) == ("pending", 0)
        assert smtp.to(email) == []
    finally:
        prefect_proxy.up()
    await mails_to(dispatcher, smtp, email, within=20)
    row = await wait_row(dispatcher, key, "done")
    assert row["attempts"] == 1  # the outage did not count as an attempt


async def test_killed_dispatcher_delivers_once_or_counts_the_duplicate(
    api, dispatcher, smtp, uniq
) -> None:
    # Killed while the mail server is down: nothing went out, so exactly one mail later.
    username, email, user_id = await make_doctor(uniq)
    smtp.stop()
    try:
        key = await forgot(api, username, user_id)
        while not (await outbox_row(key))["attempts"]:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        dispatcher.kill()
    finally:
        smtp.start()
    dispatcher.start()
    await wait_row(dispatcher, key, "done")
    await asyncio.sleep(0.5)
    assert len(smtp.to(email)) == 1

    # Killed after the mail server accepted the message, before the dispatcher recorded
    # it: the message goes out again, and the delivery log counts the duplicate.
    username, email, user_id = await make_doctor(uniq)
    smtp.hold_seconds = 30
    try:
        key = await forgot(api, username, user_id)
        await mails_to(dispatcher, smtp, email, within=20)
        dispatcher.kill()
    finally:
        smtp.hold_seconds = 0
    dispatcher.start()
    row = await wait_row(dispatcher, key, "done")
    [note] = await notifications(row["id"])
    duplicates = int(note["error"].startswith("possible duplicate"))
    assert (note["status"], note["attempts"], duplicates) == ("sent", 2, 1)
    mails = smtp.to(email)
    assert len(mails) == 1 + duplicates
    assert mails[0].code() == mails[1].code()


async def test_unfreeze_flow_lifts_yesterdays_automatic_freeze_only(run_flow, uniq) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    users = {}
    for name, reason, day in [
        ("auto", "failed_logins", yesterday),
        ("admin", "admin", yesterday),
        ("today", "failed_logins", today.isoformat()),
    ]:
        _username, _email, user_id = await make_doctor(uniq, with_email=False)
        await User.update(
            {
                User.frozen: True,
                User.frozen_reason: reason,
                User.frozen_day: day,
                User.failed_count: 10,
            }
        ).where(User.id == user_id)
        users[name] = user_id

    out = run_flow(
        "import asyncio\n"
        "from flows.accounts import unfreeze_accounts\n"
        "print('lifted', asyncio.run(unfreeze_accounts()))\n",
    )
    assert "lifted" in out

    rows = {
        r["id"]: r
        for r in await User.select(
            User.id, User.frozen, User.frozen_reason, User.failed_count
        ).where(User.id.is_in(list(users.values())))
    }
    assert (rows[users["auto"]]["frozen"], rows[users["auto"]]["failed_count"]) == (False, 0)
    assert rows[users["admin"]]["frozen"] and rows[users["admin"]]["frozen_reason"] == "admin"
    assert rows[users["today"]]["frozen"]
    audits = await AuditLog.select().where(
        AuditLog.action == "account.unfreeze",
        AuditLog.target_id.is_in([str(u) for u in users.values()]),
    )
    assert [a["target_id"] for a in audits] == [str(users["auto"])]
    assert (audits[0]["ip"], audits[0]["user_agent"]) == ("prefect", "unfreeze_accounts")


async def test_a_hanging_mail_server_does_not_hold_the_row(api, dispatcher, smtp, uniq) -> None:
    # The server takes the message and never answers: the run is cancelled after
    # AIMIS_DISPATCH_RUN_TIMEOUT_SECONDS (10 s here), the attempt counts, the next one sends.
    username, email, user_id = await make_doctor(uniq)
    smtp.hold_seconds = 120
    try:
        key = await forgot(api, username, user_id)
        await mails_to(dispatcher, smtp, email)
        row = await outbox_row(key)
        deadline = time.monotonic() + 30
        while "did not finish" not in row["error"] and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            row = await outbox_row(key)
        assert "did not finish in 10 s" in row["error"], row
    finally:
        smtp.hold_seconds = 0
    row = await wait_row(dispatcher, key, "done")
    assert row["attempts"] == 2
    [note] = await notifications(row["id"])
    assert note["status"] == "sent" and note["error"].startswith("possible duplicate")
    assert len(smtp.to(email)) == 2  # the held one and the resent one, both counted
