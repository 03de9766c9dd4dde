"""Live events written by other processes reach the browsers of the in-memory channel: the
web app tails the event table (``api.live.EventTail``). End to end with the real dispatcher
creating a meeting link, and the tail's own bookkeeping against the real database."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
import websockets

from api.live import EventTail
from store.db import transaction
from store.tables import Event
from store.uow import Ctx, LiveEvent, now, track_local_events, unit_of_work
from tests.conftest import ROOT, TEST_DB
from tests.fixtures.consultations import (
    simple_case,
    version,
)
from tests.integration.test_live import (  # noqa: F401  (fixtures)
    cookie_header,
    doctor_session,
    recv,
    redis_replicas,
    replica_clients,
    subscribe,
    ws_url,
)

pytestmark = pytest.mark.integration


async def test_the_dispatchers_meeting_link_reaches_the_room_within_a_second(
    new_api, app_url, uniq, dispatcher
) -> None:
    li, cid = await simple_case(new_api, uniq, mandatory=False)  # startable at once
    async with websockets.connect(ws_url(app_url), additional_headers=cookie_header(li)) as ws:
        await subscribe(ws, [f"case:consultation:{cid}"])
        res = await li.post(f"/api/consultations/{cid}/start", json={"version": await version(cid)})
        assert res.status_code == 200, res.text
        deadline = time.monotonic() + 60
        while True:  # the start's own events first, then the dispatcher's
            event = await recv(ws, within=max(deadline - time.monotonic(), 0.1))
            if event["type"] == "consultation.meeting_ready":
                arrived = datetime.now(UTC)
                break
    row = await Event.select(Event.created_at).where(Event.id == event["id"]).first()
    latency = (arrived - row["created_at"]).total_seconds()
    assert event["payload"]["meeting_url"].startswith("https://")
    assert latency < 1.0, f"{latency:.3f} s from the dispatcher's write to the browser"


@pytest.fixture
async def tail() -> AsyncIterator[tuple[EventTail, list[LiveEvent]]]:
    published: list[LiveEvent] = []

    async def record(events: list[LiveEvent]) -> None:
        published.extend(events)

    tail = EventTail(record)
    await tail.begin()
    track_local_events(tail.mine)
    yield tail, published
    track_local_events(None)


async def write_event(topic: str) -> int:
    async with unit_of_work(Ctx()) as uow:
        return await uow.event(topic, "test.tail", {})


WRITE = """
import asyncio, sys
from api.live import use_shared_channel
from store.uow import Ctx, unit_of_work

async def main(topic):
    use_shared_channel(sys.argv[2])
    async with unit_of_work(Ctx()) as uow:
        print(await uow.event(topic, "test.tail", {}))

asyncio.run(main(sys.argv[1]))
"""


async def write_from_another_process(topic: str, redis_url: str = "") -> int:
    """An event written (and, with Redis, published) by a process that is not the app."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITE, topic, redis_url, cwd=ROOT, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0
    return int(out.split()[-1])


def ours(events: list[LiveEvent], topic: str) -> list[int]:
    return [e.id for e in events if e.topic == topic]


async def test_the_tail_publishes_what_other_processes_wrote_and_nothing_of_its_own(
    tail, uniq
) -> None:
    tailer, published = tail
    topic = uniq("test:tail:")
    here = await write_event(topic)
    assert here in tailer.mine
    with pytest.raises(RuntimeError):  # rolled back: SQLite may hand the id out again
        async with unit_of_work(Ctx()) as uow:
            gone = await uow.event(topic, "test.tail", {})
            raise RuntimeError("refused")
    assert gone not in tailer.mine
    elsewhere = await write_from_another_process(topic)

    await tailer.poll()
    assert ours(published, topic) == [elsewhere]
    assert here not in tailer.mine  # seen, forgotten
    await tailer.poll()
    assert ours(published, topic) == [elsewhere]  # once


@pytest.mark.skipif(TEST_DB != "postgres", reason="SQLite commits in id order")
async def test_a_lower_id_committed_late_is_still_published(tail, uniq) -> None:
    tailer, published = tail
    track_local_events(None)  # both rows stand for other processes' writes
    topic = uniq("test:late:")
    inserted, release = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        async with transaction():
            row = await Event.insert(
                Event(topic=topic, type="test.late", created_at=now())
            ).returning(Event.id)
            inserted.set()
            await release.wait()
        return int(row[0]["id"])

    task = asyncio.create_task(slow())
    await inserted.wait()
    quick = await write_event(topic)
    await tailer.poll()
    assert ours(published, topic) == [quick]
    release.set()
    late = await task
    assert late < quick
    await tailer.poll()
    assert ours(published, topic) == [quick, late]


async def test_with_redis_other_processes_publish_themselves_and_nothing_tails(
    redis_replicas,  # noqa: F811  (the fixtures imported above)
    replica_clients,  # noqa: F811
    uniq,
) -> None:
    first, _ = replica_clients
    _, user_id, _ = await doctor_session(first, uniq)
    topic = f"user:{user_id}"
    async with websockets.connect(
        ws_url(redis_replicas[0]), additional_headers=cookie_header(first)
    ) as ws:
        await subscribe(ws, [topic])
        for redis_url in ("", "redis://127.0.0.1:6379/0"):  # without, then with the channel
            written = await write_from_another_process(topic, redis_url)
            if not redis_url:  # the replicas do not tail the table: Redis carries everything
                with pytest.raises(TimeoutError):
                    await recv(ws, within=1.5)
            else:
                event = await recv(ws, within=1.0)
                assert (event["id"], event["type"]) == (written, "test.tail")
