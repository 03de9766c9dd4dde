"""Case notices in batches (issue 18, point 5): the real dispatcher claims notice rows in
batches and runs one Prefect flow run per batch, each notice a task run of its own; real
Prefect, apprise's WeCom plugin talking HTTP to the fake WeCom server on loopback.

- a batch delivers each notice once, and each is visible in the dashboard as a task run
  named after its case under the batch's flow run (parameters: ids only);
- a notice whose sends fail is retried alone (its task, then its row); the others of its
  batch are not sent again;
- a batch killed mid-delivery and run again sends nothing twice but what the delivery log
  marks "possible duplicate" (a send in flight when it was killed);
- the hang: a claimed row whose flow run never began (Prefect's API took the request to
  create the run and never answered) is given back untried after
  ``AIMIS_DISPATCH_START_SECONDS`` and delivered by the next run, instead of holding its
  slot until ``AIMIS_DISPATCH_RUN_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from store.tables import Notification, Outbox
from store.uow import Ctx, unit_of_work
from tests.conftest import free_port
from tests.fakes.proxy import TcpProxy
from tests.fakes.wechat import FakeWeChat
from tests.fixtures.hospitals import Place, make_place, new_doctor
from tests.fixtures.prefect import DispatcherProcess, own_dispatcher
from tests.integration.test_notification_delivery import add_channel, bind, set_rule

pytestmark = pytest.mark.integration

APP_SEND = "/cgi-bin/message/send"
BATCH = 10
START_SECONDS = 4
RUN_TIMEOUT = 60


class StallingProxy(TcpProxy):
    """The proxy in front of Prefect, able to swallow the next ``stall`` requests that
    create a flow run: the request is taken and never answered (an overloaded API), and
    nothing more of that connection is passed on."""

    def __init__(self, target_port: int, port: int) -> None:
        super().__init__(target_port, port)
        self.stall = 0
        self.held = 0

    async def _pipe(  # type: ignore[override]  # the base's is static: it holds nothing
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Both directions; only a request (client to Prefect) starts with the line."""
        holding = False
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while data := await reader.read(65536):
                if not holding and self.stall > 0 and data.startswith(b"POST /api/flow_runs/ "):
                    self.stall -= 1
                    self.held += 1
                    holding = True
                if not holding:
                    writer.write(data)
                    await writer.drain()
        writer.close()


@pytest.fixture(scope="module")
def stalling(prefect_api: str) -> Iterator[StallingProxy]:
    proxy = StallingProxy(int(prefect_api.rsplit(":", 1)[1].split("/")[0]), free_port())
    proxy.up()
    yield proxy
    proxy.close()


@pytest.fixture(scope="module")
def batch_dispatcher(
    database: str, prefect_home: Path, stalling: StallingProxy
) -> Iterator[DispatcherProcess]:
    yield from own_dispatcher(
        prefect_home,
        stalling,
        "dispatcher-batches",
        AIMIS_DISPATCH_BATCH_SIZE=str(BATCH),
        AIMIS_DISPATCH_START_SECONDS=str(START_SECONDS),
        AIMIS_DISPATCH_RUN_TIMEOUT_SECONDS=str(RUN_TIMEOUT),
        AIMIS_DISPATCH_MAX_ATTEMPTS="4",
    )


@pytest.fixture
def fresh(fake: FakeWeChat) -> Iterator[FakeWeChat]:
    fake.fail_next, fake.hold_seconds = 0, 0
    yield fake
    fake.fail_next, fake.hold_seconds = 0, 0


async def wecom_place(new_api: Any, demo: Any, uniq: Any, server: FakeWeChat) -> Place:
    """A new hospital whose consultation notices go by a WeCom app channel to ``server``."""
    place = await make_place(new_api, demo, uniq)
    app = await add_channel(
        place,
        "wecom_app",
        {
            "corp_id": uniq("wwbatch"),
            "agent_id": "1000002",
            "secret": "BatchSecret",
            "base_url": server.base_url,
        },
    )
    await set_rule(place, "consultation", [app], "involved")
    return place


