"""The live channel: one authenticated websocket at ``/ws``.

Protocol (JSON text frames):
- client → ``{"op": "subscribe", "topics": ["user:3", "hospital:1"], "last_id": 120}``
- server → ``{"op": "subscribed", "topics": [...], "refused": {"topic": "reason"}}``
- server → ``{"op": "event", "id": 121, "topic": ..., "type": ..., "payload": {...}, "at": ...}``
Missed events (``id > last_id``) are replayed from the event table, not from memory, so a
client that reconnects to another replica or after a restart still gets them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.exceptions import WebSocketDisconnect

from store.scoping import can_see_hospital
from store.tables import Event
from store.uow import Actor, LiveEvent

log = logging.getLogger(__name__)

REPLAY_LIMIT = 1000
MAX_TOPICS = 50

# Case kinds register who may watch a case: ``case:<kind>:<id>``.
CaseWatcher = Callable[[Actor, int], Awaitable[bool]]
CASE_WATCHERS: dict[str, CaseWatcher] = {}


def register_case_watcher(kind: str, check: CaseWatcher) -> None:
    CASE_WATCHERS[kind] = check


async def refusal(actor: Actor | None, topic: str) -> str | None:
    """Why ``actor`` may not watch ``topic``, or None if it may."""
    parts = topic.split(":")
    if parts[0] == "qr" and len(parts) == 2 and len(parts[1]) == 32:
        return None  # named by the hash of a secret the page holds
    if actor is None:
        return "log in first"
    try:
        if parts[0] == "user" and len(parts) == 2:
            return None if int(parts[1]) == actor.user_id else "another user's topic"
        if parts[0] == "hospital" and len(parts) == 2:
            return None if await can_see_hospital(actor, int(parts[1])) else "not your hospital"
        if parts[0] == "case" and len(parts) == 3:
            check = CASE_WATCHERS.get(parts[1])
            if check is None:
                return f"unknown case kind {parts[1]!r}"
            return None if await check(actor, int(parts[2])) else "you take no part in this case"
    except ValueError:
        return "malformed topic"
    return "unknown topic"


def make_backend(redis_url: str) -> ChannelsBackend:
    if redis_url:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return RedisChannelsPubSubBackend(redis=Redis.from_url(redis_url))
    return MemoryChannelsBackend()


def make_publisher(plugin: ChannelsPlugin) -> Callable[[list[LiveEvent]], Awaitable[None]]:
    async def publish(events: list[LiveEvent]) -> None:
        for event in events:
            try:  # a failing backend must not kill anything: clients replay from the table
                await plugin.wait_published(msgspec.json.encode(event), [event.topic])
            except Exception:
                log.exception("publishing event %s failed", event.id)

    return publish


async def replay(topics: list[str], last_id: int) -> list[dict[str, Any]]:
    rows = (
        await Event.select()
        .where(Event.topic.is_in(topics), Event.id > last_id)
        .order_by(Event.id)
        .limit(REPLAY_LIMIT + 1)
    )
    return rows


class Subscribe(msgspec.Struct):
    op: str
    topics: list[str] = []
    last_id: int = -1  # -1: only new events; n >= 0: also every event after n


@websocket("/ws")
async def live_socket(socket: WebSocket, channels: ChannelsPlugin) -> None:
    actor = socket.scope.get("user")
    actor = actor if isinstance(actor, Actor) else None
    await socket.accept()
    queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10_000)
    sent: set[int] = set()
    subscribers = []
    forwarders: list[asyncio.Task] = []

    async def forward(subscriber: Any) -> None:
        async for payload in subscriber.iter_events():
            await queue.put(payload)

    async def pump() -> None:
        while True:
            payload = await queue.get()
            event = msgspec.json.decode(payload)
            if event["id"] in sent:
                continue
            sent.add(event["id"])
            await socket.send_text(msgspec.json.encode({"op": "event", **event}).decode())

    pumper = asyncio.create_task(pump())
    try:
        while True:
            raw = await socket.receive_text()
            try:
                msg = msgspec.json.decode(raw, type=Subscribe)
            except msgspec.DecodeError as exc:  # malformed JSON or wrong shape
                await socket.send_json({"op": "error", "message": f"Bad message: {exc}"})
                continue
            if msg.op != "subscribe" or len(msg.topics) > MAX_TOPICS:
                await socket.send_json({"op": "error", "message": "Send op=subscribe, ≤50 topics."})
                continue
            refused: dict[str, str] = {}
            allowed: list[str] = []
            for topic in msg.topics:
                reason = await refusal(actor, topic)
                if reason:
                    refused[topic] = reason
                else:
                    allowed.append(topic)
            if allowed:
                subscriber = await channels.subscribe(allowed)
                subscribers.append(subscriber)
                forwarders.append(asyncio.create_task(forward(subscriber)))
            head = await Event.select(Event.id).order_by(Event.id, ascending=False).first()
            await socket.send_json(
                {
                    "op": "subscribed",
                    "topics": allowed,
                    "refused": refused,
                    "head": head["id"] if head else 0,
                }
            )
            if allowed and msg.last_id >= 0:
                rows = await replay(allowed, msg.last_id)
                if len(rows) > REPLAY_LIMIT:
                    await socket.send_json({"op": "reset", "message": "Too much missed; reload."})
                    rows = rows[-REPLAY_LIMIT:]
                for row in rows:
                    if row["id"] in sent:
                        continue
                    sent.add(row["id"])
                    payload = msgspec.json.decode(row["payload"]) if row["payload"] else {}
                    await socket.send_json(
                        {
                            "op": "event",
                            "id": row["id"],
                            "topic": row["topic"],
                            "type": row["type"],
                            "payload": payload,
                            "at": row["created_at"].isoformat(),
                        }
                    )
    except WebSocketDisconnect:
        pass
    finally:
        pumper.cancel()
        for task in forwarders:
            task.cancel()
        for subscriber in subscribers:
            try:
                await channels.unsubscribe(subscriber)
            except Exception:
                log.debug("unsubscribe failed", exc_info=True)
