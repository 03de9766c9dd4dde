"""The live channel: one authenticated websocket at ``/ws``.

Protocol (JSON text frames):
- client → ``{"op": "subscribe", "topics": ["user:3", "hospital:1"], "last_id": 120}``
- server → ``{"op": "subscribed", "topics": [...], "refused": {"topic": "reason"}}``
- server → ``{"op": "event", "id": 121, "topic": ..., "type": ..., "payload": {...}, "at": ...}``
Missed events (``id > last_id``) are replayed from the event table, not from memory, so a
client that reconnects to another replica or after a restart still gets them.

Events written by other processes (the dispatcher's meeting link, the timer sweep's flow
runs): with Redis those processes publish to the shared channel themselves
(``use_shared_channel``); with the in-memory channel they cannot, so the web app tails the
event table (``EventTail``) and publishes, about every half second, the rows it did not
write itself. Either way each event goes onto the channel once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import WebSocket, websocket
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.exceptions import WebSocketDisconnect

from api.auth import ctx_of
from api.bounds import Int, json_depth_exceeds
from kernel.settings import get_settings
from store.scoping import sees_patients_of
from store.tables import Event
from store.uow import (
    Actor,
    LiveEvent,
    Publisher,
    audit_refusal,
    set_publisher,
    track_local_events,
)

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
            # the hospital's examinations, requests, runs, retrievals: for its own people
            # (its doctors and its admin), never the alliance admin (store.scoping)
            return None if sees_patients_of(actor, int(parts[1])) else "not your hospital"
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

        # Redis Pub/Sub channels are server-wide (not per database number): the prefix
        # keeps deployments (and test runs) that share one Redis apart.
        prefix = get_settings().redis.prefix
        return RedisChannelsPubSubBackend(redis=Redis.from_url(redis_url), key_prefix=prefix)
    return TailingMemoryBackend()


def guarded(send: Callable[[bytes, list[str]], Awaitable[None]]) -> Publisher:
    """Each event onto its topic; a failing backend must not kill anything (#5008): clients
    replay from the table."""

    async def publish(events: list[LiveEvent]) -> None:
        for event in events:
            try:
                await send(msgspec.json.encode(event), [event.topic])
            except Exception:
                log.exception("publishing event %s failed", event.id)

    return publish


def make_publisher(plugin: ChannelsPlugin) -> Publisher:
    return guarded(plugin.wait_published)


def use_shared_channel(redis_url: str) -> None:
    """For a process without the web app (dispatcher, flow run): with Redis, publish the
    events it writes straight to the shared channel after each commit. With the in-memory
    channel there is nothing to reach from here; the web app's ``EventTail`` picks them up."""
    if redis_url:
        set_publisher(guarded(make_backend(redis_url).publish))


def _live_event(row: dict[str, Any]) -> LiveEvent:
    payload = msgspec.json.decode(row["payload"]) if row["payload"] else {}
    return LiveEvent(row["id"], row["topic"], row["type"], payload, row["created_at"].isoformat())


class EventTail:
    """Publishes the events other processes wrote, for the in-memory channel.

    ``mine`` holds the ids this process wrote (``store.uow`` adds them at the insert, before
    the commit, and drops them on a rollback): those the unit of work publishes itself.
    On PostgreSQL a transaction may commit a lower id after a higher one was seen; such
    missing ids are looked for again until ``gap_seconds`` have passed (a rolled-back
    transaction leaves a hole for good).
    """

    def __init__(
        self, publish: Publisher, every: float = 0.5, gap_seconds: float = 30, batch: int = 500
    ) -> None:
        self.publish = publish
        self.every = every
        self.gap_seconds = gap_seconds
        self.batch = batch
        self.mine: set[int] = set()
        self.last = 0
        self.gaps: dict[int, float] = {}  # missing id → when it was first missed
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-tail")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def begin(self) -> None:
        """From the newest row on: what came before is replayed by the clients that ask."""
        head = await Event.select(Event.id).order_by(Event.id, ascending=False).first()
        self.last = int(head["id"]) if head else 0

    async def _run(self) -> None:
        while True:
            try:
                await self.begin()
                break
            except Exception:
                log.exception("reading the event table failed; tailing it once it answers")
                await asyncio.sleep(self.every * 4)
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.poll()
            except Exception:  # the database may be briefly away: keep tailing
                log.exception("tailing the event table failed")

    async def poll(self) -> list[LiveEvent]:
        """One round: publish the new rows that are not this process's; returns them."""
        rows = list(
            await Event.select().where(Event.id > self.last).order_by(Event.id).limit(self.batch)
        )
        if self.gaps:
            rows += await Event.select().where(Event.id.is_in(sorted(self.gaps)))
        at = time.monotonic()
        foreign = []
        for row in sorted(rows, key=lambda r: r["id"]):
            event_id = int(row["id"])
            if event_id > self.last:
                if event_id - self.last <= self.batch:
                    for missing in range(self.last + 1, event_id):
                        self.gaps[missing] = at
                self.last = event_id
            self.gaps.pop(event_id, None)
            if event_id in self.mine:
                self.mine.discard(event_id)
            else:
                foreign.append(_live_event(row))
        for missing, since in list(self.gaps.items()):
            if at - since > self.gap_seconds:
                del self.gaps[missing]
                self.mine.discard(missing)
        if foreign:
            await self.publish(foreign)
        return foreign


class TailingMemoryBackend(MemoryChannelsBackend):
    """The in-memory channel, plus the events other processes wrote (``EventTail``)."""

    def __init__(self) -> None:
        super().__init__()
        self.tail = EventTail(guarded(self.publish))

    async def on_startup(self) -> None:
        await super().on_startup()
        track_local_events(self.tail.mine)
        self.tail.start()

    async def on_shutdown(self) -> None:
        await self.tail.stop()
        track_local_events(None)
        await super().on_shutdown()


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
    last_id: Int = -1  # -1: only new events; n >= 0: also every event after n


DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def _origin_parts(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in DEFAULT_PORTS:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def origin_allowed(origin: str | None, host: str) -> bool:
    """Whether a websocket handshake's ``Origin`` is this app's own: the host the request
    came to (either scheme: TLS may end at a proxy), or ``AIMIS_PUBLIC_URL``'s origin.

    Without an ``Origin`` header the client is no browser (browsers send one on every
    websocket handshake, and a page cannot remove it), so it is no cross-site hijack: such a
    client must bring its own session cookie, as any HTTP client must, and is let in."""
    if origin is None:
        return True
    theirs = _origin_parts(origin)
    if theirs is None:
        return False  # "null" (sandboxed frames, files) or nonsense
    public = get_settings().server.public_url
    if public and _origin_parts(public) == theirs:
        return True
    ours = _origin_parts(f"{theirs[0]}://{host}")
    return ours is not None and ours[1:] == theirs[1:]


@websocket("/ws")
async def live_socket(socket: WebSocket, channels: ChannelsPlugin) -> None:
    actor = socket.scope.get("user")
    actor = actor if isinstance(actor, Actor) else None
    origin = socket.headers.get("origin")
    if not origin_allowed(origin, socket.headers.get("host", "")):
        # Refused before the handshake completes: the browser sees HTTP 403.
        await audit_refusal(
            ctx_of(socket),
            "websocket /ws",
            f"refused: cross-site origin {origin[:100]!r}" if origin else "refused",
            "denied",
        )
        await socket.close(code=4403, reason="cross-site origin")
        return
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
                if json_depth_exceeds(raw.encode(), get_settings().server.json_max_depth):
                    raise msgspec.DecodeError("nested too deep")
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
