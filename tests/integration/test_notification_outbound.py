"""Server-side request forgery through a hospital's notification channels (issue 12,
finding 6): a hospital admin may point his channels only at the provider's hosts (WeCom,
WeChat) or, for his mail server, at public hosts; loopback, link-local, private, unspecified
and multicast addresses and names resolving to them are refused — at save time with a 400,
and at send time in the dispatcher even for a row forced into the database, the refusal in
the delivery log and nothing arriving at the address.

This module starts its own web app and dispatcher with the operator's exception set to one
gateway port only (the rest of the suite allows loopback for its fake servers).
"""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from store.tables import Notification, NotificationChannel
from tests.conftest import Api, _data_dir, free_port, start_process, wait_http
from tests.fakes.http import Redirecting
from tests.fakes.tcp import ConnectionRecorder
from tests.fakes.wechat import FakeWeChat
from tests.fixtures.hospitals import Place, make_place, new_doctor
from tests.fixtures.prefect import FAST_DISPATCH, DispatcherProcess, prefect_env, start_idle
from tests.fixtures.waiting import outbox_settled

pytestmark = pytest.mark.integration

BOT_SEND = "/cgi-bin/webhook/send"
SETTING = "AIMIS_NOTIFY_ALLOWED_HOSTS"


@pytest.fixture(scope="module")
def recorder() -> Iterator[ConnectionRecorder]:
    server = ConnectionRecorder()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway_port() -> int:
    """The one loopback port the operator allows here (a self-hosted gateway)."""
    return free_port()


def strict_env(base: dict[str, str], gateway_port: int) -> dict[str, str]:
    env = {k: v for k, v in base.items() if k != SETTING}
    env[SETTING] = f"127.0.0.1:{gateway_port}"
    return env


@pytest.fixture(scope="module")
def strict_url(database: str, gateway_port: int) -> Iterator[str]:
    """The real web app without the suite's loopback exception."""
    port = free_port()
    env = {**strict_env(dict(os.environ), gateway_port), "AIMIS_PORT": str(port)}
    log = _data_dir / f"web-strict-{port}.log"
    proc = start_process([sys.executable, "-m", "aimis.cli", "serve"], env, log)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc, log)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture(scope="module")
def strict_dispatcher(
    database: str, prefect_home: Path, prefect_proxy: Any, gateway_port: int
) -> Iterator[DispatcherProcess]:
    api = f"http://127.0.0.1:{prefect_proxy.port}/api"
    env = strict_env({**prefect_env(api, prefect_home), **FAST_DISPATCH}, gateway_port)
    process = DispatcherProcess(env, prefect_home / f"dispatcher-strict-{free_port()}.log")
    start_idle(process)
    yield process
    process.stop()


@pytest.fixture
async def strict_api(strict_url: str) -> AsyncIterator[Callable[[], Api]]:
    clients: list[Api] = []

    def make() -> Api:
        clients.append(Api(strict_url))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def place(strict_api, demo, uniq) -> Place:
    return await make_place(strict_api, demo, uniq)


async def channels_of(hospital_id: int) -> list[dict]:
    return await NotificationChannel.select().where(NotificationChannel.hospital == hospital_id)


