"""The process engine against the real database: version check, history, events, audit,
and exactly one winner among concurrent triggers."""

from __future__ import annotations

import asyncio

import pytest

from kernel.errors import Conflict
from states.consultation import CONSULTATION, ConsultationFacts
from store.engine import apply, create, note, timeline
from store.tables import AuditLog, Consultation, Event, Hospital, User
from store.uow import Ctx, now, unit_of_work

pytestmark = pytest.mark.integration


async def new_case() -> int:
    hospital = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    user = await User.select(User.id).where(User.username == "dr.wang").first()
    row = await Consultation.insert(
        Consultation(
            hospital=hospital["id"],
            applicant=user["id"],
            topic="engine test",
            scheduled_at=now(),
            created_at=now(),
        )
    ).returning(Consultation.id)
    return int(row[0]["id"])


async def test_one_transition_writes_history_event_and_audit() -> None:
    case_id = await new_case()
    done = await apply(
        Ctx(ip="127.0.0.9"),
        CONSULTATION,
        Consultation,
        case_id,
        "withdraw",
        ConsultationFacts(()),
        reason="patient transferred",
    )
    assert (done.from_state, done.to_state, done.version) == ("reviewing", "withdrawn", 2)
    rows = await timeline("consultation", case_id)
    assert [(r["event"], r["from_state"], r["to_state"], r["reason"], r["ip"]) for r in rows] == [
        ("withdraw", "reviewing", "withdrawn", "patient transferred", "127.0.0.9")
    ]
    events = await Event.select(Event.type).where(Event.topic == f"case:consultation:{case_id}")
    assert events == [{"type": "consultation.withdraw"}]
    audit = await AuditLog.select(AuditLog.action, AuditLog.hospital_id).where(
        AuditLog.target_type == "consultation", AuditLog.target_id == str(case_id)
    )
    # a step with no user (a flow, a timer) is filed under the case's hospital, so that
    # hospital's admins find it in their audit log
    city = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    assert audit == [{"action": "consultation.withdraw", "hospital_id": city["id"]}]


async def test_refused_trigger_changes_nothing() -> None:
    case_id = await new_case()
    with pytest.raises(Conflict) as refused:
        await apply(Ctx(), CONSULTATION, Consultation, case_id, "cancel", ConsultationFacts(()))
    assert refused.value.extra == {"state": "reviewing", "version": 1}
    assert await timeline("consultation", case_id) == []
    row = (
        await Consultation.select(Consultation.state, Consultation.version)
        .where(Consultation.id == case_id)
        .first()
    )
    assert row == {"state": "reviewing", "version": 1}


async def test_stale_version_is_a_conflict() -> None:
    case_id = await new_case()
    await apply(Ctx(), CONSULTATION, Consultation, case_id, "withdraw", ConsultationFacts(()))
    with pytest.raises(Conflict) as stale:
        await apply(
            Ctx(), CONSULTATION, Consultation, case_id, "withdraw", ConsultationFacts(()), version=1
        )
    assert "changed by someone else" in stale.value.message
    assert stale.value.extra["state"] == "withdrawn"


async def test_exactly_one_of_concurrent_triggers_wins() -> None:
    case_id = await new_case()

    async def attempt() -> str:
        try:
            await apply(
                Ctx(),
                CONSULTATION,
                Consultation,
                case_id,
                "withdraw",
                ConsultationFacts(()),
                version=1,
            )
            return "won"
        except Conflict as exc:
            return exc.extra["state"]

    results = await asyncio.gather(*[attempt() for _ in range(20)])
    assert results.count("won") == 1
    assert results.count("withdrawn") == 19
    assert len(await timeline("consultation", case_id)) == 1


async def test_create_is_a_transition_from_no_state() -> None:
    hospital = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    user = await User.select(User.id).where(User.username == "dr.wang").first()
    done = await create(
        Ctx(ip="127.0.0.8"),
        CONSULTATION,
        Consultation,
        {
            "hospital": hospital["id"],
            "applicant": user["id"],
            "topic": "created by the engine",
            "scheduled_at": now(),
            "created_at": now(),
        },
        summary={"topic": "created by the engine"},
        topics=[f"hospital:{hospital['id']}"],
    )
    assert (done.event, done.from_state, done.to_state, done.version) == (
        "create",
        "",
        "reviewing",
        1,
    )
    row = await Consultation.select(Consultation.state, Consultation.version).where(
        Consultation.id == done.case_id
    )
    assert row == [{"state": "reviewing", "version": 1}]
    rows = await timeline("consultation", done.case_id)
    assert [(r["id"], r["event"], r["from_state"], r["to_state"], r["ip"]) for r in rows] == [
        (done.history_id, "create", "", "reviewing", "127.0.0.8")
    ]
    assert rows[0]["summary"] == {"topic": "created by the engine"}
    for topic in (f"case:consultation:{done.case_id}", f"hospital:{hospital['id']}"):
        events = await Event.select(Event.type).where(Event.topic == topic)
        assert {"type": "consultation.create"} in events
    audit = await AuditLog.select(AuditLog.action).where(
        AuditLog.target_type == "consultation", AuditLog.target_id == str(done.case_id)
    )
    assert audit == [{"action": "consultation.create"}]
    # the created case takes the machine's steps as any other
    await apply(Ctx(), CONSULTATION, Consultation, done.case_id, "withdraw", ConsultationFacts(()))


async def test_a_timeline_step_keeps_the_state() -> None:
    case_id = await new_case()
    async with unit_of_work(Ctx(ip="127.0.0.7")) as uow:
        history_id = await note(
            uow,
            "consultation",
            case_id,
            "comment",
            "reviewing",
            reason="see the prior CT",
            summary={"user_id": 1},
            topics=[f"case:consultation:{case_id}"],
            payload={"state": "reviewing"},
        )
    rows = await timeline("consultation", case_id)
    assert [(r["id"], r["event"], r["from_state"], r["to_state"], r["reason"]) for r in rows] == [
        (history_id, "comment", "reviewing", "reviewing", "see the prior CT")
    ]
    events = await Event.select(Event.type, Event.payload).where(
        Event.topic == f"case:consultation:{case_id}"
    )
    assert [e["type"] for e in events] == ["consultation.comment"]
    assert f'"history_id":{history_id}' in events[0]["payload"]
    row = await Consultation.select(Consultation.version).where(Consultation.id == case_id)
    assert row == [{"version": 1}]
