"""The live channel over a real websocket: topic authorisation, delivery, replay from the
database after a reconnect, and delivery across two app replicas through Redis."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import websockets

from store.tables import Hospital, User
from tests.conftest import ROOT, Api, free_port, start_process, stop_process, wait_http
from tests.fixtures.hospitals import PASSWORD, make_doctor

pytestmark = pytest.mark.integration


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws"


def cookie_header(api: Api) -> dict[str, str]:
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in api.http.cookies.items())}


async def recv(ws: Any, within: float = 3.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), within))


async def subscribe(ws: Any, topics: list[str], last_id: int = -1) -> dict[str, Any]:
    await ws.send(json.dumps({"op": "subscribe", "topics": topics, "last_id": last_id}))
    return await recv(ws)


async def doctor_session(api: Api, uniq: Any, code: str = "EAST") -> tuple[str, int, int]:
    username = await make_doctor(uniq, code)
    await api.login(username, PASSWORD)
    user = await User.select(User.id, User.hospital).where(User.username == username).first()
    return username, user["id"], user["hospital"]


async def test_topics_are_authorised(api, app_url, uniq) -> None:
    _, user_id, hospital_id = await doctor_session(api, uniq)
    other = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    async with websockets.connect(ws_url(app_url), additional_headers=cookie_header(api)) as ws:
        reply = await subscribe(
            ws,
            [
                f"user:{user_id}",
                f"hospital:{hospital_id}",
                f"user:{user_id + 1000}",
                f"hospital:{other['id']}",
                "case:unknown:1",
                "nonsense",
            ],
        )
    assert reply["op"] == "subscribed"
    assert reply["topics"] == [f"user:{user_id}", f"hospital:{hospital_id}"]
    assert set(reply["refused"]) == {
        f"user:{user_id + 1000}",
        f"hospital:{other['id']}",
        "case:unknown:1",
        "nonsense",
    }


async def test_anonymous_may_only_watch_a_qr_topic(app_url) -> None:
    async with websockets.connect(ws_url(app_url)) as ws:
        reply = await subscribe(ws, ["user:1", "hospital:1", "qr:" + "a" * 32])
    assert reply["topics"] == ["qr:" + "a" * 32]
    assert reply["refused"] == {"user:1": "log in first", "hospital:1": "log in first"}


async def test_bad_messages_get_an_error_and_the_socket_stays(api, app_url, uniq) -> None:
    _, user_id, _ = await doctor_session(api, uniq)
    async with websockets.connect(ws_url(app_url), additional_headers=cookie_header(api)) as ws:
        await ws.send("{not json")
        assert (await recv(ws))["op"] == "error"
        await ws.send(json.dumps({"op": "dance"}))
        assert (await recv(ws))["op"] == "error"
        assert (await subscribe(ws, [f"user:{user_id}"]))["topics"] == [f"user:{user_id}"]


async def test_event_arrives_live_and_missed_events_replay(api, app_url, uniq) -> None:
    _, user_id, _ = await doctor_session(api, uniq)
    topic = f"user:{user_id}"
    headers = cookie_header(api)
    async with websockets.connect(ws_url(app_url), additional_headers=headers) as ws:
        head = (await subscribe(ws, [topic]))["head"]
        res = await api.post(
            "/api/auth/password", json={"old_password": PASSWORD, "new_password": "Live#Pass111"}
        )
        assert res.status_code == 200
        event = await recv(ws, within=1.0)  # within a second
    assert event["op"] == "event" and event["type"] == "account.password_changed"
    assert event["topic"] == topic and event["id"] > head
    first_id = event["id"]
    # Offline now: a change happens, then the client reconnects with its last id.
    await api.post(
        "/api/auth/password", json={"old_password": "Live#Pass111", "new_password": "Live#Pass222"}
    )
    async with websockets.connect(ws_url(app_url), additional_headers=cookie_header(api)) as ws:
        await subscribe(ws, [topic], last_id=first_id)
        missed = await recv(ws)
    assert missed["type"] == "account.password_changed" and missed["id"] > first_id


async def test_freeze_is_announced_to_the_hospital(api, new_api, app_url, uniq) -> None:
    _, _, hospital_id = await doctor_session(api, uniq)
    victim = await make_doctor(uniq)
    async with websockets.connect(ws_url(app_url), additional_headers=cookie_header(api)) as ws:
        await subscribe(ws, [f"hospital:{hospital_id}"])
        attacker = new_api()
        for _ in range(10):
            await attacker.post("/api/auth/login", json={"identifier": victim, "password": "x"})
        event = await recv(ws)
    assert event["type"] == "account.frozen" and event["payload"]["username"] == victim


@pytest.fixture(scope="module")
def redis_replicas(database: str) -> Iterator[list[str]]:
    """Two app replicas sharing the channel through the local Redis."""
    procs, urls = [], []
    for i in range(2):
        port = free_port()
        env = {**os.environ, "AIMIS_PORT": str(port), "AIMIS_REDIS_URL": "redis://127.0.0.1:6379/0"}
        log = ROOT / f".pytest-redis-replica-{os.getpid()}-{i}.log"
        procs.append(start_process([sys.executable, "-m", "aimis.cli", "serve"], env, log))
        urls.append(f"http://127.0.0.1:{port}")
        wait_http(f"{urls[-1]}/health", procs[-1], log)
    yield urls
    for proc in procs:
        stop_process(proc)
    for i in range(2):
        (ROOT / f".pytest-redis-replica-{os.getpid()}-{i}.log").unlink(missing_ok=True)


@pytest.fixture
async def replica_clients(redis_replicas: list[str]) -> AsyncIterator[list[Api]]:
    clients = [Api(url) for url in redis_replicas]
    yield clients
    for c in clients:
        await c.aclose()


async def test_redis_channel_delivers_across_replicas(
    redis_replicas, replica_clients, uniq
) -> None:
    first, second = replica_clients
    health = (await first.get("/health")).json()
    assert health["channel"] == {"ok": True, "detail": "redis", "ms": health["channel"]["ms"]}
    username, user_id, _ = await doctor_session(first, uniq)
    await second.login(username, PASSWORD)
    async with websockets.connect(
        ws_url(redis_replicas[0]), additional_headers=cookie_header(first)
    ) as ws:
        await subscribe(ws, [f"user:{user_id}"])
        res = await second.post(
            "/api/auth/password", json={"old_password": PASSWORD, "new_password": "Redis#Pass333"}
        )
        assert res.status_code == 200
        event = await recv(ws, within=1.0)
    assert event["type"] == "account.password_changed"
