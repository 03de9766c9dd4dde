"""Remote teaching over HTTP (SPEC §5): a lecturer's course, its range enforced on every read
(list, classroom, steps, heartbeats), heartbeats into learning records, premium classes by
the hospital admin, the module switch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store.tables import Course, Hospital, LearningRecord, Role
from tests.fixtures.hospitals import PASSWORD, department, doctor_account, hospital_of

pytestmark = pytest.mark.integration


async def lecturer(uniq: Any, new_api: Any, code: str = "EAST") -> tuple[Any, int]:
    hospital = await hospital_of(code)
    role = await Role.insert(
        Role(
            hospital=hospital["id"],
            name=uniq("Lecturer "),
            permissions=json.dumps(["teaching.host"]),
        )
    ).returning(Role.id)
    name, uid = await doctor_account(uniq, code, role_id=role[0]["id"])
    api = new_api()
    await api.login(name, PASSWORD)
    return api, uid


async def doctor(uniq: Any, new_api: Any, code: str, dept: str | None) -> tuple[Any, int]:
    kw = {"department_id": await department(code, dept)} if dept else {}
    name, uid = await doctor_account(uniq, code, **kw)
    api = new_api()
    await api.login(name, PASSWORD)
    return api, uid


def when(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def test_a_course_is_seen_in_its_range_only(new_api, uniq) -> None:
    host, _ = await lecturer(uniq, new_api)
    inside, _ = await doctor(uniq, new_api, "EAST", "Radiology")
    outside, _ = await doctor(uniq, new_api, "EAST", None)
    foreign, _ = await doctor(uniq, new_api, "WEST", "Radiology")
    body = {
        "topic": uniq("Chest CT reading "),
        "starts_at": when(-0.1),
        "ends_at": when(1),
        "place": "Room 3",
        "introduction": "Reading chest CT",
        "meeting_url": "https://meet.example/chest",
        "department_ids": [await department("EAST", "Radiology")],
    }
    res = await host.post("/api/teaching/courses", json=body)
    assert res.status_code == 201, res.text
    cid = res.json()["id"]
    assert res.json()["state"] == "draft"
    # a draft: nobody but the lecturer sees it
    assert cid not in [c["id"] for c in (await inside.get("/api/teaching/courses")).json()]
    res = await host.post(f"/api/teaching/courses/{cid}/steps/publish", json={})
    assert res.status_code == 200, res.text
    assert cid in [c["id"] for c in (await inside.get("/api/teaching/courses")).json()]
    for stranger in (outside, foreign):
        assert cid not in [c["id"] for c in (await stranger.get("/api/teaching/courses")).json()]
        res = await stranger.get(f"/api/teaching/courses/{cid}")
        assert res.status_code == 404, res.text
        res = await stranger.post(
            f"/api/teaching/courses/{cid}/heartbeats", json={"position": 1, "watched": 1}
        )
        assert res.status_code == 404, res.text
    # the classroom during its time: the meeting link
    room = (await inside.get(f"/api/teaching/courses/{cid}")).json()
    assert room["meeting_url"] == "https://meet.example/chest" and not room["manage"]
    # only the lecturer steps it
    res = await inside.post(f"/api/teaching/courses/{cid}/steps/start", json={})
    assert res.status_code == 403, res.text
    for trigger in ("start", "end"):
        res = await host.post(f"/api/teaching/courses/{cid}/steps/{trigger}", json={})
        assert res.status_code == 200, res.text
    res = await host.post(f"/api/teaching/courses/{cid}/steps/recording_ready", json={})
    assert res.status_code == 409, res.text
    records = (await host.get("/api/teaching/records")).json()
    assert cid in [c["id"] for c in records["teaching"]]


async def test_heartbeats_premium_and_the_module_switch(new_api, uniq, demo) -> None:
    host, _ = await lecturer(uniq, new_api)
    learner, learner_id = await doctor(uniq, new_api, "EAST", "Radiology")
    body = {
        "topic": uniq("Finished course "),
        "starts_at": when(1),
        "ends_at": when(2),
        "department_ids": [await department("EAST", "Radiology")],
    }
    cid = (await host.post("/api/teaching/courses", json=body)).json()["id"]
    for trigger in ("publish", "start", "end"):
        assert (
            await host.post(f"/api/teaching/courses/{cid}/steps/{trigger}", json={})
        ).status_code == 200
    # the recording (h-media's) is ready: 100 seconds long
    await Course.update({Course.recording_id: 1, Course.duration_seconds: 100}).where(
        Course.id == cid
    )
    res = await host.post(f"/api/teaching/courses/{cid}/steps/recording_ready", json={})
    assert res.status_code == 200, res.text

    url = f"/api/teaching/courses/{cid}/heartbeats"
    res = await learner.post(url, json={"position": 5, "watched": 5})
    assert res.status_code == 200 and res.json()["progress"] == 5.0, res.text
    for forged in (
        {"position": 101, "watched": 1},
        {"position": -1, "watched": 0},
        {"position": 100, "watched": 60},
    ):
        before = await LearningRecord.select().where(LearningRecord.course == cid)
        res = await learner.post(url, json=forged)
        assert res.status_code == 400, res.text
        assert await LearningRecord.select().where(LearningRecord.course == cid) == before
    # skipping to the end covers what was played there only
    res = await learner.post(url, json={"position": 100, "watched": 1})
    assert res.status_code == 200 and res.json() == {"progress": 6.0, "finished": False}, res.text
    mine = (await learner.get("/api/teaching/records")).json()["learning"]
    assert [
        (r["course_id"], r["status"], r["progress"]) for r in mine if r["course_id"] == cid
    ] == [(cid, "in_progress", 6.0)]
    # premium: the hospital admin only
    assert (await host.post(f"/api/teaching/courses/{cid}/premium")).status_code == 403
    admin = new_api()
    await admin.login("admin.east", demo["password"], admin=True)
    res = await admin.post(f"/api/teaching/courses/{cid}/premium")
    assert res.status_code == 200 and res.json()["premium"], res.text
    assert cid in [c["id"] for c in (await learner.get("/api/teaching/premium")).json()]
    csv_text = (await admin.get("/api/teaching/records/export")).text
    assert body["topic"] in csv_text and "in_progress" in csv_text
    assert (await learner.get("/api/teaching/records/export")).status_code == 403

    # the module off: 403
    east = (
        await Hospital.select(Hospital.id, Hospital.modules).where(Hospital.code == "EAST").first()
    )
    assert east is not None
    modules = json.loads(east["modules"])
    try:
        await Hospital.update(
            {Hospital.modules: json.dumps([m for m in modules if m != "teaching"])}
        ).where(Hospital.id == east["id"])
        assert (await learner.get("/api/teaching/courses")).status_code == 403
    finally:
        await Hospital.update({Hospital.modules: json.dumps(modules)}).where(
            Hospital.id == east["id"]
        )
    assert learner_id


async def test_publishing_sets_the_reminder_and_it_tells_the_range(new_api, uniq) -> None:
    from flows.timers import claim_and_fire
    from store.tables import Outbox, Timer

    host, _ = await lecturer(uniq, new_api)
    _, learner_id = await doctor(uniq, new_api, "EAST", "Radiology")
    body = {
        "topic": uniq("Reminded "),
        "starts_at": when(0.2),
        "ends_at": when(1),
        "department_ids": [await department("EAST", "Radiology")],
    }
    cid = (await host.post("/api/teaching/courses", json=body)).json()["id"]
    assert (
        await host.post(f"/api/teaching/courses/{cid}/steps/publish", json={})
    ).status_code == 200
    timer = (
        await Timer.select(Timer.id)
        .where(Timer.case_type == "course", Timer.case_id == cid, Timer.kind == "reminder")
        .first()
    )
    assert timer is not None
    await Timer.update({Timer.due_at: datetime.now(UTC) - timedelta(seconds=1)}).where(
        Timer.id == timer["id"]
    )
    assert await claim_and_fire.fn(timer["id"]) == "fired"
    rows = await Outbox.select(Outbox.payload).where(
        Outbox.idempotency_key == f"notify-course-{cid}-reminder-{timer['id']}"
    )
    assert len(rows) == 1
    payload = rows[0]["payload"]
    payload = json.loads(payload) if isinstance(payload, str) else payload
    assert learner_id in payload["user_ids"] and payload["business_type"] == "teaching"
