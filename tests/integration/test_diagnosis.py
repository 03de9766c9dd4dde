"""Remote diagnosis requests (SPEC 2.2) over real HTTP against the real app and database:
who writes the report (``api.diagnosis.steps``), the request's API and every step, visibility
of the shared examination both ways, the alliance rule, concurrency, bad input (a sentence,
nothing changed, audited), live events and notices.

Every test makes its own hospitals (unique codes) and examinations, so tests share one
database without depending on each other; the helpers are in ``tests/fixtures/diagnosis.py``.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from api.diagnosis.steps import follow_report, reporting_hospital
from api.management.hospitals import (
    create_alliance,
)
from kernel.domain import Module
from kernel.errors import Conflict
from store.engine import timeline
from store.tables import (
    AuditLog,
    Event,
    Examination,
    Hospital,
)
from store.uow import unit_of_work
from tests.fixtures.diagnosis import (
    CTX,
    actor_ctx,
    exam_ids,
    exam_row,
    history_count,
    login,
    make_site,
    notices,
    refused,
    request_row,
    sent,
    step,
)
from tests.fixtures.exams import (
    make_exam,
)
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.integration


# --- the store contract: reporting_hospital and follow_report ---------------------------------


async def test_reporting_hospital_follows_the_open_request(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    exam = await exam_row(exam_id)
    assert await reporting_hospital(exam) == lower.hospital_id  # no request: its own
    client = await login(new_api, lower)
    request = await sent(client, exam_id, leading, clinical_info="cough", urgent=True)
    with pytest.raises(Conflict) as waiting:
        await reporting_hospital(exam)
    assert waiting.value.message == (
        f"The examination waits for {leading.name} to accept the remote diagnosis request."
    )
    target = await login(new_api, leading)
    assert (await step(target, request["id"], "accept")).status_code == 200
    assert await reporting_hospital(exam) == leading.hospital_id
    # a rejected or cancelled request gives the report back to the examination's hospital
    other = await make_exam(lower.hospital_id)
    second = await sent(client, other, leading)
    res = await step(target, second["id"], "reject", reason="no radiologist on duty")
    assert res.status_code == 200, res.text
    assert await reporting_hospital(await exam_row(other)) == lower.hospital_id
    third = await sent(client, other, leading)
    assert (await step(client, third["id"], "cancel")).status_code == 200
    assert await reporting_hospital(await exam_row(other)) == lower.hospital_id


async def test_follow_report_moves_the_request_with_the_report(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    client = await login(new_api, lower)
    request = await sent(client, exam_id, leading)
    rid = request["id"]
    target = await login(new_api, leading)
    assert (await step(target, rid, "accept")).status_code == 200
    ctx = actor_ctx(leading)

    async def follow(step_name: str, hospital_id: int | None = None) -> str:
        async with unit_of_work(ctx):  # as R and P call it: inside their unit of work
            await follow_report(ctx, exam_id, hospital_id or leading.hospital_id, step_name)
        return str((await request_row(rid))["state"])

    # a report of another hospital (the requester's own hospital) moves nothing
    assert await follow("draft", lower.hospital_id) == "accepted"
    assert await follow("draft") == "reporting"
    assert await follow("draft") == "reporting"  # a second save: no-op
    assert await follow("initial") == "initial_report"
    assert await follow("return") == "returned"
    assert await follow("initial") == "initial_report"  # straight from returned
    assert await follow("approve") == "reviewed"
    assert await follow("print") == "printed"
    assert await follow("print") == "printed"  # a reprint: no-op
    history = [(h["event"], h["to_state"]) for h in await timeline("diagnosis_request", rid)]
    assert history == [
        ("create", "requested"),
        ("accept", "accepted"),
        ("draft", "reporting"),
        ("initial", "initial_report"),
        ("return", "returned"),
        ("draft", "reporting"),
        ("initial", "initial_report"),
        ("approve", "reviewed"),
        ("print", "printed"),
    ]
    # the requesting hospital hears every step live
    events = await Event.select(Event.type).where(
        Event.topic == f"hospital:{lower.hospital_id}",
        Event.type.like("diagnosis_request.%"),
    )
    assert [e["type"] for e in events][-3:] == [
        "diagnosis_request.initial",
        "diagnosis_request.approve",
        "diagnosis_request.print",
    ]
    # the requesting doctor is told of acceptance, review and printing
    told = [(n["event"], n["user_ids"]) for n in await notices(rid)]
    assert ("review", [lower.ids["doctor"]]) in told and ("print", [lower.ids["doctor"]]) in told
    # a step out of order is refused (the report's transaction rolls back with it)
    with pytest.raises(Conflict):
        await follow("approve")
    assert (await request_row(rid))["state"] == "printed"


async def test_follow_report_rolls_back_with_the_report(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    request = await sent(await login(new_api, lower), exam_id, leading)
    assert (await step(await login(new_api, leading), request["id"], "accept")).status_code == 200
    ctx = actor_ctx(leading)
    with pytest.raises(RuntimeError):
        async with unit_of_work(ctx):
            await follow_report(ctx, exam_id, leading.hospital_id, "draft")
            raise RuntimeError("the report's own write failed")
    row = await request_row(request["id"])
    assert (row["state"], row["version"]) == ("accepted", 2)
    assert await history_count(request["id"]) == 2


# --- the story: send, see, accept; reject and cancel ------------------------------------------


async def test_send_accept_and_the_shared_examination_both_ways(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    private = await make_exam(lower.hospital_id)  # never sent
    theirs = await make_exam(leading.hospital_id)  # the diagnosing hospital's own
    requester, target = await login(new_api, lower), await login(new_api, leading)
    assert exam_id not in await exam_ids(target)
    assert (await target.get(f"/api/exams/{exam_id}")).status_code == 404

    # leading hospitals first in the choice of targets; never the own hospital
    choices = (await requester.get("/api/diagnosis-requests/targets")).json()
    ids = [c["id"] for c in choices]
    assert leading.hospital_id in ids and lower.hospital_id not in ids
    levels = [c["level"] for c in choices]
    assert levels == sorted(levels, key=lambda v: v != "leading")

    created = await sent(requester, exam_id, leading, clinical_info="咳嗽两周 cough", urgent=True)
    assert created["state"] == "requested" and created["urgent"] is True
    assert created["actions"] == ["cancel"] and created["direction"] == "outgoing"
    assert [t["event"] for t in created["timeline"]] == ["create"]

    # the target sees exactly the shared examination: not the requester's others
    seen = await exam_ids(target)
    assert exam_id in seen and private not in seen and theirs in seen
    assert (await target.get(f"/api/exams/{exam_id}")).json()["shared"] is True
    await refused(
        target, "GET", f"/api/exams/{private}", 404, leading.ids["doctor"], "another hospital"
    )
    # ... and the requester never sees the target's examinations
    assert theirs not in await exam_ids(requester)

    incoming = (await target.get("/api/diagnosis-requests", params={"box": "incoming"})).json()
    mine = [r for r in incoming["items"] if r["id"] == created["id"]]
    assert mine and mine[0]["actions"] == ["accept", "reject"]
    assert mine[0]["patient_name"] and mine[0]["hospital_name"] == lower.name
    outgoing = (await requester.get("/api/diagnosis-requests", params={"box": "outgoing"})).json()
    assert [r["id"] for r in outgoing["items"]] == [created["id"]]

    # the target's report writers are told (the senior radiologist and the radiologist)
    assert [(n["event"], n["user_ids"]) for n in await notices(created["id"])] == [
        ("create", sorted([leading.ids["doctor"], leading.ids["senior"]]))
    ]

    res = await step(target, created["id"], "accept", version=created["version"])
    assert res.status_code == 200, res.text
    accepted = res.json()
    assert accepted["state"] == "accepted" and accepted["actions"] == []
    assert [t["event"] for t in accepted["timeline"]] == ["create", "accept"]
    row = await request_row(created["id"])
    assert row["decided_by"] == leading.ids["doctor"]
    assert (await notices(created["id"]))[-1]["user_ids"] == [lower.ids["doctor"]]
    audit = await AuditLog.select().where(
        AuditLog.action == "diagnosis_request.accept",
        AuditLog.target_id == str(created["id"]),
    )
    assert len(audit) == 1 and audit[0]["hospital_id"] == leading.hospital_id
    # after acceptance the requester may not cancel any more
    await refused(
        requester,
        "POST",
        f"/api/diagnosis-requests/{created['id']}/cancel",
        409,
        lower.ids["doctor"],
        "waits for acceptance",
        json={},
    )
    # one open request per examination
    await refused(
        requester,
        "POST",
        "/api/diagnosis-requests",
        409,
        lower.ids["doctor"],
        "already has an open remote diagnosis request",
        json={"examination_id": exam_id, "target_hospital_id": leading.hospital_id},
    )


async def test_reject_and_cancel_end_the_sharing(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    requester, target = await login(new_api, lower), await login(new_api, leading)
    first = await sent(requester, exam_id, leading)
    # a rejection needs a reason
    await refused(
        target,
        "POST",
        f"/api/diagnosis-requests/{first['id']}/reject",
        400,
        leading.ids["doctor"],
        "reason",
        json={"reason": "   "},
    )
    res = await step(target, first["id"], "reject", reason="设备故障 equipment down")
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "rejected" and res.json()["reason"] == "设备故障 equipment down"
    assert exam_id not in await exam_ids(target)
    assert (await target.get(f"/api/exams/{exam_id}")).status_code == 404
    # the target can still read the request it rejected, not the examination
    assert (await target.get(f"/api/diagnosis-requests/{first['id']}")).status_code == 200
    assert (await notices(first["id"]))[-1]["event"] == "reject"

    # a new request after the rejection; then the requester cancels it
    second = await sent(requester, exam_id, leading)
    assert exam_id in await exam_ids(target)
    await refused(
        target,
        "POST",
        f"/api/diagnosis-requests/{second['id']}/cancel",
        403,
        leading.ids["doctor"],
        "requesting hospital",
        json={},
    )
    await refused(
        requester,
        "POST",
        f"/api/diagnosis-requests/{second['id']}/accept",
        403,
        lower.ids["doctor"],
        "diagnosing hospital",
        json={},
    )
    assert (await step(requester, second["id"], "cancel")).status_code == 200
    assert exam_id not in await exam_ids(target)
    assert [
        t["event"]
        for t in (await requester.get(f"/api/diagnosis-requests/{second['id']}")).json()["timeline"]
    ] == ["create", "cancel"]
    # nothing after a cancel
    await refused(
        target,
        "POST",
        f"/api/diagnosis-requests/{second['id']}/accept",
        409,
        leading.ids["doctor"],
        "already cancelled",
        json={},
    )


async def test_who_may_decide_and_who_sees_a_request(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    stranger = await make_site(uniq)
    exam_id = await make_exam(lower.hospital_id)
    request = await sent(await login(new_api, lower), exam_id, leading)
    rid = request["id"]
    clinician = await login(new_api, leading, "clinician")
    await refused(
        clinician, "POST", f"/api/diagnosis-requests/{rid}/accept", 403,
        leading.ids["clinician"], "report.write", json={},
    )  # fmt: skip
    other = await login(new_api, stranger)
    await refused(
        other,
        "GET",
        f"/api/diagnosis-requests/{rid}",
        404,
        stranger.ids["doctor"],
        "other hospitals",
    )
    await refused(
        other, "POST", f"/api/diagnosis-requests/{rid}/accept", 404,
        stranger.ids["doctor"], "other hospitals", json={},
    )  # fmt: skip
    assert exam_id not in await exam_ids(other)
    # the target hospital's administrator accepts
    admin = await login(new_api, leading, "admin")
    res = await step(admin, rid, "accept")
    assert res.status_code == 200, res.text
    assert (await request_row(rid))["decided_by"] == leading.ids["admin"]


async def test_only_an_alliance_hospital_with_the_module_is_a_target(new_api, uniq) -> None:
    lower = await make_site(uniq)
    no_module = await make_site(uniq, modules=[Module.consultation.value])
    inactive = await make_site(uniq)
    await Hospital.update({Hospital.active: False}).where(Hospital.id == inactive.hospital_id)
    far_alliance = await create_alliance(
        CTX, f"Far alliance {uniq('')} 远方医联体", uniq("far.admin."), PASSWORD
    )
    far = await make_site(uniq, level="leading", alliance_id=far_alliance)
    exam_id = await make_exam(lower.hospital_id)
    client = await login(new_api, lower)
    targets = {t["id"] for t in (await client.get("/api/diagnosis-requests/targets")).json()}
    assert not targets & {no_module.hospital_id, inactive.hospital_id, far.hospital_id}
    cases = [(site, "active hospital of your alliance") for site in (no_module, inactive, far)]
    for site, says in [*cases, (lower, "itself")]:
        await refused(
            client,
            "POST",
            "/api/diagnosis-requests",
            400,
            lower.ids["doctor"],
            says,
            json={"examination_id": exam_id, "target_hospital_id": site.hospital_id},
        )
    # the far hospital never sees the examination
    assert exam_id not in await exam_ids(await login(new_api, far))


URL = "/api/diagnosis-requests"


@pytest.mark.parametrize(
    ("method", "path", "status", "says", "sent_with"),
    [
        ("POST", "", 400, "at most 2000", {"json": {"clinical_info": "x" * 2001}}),
        ("POST", "", 404, "another hospital", {"json": {"examination_id": "theirs"}}),
        ("POST", "", 404, "another hospital", {"json": {"examination_id": 10**9}}),
        ("GET", "", 400, "incoming or outgoing", {"params": {"box": "sideways"}}),
        ("GET", "", 400, "The state is one of", {"params": {"state": "lost"}}),
        ("GET", "", 400, "cursor", {"params": {"cursor": "nonsense!"}}),
        ("GET", "", 400, "limit", {"params": {"limit": 0}}),
        ("GET", f"/{10**9}", 404, "other hospitals", {}),
    ],
    ids=["long-info", "their-exam", "no-exam", "box", "state", "cursor", "limit", "no-request"],
)
async def test_bad_input_is_a_sentence_and_stores_nothing(
    new_api, uniq, method, path, status, says, sent_with
) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    theirs = await make_exam(leading.hospital_id)
    client = await login(new_api, lower)
    uid = lower.ids["doctor"]
    body = {"examination_id": exam_id, "target_hospital_id": leading.hospital_id}
    kw = dict(sent_with)
    if "json" in kw:
        extra = {k: theirs if v == "theirs" else v for k, v in kw["json"].items()}
        kw["json"] = {**body, **extra}
    await refused(client, method, URL + path, status, uid, says, **kw)


async def test_a_reported_exam_is_not_sent_and_an_admin_sends_nothing(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    client = await login(new_api, lower)
    uid = lower.ids["doctor"]
    url = URL
    body = {"examination_id": exam_id, "target_hospital_id": leading.hospital_id}
    # an examination already reported at home is not sent away
    await Examination.update({Examination.status: "reviewed"}).where(Examination.id == exam_id)
    await refused(client, "POST", url, 409, uid, "past its draft", json=body)
    # an administrator does not send requests (doctors do)
    admin = await login(new_api, lower, "admin")
    await Examination.update({Examination.status: "images_arrived"}).where(
        Examination.id == exam_id
    )
    await refused(admin, "POST", url, 403, lower.ids["admin"], "Only a doctor", json=body)


async def test_two_accepts_at_once_exactly_one_wins(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    request = await sent(await login(new_api, lower), exam_id, leading)
    doctor, senior = await login(new_api, leading), await login(new_api, leading, "senior")
    results = await asyncio.gather(
        step(doctor, request["id"], "accept", version=1),
        step(senior, request["id"], "accept", version=1),
        step(doctor, request["id"], "reject", reason="busy", version=1),
    )
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 409, 409], [r.text for r in results]
    for loser in (r for r in results if r.status_code == 409):
        assert loser.json()["detail"].endswith(".")
    row = await request_row(request["id"])
    assert row["version"] == 2 and row["state"] in ("accepted", "rejected")
    assert await history_count(request["id"]) == 2


async def test_lists_urgent_first_state_filter_and_keyset_paging(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    client = await login(new_api, lower)
    made = []
    for i in range(5):
        exam_id = await make_exam(lower.hospital_id)
        made.append(await sent(client, exam_id, leading, urgent=i in (1, 3)))
    target = await login(new_api, leading)
    assert (await step(target, made[0]["id"], "reject", reason="no")).status_code == 200
    pages, cursor = [], ""
    while True:
        params: dict[str, Any] = {"box": "incoming", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        res = (await target.get("/api/diagnosis-requests", params=params)).json()
        pages.append([r["id"] for r in res["items"]])
        cursor = res["next_cursor"]
        if not cursor:
            break
    ids = [i for p in pages for i in p]
    expected = [made[3]["id"], made[1]["id"], made[4]["id"], made[2]["id"], made[0]["id"]]
    assert ids == expected and all(len(p) <= 2 for p in pages)
    open_ = await target.get("/api/diagnosis-requests", params={"state": "open"})
    assert made[0]["id"] not in [r["id"] for r in open_.json()["items"]]
    rejected = await target.get("/api/diagnosis-requests", params={"state": "rejected"})
    assert [r["id"] for r in rejected.json()["items"]] == [made[0]["id"]]
    # the requester's incoming box is empty: it asked, it does not diagnose
    assert (await client.get("/api/diagnosis-requests")).json()["items"] == []


async def test_every_step_is_live_on_both_hospitals(app_url, new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    requester, target = await login(new_api, lower), await login(new_api, leading)
    url = app_url.replace("http://", "ws://") + "/ws"
    seen: dict[str, list[tuple[str, Any]]] = {}
    sockets = {}
    for name, client, site in (("lower", requester, lower), ("leading", target, leading)):
        cookies = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
        ws = await websockets.connect(url, additional_headers={"Cookie": cookies})
        topic = f"hospital:{site.hospital_id}"
        await ws.send(json.dumps({"op": "subscribe", "topics": [topic], "last_id": -1}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["topics"] == [topic]
        sockets[name] = ws
        seen[name] = []
    try:
        request = await sent(requester, exam_id, leading)
        assert (await step(target, request["id"], "accept")).status_code == 200
        ctx = actor_ctx(leading)
        async with unit_of_work(ctx):
            await follow_report(ctx, exam_id, leading.hospital_id, "initial")
        want = {
            "diagnosis_request.create",
            "diagnosis_request.accept",
            "diagnosis_request.draft",
            "diagnosis_request.initial",
        }
        for name, ws in sockets.items():
            while not want <= {t for t, _ in seen[name]}:
                msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if msg.get("op") == "event":
                    seen[name].append((msg["type"], msg["payload"]))
            # the examination's own event comes too, so open lists refresh
            assert any(t == "exam.changed" and p["id"] == exam_id for t, p in seen[name])
            accept = next(p for t, p in seen[name] if t == "diagnosis_request.accept")
            assert accept["case_id"] == request["id"] and accept["examination_id"] == exam_id
            assert "patient_name" not in accept  # ids and states only
    finally:
        for ws in sockets.values():
            await ws.close()


async def test_exam_panel_and_pages_are_404_for_other_hospitals(new_api, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id)
    requester, target = await login(new_api, lower), await login(new_api, leading)
    panel = await requester.get(f"/exams/{exam_id}/panel/diagnosis")
    assert panel.status_code == 200 and 'data-testid="dx-send-form"' in panel.text
    assert leading.name in panel.text
    assert (await target.get(f"/exams/{exam_id}/panel/diagnosis")).status_code == 404
    await sent(requester, exam_id, leading, clinical_info="发热 fever")
    panel = await target.get(f"/exams/{exam_id}/panel/diagnosis")
    assert panel.status_code == 200 and 'data-testid="dx-accept"' in panel.text
    assert "发热 fever" in panel.text
    page = await target.get("/diagnosis", params={"box": "incoming"})
    assert page.status_code == 200 and f'data-exam="{exam_id}"' in page.text