async def bound_doctor(place: Place, uniq: Any) -> tuple[int, str]:
    doctor = await new_doctor(place, uniq)
    wecom_id = uniq("Batch.")
    await bind(place, doctor["id"], wecom_userid=wecom_id)
    return int(doctor["id"]), wecom_id


def notice(case_id: int, user_id: int) -> dict[str, Any]:
    return {
        "business_type": "consultation",
        "event": "agree",
        "case_type": "consultation",
        "case_id": case_id,
        "user_ids": [user_id],
        "link": f"/consultations/{case_id}",
    }


async def queue(notices: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    """All in one transaction, as a burst of transitions commits them: due at once."""
    async with unit_of_work(Ctx()) as uow:
        for key, payload in notices:
            await uow.outbox("notify", payload, key=key)
    rows = await Outbox.select(Outbox.id, Outbox.idempotency_key).where(
        Outbox.idempotency_key.is_in([key for key, _ in notices])
    )
    return {r["idempotency_key"]: int(r["id"]) for r in rows}


async def settled(process: DispatcherProcess, ids: list[int], within: float = 120) -> list[dict]:
    deadline = time.monotonic() + within
    while True:
        rows = await Outbox.select().where(Outbox.id.is_in(ids))
        if all(r["status"] in ("done", "failed") for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"{rows}\ndispatcher log:\n{process.output()[-6000:]}")
        await asyncio.sleep(0.2)


def case_of(sent: Any) -> int:
    return int(sent.body["text"]["content"].split("#", 1)[1].split("：", 1)[0])


def accepted_by_case(server: FakeWeChat, wecom_ids: set[str]) -> Counter[int]:
    """Accepted sends to these users by case; the fake server is shared by the module, and a
    request it recorded without a JSON body (a sender killed mid-request) is nobody's."""
    return Counter(
        case_of(r)
        for r in server.delivered(APP_SEND)
        if isinstance(r.body, dict) and r.body.get("touser") in wecom_ids
    )


async def task_runs(prefect_api: str, names: list[str], within: float = 30) -> list[dict]:
    """The task runs of these names once Prefect has recorded them all (their states
    reach the server as events, a moment after the run)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            res = await http.post(
                f"{prefect_api}/task_runs/filter",
                json={"task_runs": {"name": {"any_": names}}, "sort": "EXPECTED_START_TIME_ASC"},
            )
            res.raise_for_status()
            runs = list(res.json())
            final = [r for r in runs if r["state_type"] in ("COMPLETED", "FAILED")]
            if {r["name"] for r in final} >= set(names) or time.monotonic() > deadline:
                return runs
            await asyncio.sleep(0.3)


async def test_a_batch_delivers_each_notice_once_each_a_task_run_of_its_batch(
    batch_dispatcher, fresh, prefect_api, new_api, demo, uniq
) -> None:
    place = await wecom_place(new_api, demo, uniq, fresh)
    doctors = [await bound_doctor(place, uniq) for _ in range(3)]
    n, base = 25, 810_000 + int(time.time() * 10) % 100_000
    tag = uniq("")
    ids = await queue(
        [
            (f"notify-consultation-{base + i}-{tag}", notice(base + i, doctors[i % 3][0]))
            for i in range(n)
        ]
    )
    rows = await settled(batch_dispatcher, list(ids.values()))
    assert [r["status"] for r in rows] == ["done"] * n
    assert all(r["attempts"] == 1 and r["error"] == "" for r in rows), rows

    # each notice reached its doctor exactly once
    got = accepted_by_case(fresh, {w for _, w in doctors})
    assert got == Counter({base + i: 1 for i in range(n)})
    for i in range(n):
        [sent] = [r for r in fresh.delivered(APP_SEND) if case_of(r) == base + i]
        assert sent.body["touser"] == doctors[i % 3][1]
    notes = await Notification.select().where(Notification.outbox_id.is_in(list(ids.values())))
    assert sorted((x["status"], x["attempts"], x["error"]) for x in notes) == [("sent", 1, "")] * n

    # batches, not a run per notice: at most BATCH rows a run, fewer runs than notices
    runs = Counter(r["flow_run_id"] for r in rows)
    assert all(run for run in runs) and max(runs.values()) <= BATCH
    assert len(runs) < n, runs
    async with httpx.AsyncClient(timeout=10) as http:
        res = await http.post(
            f"{prefect_api}/flow_runs/filter",
            json={"flow_runs": {"id": {"any_": list(runs)}}},
        )
    flows = {r["id"]: r for r in res.json()}
    assert set(flows) == set(runs)
    for run_id, run in flows.items():
        assert run["state_type"] == "COMPLETED" and "notify" in run["tags"]
        mine = sorted(r["id"] for r in rows if r["flow_run_id"] == run_id)
        assert (
            run["parameters"] == ({"outbox_ids": mine} if len(mine) > 1 else {"outbox_id": mine[0]})
            or sorted(run["parameters"].get("outbox_ids", [])) == mine
        )

    # each notice a task run named after its case, under its batch's flow run
    keys = list(ids)
    tasks = await task_runs(prefect_api, keys)
    assert sorted(t["name"] for t in tasks) == sorted(keys)
    by_key = {r["idempotency_key"]: r for r in rows}
    for t in tasks:
        assert t["state_type"] == "COMPLETED" and t["run_count"] == 1
        assert t["flow_run_id"] == by_key[t["name"]]["flow_run_id"]
        assert t["tags"] == []  # the run is tagged, its tasks are not (flows/runs.py)


async def test_a_failing_notice_is_retried_alone_and_the_others_are_not_resent(
    batch_dispatcher, fresh, prefect_api, new_api, demo, uniq
) -> None:
    # The odd one out goes to a hospital whose WeCom host fails its first three sends: its
    # task tries three times (two retries) and fails, its row is tried again later alone.
    failing = FakeWeChat().start()
    try:
        good = await wecom_place(new_api, demo, uniq, fresh)
        bad = await wecom_place(new_api, demo, uniq, failing)
        doctors = [await bound_doctor(good, uniq) for _ in range(2)]
        odd = await bound_doctor(bad, uniq)
        base = 830_000 + int(time.time() * 10) % 100_000
        tag = uniq("")
        notices = [
            (f"notify-consultation-{base + i}-{tag}", notice(base + i, doctors[i % 2][0]))
            for i in range(8)
        ]
        odd_key = f"notify-consultation-{base + 8}-{tag}"
        notices.insert(4, (odd_key, notice(base + 8, odd[0])))
        # a first notice fetches the WeCom access token (cached, as WeCom asks) …
        warm_key = f"notify-consultation-{base + 9}-{tag}"
        warm = await queue([(warm_key, notice(base + 9, odd[0]))])
        await settled(batch_dispatcher, list(warm.values()))
        before = len(failing.sent(APP_SEND))
        # … then the host fails the next three sends: the odd notice's three tries
        failing.fail_next = 3
        ids = await queue(notices)
        rows = {
            r["idempotency_key"]: r for r in await settled(batch_dispatcher, list(ids.values()))
        }
    finally:
        failing.stop()
    assert all(r["status"] == "done" for r in rows.values()), rows
    assert rows[odd_key]["attempts"] == 2
    assert all(r["attempts"] == 1 for k, r in rows.items() if k != odd_key)

    # the others went out once each, and never again
    got = accepted_by_case(fresh, {w for _, w in doctors})
    assert got == Counter({base + i: 1 for i in range(8)})
    # the odd one: three failed sends in its first attempt, then one accepted
    odd_sends = [r for r in failing.sent(APP_SEND)[before:] if r.body["touser"] == odd[1]]
    assert [r.accepted for r in odd_sends] == [False, False, False, True], odd_sends
    [note] = await Notification.select().where(Notification.outbox_id == ids[odd_key])
    assert (note["status"], note["attempts"], note["error"]) == ("sent", 2, "")

    # in the dashboard: the odd notice's first task run failed after 3 runs, in a batch run
    # whose other task runs completed; its second task run completed at once
    tasks = await task_runs(prefect_api, list(ids))
    odd_runs = [t for t in tasks if t["name"] == odd_key]
    assert [(t["state_type"], t["run_count"]) for t in odd_runs] == [
        ("FAILED", 3),
        ("COMPLETED", 1),
    ], odd_runs
    first_batch = odd_runs[0]["flow_run_id"]
    mates = [t for t in tasks if t["flow_run_id"] == first_batch and t["name"] != odd_key]
    assert mates and all(t["state_type"] == "COMPLETED" for t in mates)
    assert sorted(t["name"] for t in tasks if t["name"] != odd_key) == sorted(
        k for k in ids if k != odd_key
    )  # one task run each: none of the others ran again


async def test_a_killed_batch_run_again_sends_nothing_twice_but_what_the_log_says(
    batch_dispatcher, fresh, new_api, demo, uniq
) -> None:
    place = await wecom_place(new_api, demo, uniq, fresh)
    doctors = [await bound_doctor(place, uniq) for _ in range(2)]
    n, base = 20, 850_000 + int(time.time() * 10) % 100_000
    tag = uniq("")
    fresh.hold_seconds = 0.5  # each accepted send takes a while: the kill lands mid-batch
    ids = await queue(
        [
            (f"notify-consultation-{base + i}-{tag}", notice(base + i, doctors[i % 2][0]))
            for i in range(n)
        ]
    )
    wecom_ids = {w for _, w in doctors}
    deadline = time.monotonic() + 60
    while sum(accepted_by_case(fresh, wecom_ids).values()) < 3:
        assert time.monotonic() < deadline, batch_dispatcher.output()[-4000:]
        await asyncio.sleep(0.05)
    batch_dispatcher.kill()
    fresh.hold_seconds = 0
    batch_dispatcher.start()
    rows = await settled(batch_dispatcher, list(ids.values()))
    assert all(r["status"] == "done" for r in rows), rows
    notes = {
        x["outbox_id"]: x
        for x in await Notification.select().where(Notification.outbox_id.is_in(list(ids.values())))
    }
    assert all(x["status"] == "sent" for x in notes.values())
    got = accepted_by_case(fresh, wecom_ids)
    by_case = {base + i: ids[f"notify-consultation-{base + i}-{tag}"] for i in range(n)}
    for case_id, outbox_id in by_case.items():
        # flagged: marked "sending" when killed; the send may or may not have gone out
        flagged = notes[outbox_id]["error"].startswith("possible duplicate")
        assert got[case_id] in ((1, 2) if flagged else (1,)), (case_id, notes[outbox_id])
    print(
        f"killed batch: {n} notices, {sum(got.values())} accepted sends, "
        f"{sum(x['error'].startswith('possible duplicate') for x in notes.values())} flagged"
    )


async def test_a_flow_run_that_never_begins_gives_its_rows_back_and_frees_the_slot(
    batch_dispatcher, stalling, fresh, new_api, demo, uniq
) -> None:
    place = await wecom_place(new_api, demo, uniq, fresh)
    doctor, wecom_id = await bound_doctor(place, uniq)
    case_id = 870_000 + int(time.time() * 10) % 100_000
    key = f"notify-consultation-{case_id}-{uniq('')}"
    stalling.stall, stalling.held = 1, 0  # Prefect takes the next "create a flow run", silent
    started = time.monotonic()
    ids = await queue([(key, notice(case_id, doctor))])
    deadline = started + START_SECONDS + 15
    row: Any = {}
    while time.monotonic() < deadline:  # given back untried, long before the run limit
        row = await Outbox.select().where(Outbox.id == ids[key]).first()
        if "did not begin" in row["error"]:
            break
        await asyncio.sleep(0.1)
    given_back = time.monotonic() - started
    assert f"did not begin within {START_SECONDS} s" in row["error"], (
        row,
        batch_dispatcher.output()[-4000:],
    )
    assert stalling.held == 1
    [done] = await settled(batch_dispatcher, [ids[key]], within=RUN_TIMEOUT)
    delivered = time.monotonic() - started
    assert (done["status"], done["attempts"], done["error"]) == ("done", 1, "")
    assert delivered < RUN_TIMEOUT / 2, delivered  # not held until the run limit
    assert accepted_by_case(fresh, {wecom_id}) == Counter({case_id: 1})
    assert f"did not begin within {START_SECONDS} s" in batch_dispatcher.output()
    print(f"stalled start: given back after {given_back:.1f} s, delivered after {delivered:.1f} s")
