"""``store.sql.Statement`` against the real database: one text, both dialects' placeholders,
run inside a transaction and, for reads, outside one; ``check`` finds a column the table
lacks."""

from __future__ import annotations

import pytest

from store.db import transaction
from store.sql import Statement, check
from store.tables import Event

pytestmark = pytest.mark.integration

INSERT = Statement(
    Event,
    "INSERT INTO event (topic, type, payload, created_at)"
    " VALUES (:topic, :type, :payload, CURRENT_TIMESTAMP) RETURNING id",
    columns=("topic", "type", "payload", "created_at"),
)
BY_TOPIC = Statement(
    Event,
    "SELECT event.id, event.type FROM event WHERE event.topic = :topic AND event.id >= :first"
    " ORDER BY event.id",
    columns=("id", "type", "topic"),
)


def test_placeholders_per_dialect() -> None:
    assert BY_TOPIC.text_for("sqlite").endswith(
        "event.topic = ? AND event.id >= ? ORDER BY event.id"
    )
    assert "event.topic = $1 AND event.id >= $2" in BY_TOPIC.text_for("postgres")
    twice = Statement(Event, "SELECT id FROM event WHERE topic = :t OR type = :t", columns=("id",))
    assert twice.args_for("sqlite", {"t": "x"}) == ["x", "x"]
    assert twice.args_for("postgres", {"t": "x"}) == ["x"]
    cast = Statement(Event, "SELECT id::text FROM event WHERE id = :id", columns=("id",))
    assert cast.names == ("id",)
    with pytest.raises(TypeError, match="no value for topic"):
        BY_TOPIC.args_for("sqlite", {"first": 1})


def test_check_names_what_is_wrong() -> None:
    assert check(INSERT) == [] and check(BY_TOPIC) == []
    wrong = Statement(Event, "SELECT event.nope FROM event WHERE event.id = :id", columns=("id",))
    assert check(wrong) == ["event.nope: no such column"]
    undeclared = Statement(Event, "SELECT event.topic FROM event", columns=())
    assert check(undeclared) == ["event.topic: used but not declared"]


async def test_runs_in_a_transaction_and_reads_outside_one() -> None:
    async with transaction():
        first = await INSERT.one(topic="sql-test", type="a", payload="{}")
        assert first is not None
        await INSERT.run(topic="sql-test", type="b", payload="{}")
        inside = await BY_TOPIC.fetch(topic="sql-test", first=first["id"])
    assert [r["type"] for r in inside] == ["a", "b"]
    after = await BY_TOPIC.fetch(topic="sql-test", first=first["id"])
    assert after == inside
    with pytest.raises(RuntimeError, match=r"inside store\.db\.transaction"):
        await INSERT.run(topic="sql-test", type="c", payload="{}")


async def test_a_rolled_back_transaction_leaves_nothing() -> None:
    with pytest.raises(ZeroDivisionError):
        async with transaction():
            row = await INSERT.one(topic="sql-rollback", type="a", payload="{}")
            assert row is not None
            1 / 0  # noqa: B018
    assert await BY_TOPIC.fetch(topic="sql-rollback", first=0) == []
