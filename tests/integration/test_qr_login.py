"""QR-code login (SPEC 1.4): one-time token, confirmed on a logged-in phone, pushed to the
desktop page over the live channel, traded for a session exactly once."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
import websockets

from kernel.security import token_hash
from store.tables import QrLogin
from store.uow import now
from tests.fixtures.hospitals import PASSWORD, make_doctor
from tests.integration.test_live import recv, subscribe, ws_url

pytestmark = pytest.mark.integration


async def test_qr_login_end_to_end(new_api, app_url, uniq) -> None:
    desktop, phone = new_api(), new_api()
    username = await make_doctor(uniq)
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
    await phone.login(await make_doctor(uniq), PASSWORD)
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