async def test_admin_cannot_point_a_channel_at_the_platforms_network(
    place: Place, fake: FakeWeChat, recorder: ConnectionRecorder
) -> None:
    port = fake.base_url.rsplit(":", 1)[1]
    bot = {"key": "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"}
    refused = [
        (f"http://127.0.0.1:{port}", "127.0.0.1 is a loopback address"),
        (f"http://[::1]:{port}", "[::1] is a loopback address"),
        (f"http://[::ffff:127.0.0.1]:{port}", "is a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "169.254.169.254 is a link-local address"),
        ("http://[fe80::1]", "is a link-local address"),
        ("http://10.1.2.3", "10.1.2.3 is a private address"),
        ("http://172.16.0.9:8080", "172.16.0.9 is a private address"),
        ("http://192.168.1.1", "192.168.1.1 is a private address"),
        ("http://[fc00::5]", "is a private address"),
        ("http://100.64.0.1", "100.64.0.1 is a private address"),
        (f"http://0.0.0.0:{port}", "0.0.0.0 is the unspecified address"),
        ("http://224.0.0.251", "224.0.0.251 is a multicast address"),
        (f"http://localhost:{port}", "localhost is not qyapi.weixin.qq.com"),
        ("http://127.1", "127.1 is not qyapi.weixin.qq.com"),
        ("https://hooks.attacker.example", "is not qyapi.weixin.qq.com, the provider's"),
        ("http://qyapi.weixin.qq.com", "reached over https:// only"),
        ("https://qyapi.weixin.qq.com@127.0.0.1", "no user, query or fragment"),
        ("https://qyapi.weixin.qq.com#@127.0.0.1", "no user, query or fragment"),
        (f"http://127.0.0.1:{port}\\@qyapi.weixin.qq.com", "no user, query or fragment"),
    ]
    for base_url, words in refused:
        res = await place.admin.post(
            "/api/notifications/channels",
            json={"kind": "wecom_bot", "settings": {**bot, "base_url": base_url}},
        )
        assert res.status_code == 400 and words in res.json()["detail"], (base_url, res.text)
        if "address" in words or "provider's" in words:
            assert "unless its operator allows" in res.json()["detail"] or (
                "needs the platform operator's permission (AIMIS_NOTIFY_ALLOWED_HOSTS)"
                in res.json()["detail"]
            ), res.text
    for smtp_url, words in (
        (f"mailto://127.0.0.1:{recorder.port}?from=a@b.example", "127.0.0.1 is a loopback"),
        (
            f"mailtos://u:p@mail.example.org:{recorder.port}?smtp=localhost",
            "localhost (it resolves to 127.0.0.1) is a loopback address",
        ),
        ("mailto://10.0.0.25", "10.0.0.25 is a private address"),
    ):
        res = await place.admin.post(
            "/api/notifications/channels",
            json={"kind": "email", "settings": {"smtp_url": smtp_url}},
        )
        assert res.status_code == 400 and words in res.json()["detail"], (smtp_url, res.text)
    # in Chinese for the Chinese UI
    res = await add_oa(place, "http://192.168.0.10", headers={"accept-language": "zh-CN"})
    assert res.status_code == 400 and "内网地址" in res.json()["detail"], res.text
    assert await channels_of(place.id) == []

    # the provider's host by default; an edit towards loopback is refused and changes nothing
    res = await place.admin.post(
        "/api/notifications/channels", json={"kind": "wecom_bot", "settings": bot}
    )
    assert res.status_code == 201 and res.json()["settings"]["base_url"] == (
        "https://qyapi.weixin.qq.com"
    )
    channel = res.json()
    before = await channels_of(place.id)
    res = await place.admin.patch(
        f"/api/notifications/channels/{channel['id']}",
        json={"settings": {"base_url": f"http://127.0.0.1:{port}"}},
    )
    assert res.status_code == 400 and "loopback" in res.json()["detail"]
    assert await channels_of(place.id) == before
    assert fake.requests == [] and recorder.peers == []


async def add_oa(place: Place, base_url: str, **kw: Any) -> Any:
    """POST a WeChat official-account channel whose API is at ``base_url``."""
    settings = {"app_id": "wx1", "secret": "s", "template_id": "t", "base_url": base_url}
    return await place.admin.post(
        "/api/notifications/channels", json={"kind": "wechat_oa", "settings": settings}, **kw
    )


async def force(channel_id: int, **config: str) -> None:
    """An older row (or one written around the API): the stored settings, overwritten."""
    row = await NotificationChannel.select().where(NotificationChannel.id == channel_id).first()
    assert row is not None
    merged = {**msgspec.json.decode(row["config"]), **config}
    await NotificationChannel.update(
        {NotificationChannel.config: msgspec.json.encode(merged).decode()}
    ).where(NotificationChannel.id == channel_id)


async def send_test(place: Place, channel_id: int, user_id: int | None = None) -> str:
    body = {"user_id": user_id} if user_id else {}
    res = await place.admin.post(f"/api/notifications/channels/{channel_id}/test", json=body)
    assert res.status_code == 202, res.text
    return str(res.json()["key"])


async def test_a_forced_row_is_refused_when_sending_and_nothing_arrives(
    strict_dispatcher: DispatcherProcess,
    place: Place,
    fake: FakeWeChat,
    recorder: ConnectionRecorder,
    uniq,
) -> None:
    port = fake.base_url.rsplit(":", 1)[1]
    res = await place.admin.post(
        "/api/notifications/channels", json={"kind": "wecom_bot", "settings": {"key": "k-1"}}
    )
    bot = res.json()["id"]
    res = await place.admin.post(
        "/api/notifications/channels", json={"kind": "email", "settings": {}}
    )
    mail = res.json()["id"]
    doctor = await new_doctor(place, uniq, email=f"{uniq('a')}@example.org")

    cases = [
        # an address literal: refused before sending, by the same rule as at save time
        (bot, {"base_url": f"http://127.0.0.1:{port}"}, "127.0.0.1 is a loopback address"),
        # a name that resolves to loopback when the message is sent
        (
            mail,
            {"smtp_url": f"mailto://localhost:{recorder.port}?from=aimis@example.org"},
            "localhost (it resolves to 127.0.0.1) is a loopback address",
        ),
        (
            mail,
            {"smtp_url": f"mailtos://u:p@mail.example.org:{recorder.port}?smtp=127.0.0.1"},
            "mail server 127.0.0.1 is a loopback address",
        ),
    ]
    for channel_id, config, words in cases:
        await force(channel_id, **config)
        key = await send_test(place, channel_id, None if channel_id == bot else doctor["id"])
        row = await outbox_settled(key, log=strict_dispatcher.output)
        assert row["status"] == "failed", row  # refused for good: no retries
        (delivery,) = await Notification.select().where(Notification.outbox_id == row["id"])
        assert delivery["status"] == "failed" and delivery["attempts"] == 1, delivery
        assert delivery["error"].startswith("not sent: ") and words in delivery["error"]
    log = (await place.admin.get("/api/notifications/log", params={"business_type": "test"})).json()
    assert {i["status"] for i in log["items"]} == {"failed"}
    assert all("not sent: " in i["error"] for i in log["items"])
    assert fake.requests == [] and recorder.peers == []


async def test_an_allowed_gateway_cannot_redirect_into_the_network(
    strict_dispatcher: DispatcherProcess, place: Place, fake: FakeWeChat, gateway_port: int
) -> None:
    """The operator allows one gateway; it answers with a redirect to another loopback port.
    Each connection is checked as it is made, so the redirect goes nowhere."""
    gateway = Redirecting(gateway_port, fake.base_url)
    try:
        res = await place.admin.post(
            "/api/notifications/channels",
            json={
                "kind": "wecom_bot",
                "settings": {"key": "k-2", "base_url": f"http://127.0.0.1:{gateway_port}"},
            },
        )
        assert res.status_code == 201, res.text  # the operator's exception, port and all
        res = await add_oa(place, f"http://127.0.0.1:{gateway_port + 1}")
        assert res.status_code == 400 and "loopback" in res.json()["detail"]
        bot = (await place.admin.get("/api/notifications/channels")).json()[0]["id"]
        key = await send_test(place, bot)
        row = await outbox_settled(key, log=strict_dispatcher.output)
        assert row["status"] == "failed", row
        (delivery,) = await Notification.select().where(Notification.outbox_id == row["id"])
        assert gateway.requests == [f"POST {BOT_SEND}?key=k-2"]
        assert (
            f"refused to connect to 127.0.0.1:{fake.base_url.rsplit(':', 1)[1]}"
            in (delivery["error"])
        ), delivery
        assert fake.requests == []
    finally:
        gateway.stop()
