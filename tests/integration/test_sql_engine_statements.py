"""The engine's and the unit of work's statements (``store/sql/case.py``, ``case_history``,
``event``, ``outbox``, ``timer``): each matches its table's definition (``check``) and does
what the engine relies on against the real database: the conditional step lets exactly one
of two writers with the same version through, the outbox key makes a second queueing a
no-op, a timer is moved, not doubled."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from store.db import transaction
from store.sql import Statement, case_history, check, event, outbox, timer
from store.sql import case as case_sql
from store.tables import CaseHistory, Consultation, Event, Outbox, Timer
from tests.integration.test_engine import new_case

pytestmark = pytest.mark.integration

MODULES = (case_sql, case_history, event, outbox, timer)
EVERY = [s for m in MODULES for s in m.STATEMENTS]


@pytest.mark.parametrize("statement", EVERY, ids=lambda s: s.sqlite[:60])
def test_every_statement_matches_its_table(statement: Statement) -> None:
    assert check(statement) == []


def test_every_case_table_has_its_statements() -> None:
    assert Consultation in case_sql.CASES
    assert case_sql.of(Consultation).has_hospital
    with pytest.raises(LookupError, match="event is not a case table"):
        case_sql.of(Event)


async def test_the_step_lets_one_writer_through() -> None:
    consultation_id = await new_case()
    statements = case_sql.of(Consultation)
    row = await statements.current.one(case_id=consultation_id)
    assert row is not None and row["id"] == consultation_id
    assert {"state", "version", "hospital"} <= row.keys()
    version = row["version"]
    async with transaction():
        first = await statements.step.one(
            state=row["state"], case_id=consultation_id, version=version
        )
        second = await statements.step.one(
            state=row["state"], case_id=consultation_id, version=version
        )
    assert first == {"id": consultation_id} and second is None
    after = await statements.current.one(case_id=consultation_id)
    assert after is not None and after["version"] == version + 1
    assert await statements.current.one(case_id=-1) is None


async def test_history_event_outbox_and_timer_rows() -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    key = f"sql-engine-{at.timestamp()}"
    async with transaction():
        history = await case_history.INSERT.one(
            case_type="sqltest",
            case_id=7,
            actor_id=None,
            actor_name="system",
            event="made",
            from_state="",
            to_state="new",
            reason="r",
            summary='{"a": 1}',
            at=at,
            ip="127.0.0.1",
        )
        live = await event.INSERT.one(
            topic="sqltest:7", type="sqltest.made", payload='{"x": 1}', created_at=at
        )
        queued = await outbox.QUEUE.one(
            kind="notify", payload="{}", key=key, next_at=at, created_at=at
        )
        again = await outbox.QUEUE.one(
            kind="notify", payload='{"other": 1}', key=key, next_at=at, created_at=at
        )
    assert history and live and queued and again is None
    row = await CaseHistory.select().where(CaseHistory.id == history["id"]).first()
    assert row is not None and (row["case_type"], row["to_state"]) == ("sqltest", "new")
    assert row["at"] == at and row["summary"] in ('{"a": 1}', {"a": 1})
    ev = await Event.select().where(Event.id == live["id"]).first()
    assert ev is not None and ev["created_at"] == at and ev["topic"] == "sqltest:7"
    jobs = await Outbox.select().where(Outbox.idempotency_key == key)
    assert len(jobs) == 1 and jobs[0]["id"] == queued["id"]
    assert (jobs[0]["status"], jobs[0]["attempts"], jobs[0]["payload"]) == ("pending", 0, "{}")
    assert jobs[0]["next_at"] == at and jobs[0]["done_at"] is None

    pending = {"case_type": "sqltest", "case_id": 7, "kind": "reminder", "no": False}
    async with transaction():
        assert await timer.MOVE.one(due_at=at, **pending) is None
        await timer.INSERT.run(due_at=at, **pending)
        later = at + timedelta(hours=1)
        assert await timer.MOVE.one(due_at=later, **pending) is not None
    rows = await Timer.select().where(Timer.case_type == "sqltest", Timer.case_id == 7)
    assert [(r["due_at"], r["cancelled"], r["fired_at"]) for r in rows] == [(later, False, None)]
    async with transaction():
        await timer.CANCEL.run(yes=True, **pending)
        assert await timer.MOVE.one(due_at=at, **pending) is None
    rows = await Timer.select().where(Timer.case_type == "sqltest", Timer.case_id == 7)
    assert [r["cancelled"] for r in rows] == [True]
