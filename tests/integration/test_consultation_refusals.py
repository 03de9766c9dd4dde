"""Remote consultation: each bad input and security case (SPEC 3), each asserting a clear 4xx,
nothing changed, and an audit row."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.fixtures import consultations as fx
from tests.fixtures.hospitals import as_user, department, user_id

pytestmark = pytest.mark.integration


# --- bad input and security: each a test ----------------------------------------------------


async def test_decision_by_someone_not_reviewing_that_department_is_403(new_api, uniq) -> None:
    li = await as_user(new_api, "dr.li")
    city = await department("CITY", "Radiology")
    west = await department("WEST", "Radiology")
    made = await fx.create(
        li,
        [{"department_id": city, "mandatory": True}, {"department_id": west, "mandatory": True}],
        uniq("not yours "),
    )
    cid = made["id"]
    wang = await as_user(new_api, "dr.wang")  # reviews CITY Radiology, sees the case
    await fx.refused(
        wang,
        "POST",
        f"/api/consultations/{cid}/decisions",
        403,
        cid,
        "dr.wang",
        "Only a reviewer of Radiology 放射科 (Xishan County Hospital 西山县医院)",
        json={"department_id": west, "decision": "agree", "version": 1},
    )
    await fx.refused(
        li,  # the applicant is no reviewer
        "POST",
        f"/api/consultations/{cid}/decisions",
        403,
        cid,
        "dr.li",
        json={"department_id": city, "decision": "agree", "version": 1},
    )
    await fx.refused(
        wang,
        "POST",
        f"/api/consultations/{cid}/expert",
        403,
        cid,
        "dr.wang",
        json={"department_id": west, "user_id": await user_id("dr.liu"), "version": 1},
    )


async def test_the_same_decision_twice_is_409(new_api, uniq) -> None:
    _, cid = await fx.simple_case(new_api, uniq, mandatory=False)
    liu = await as_user(new_api, "dr.liu")
    west = await department("WEST", "Radiology")
    decision = {"department_id": west, "decision": "agree", "version": 1}
    assert (await liu.post(f"/api/consultations/{cid}/decisions", json=decision)).status_code == 200
    # the old version is stale; the current one meets the decision already made
    for says, version in (("changed by someone else", 1), ("has already decided (agree).", 2)):
        await fx.refused(
            liu,
            "POST",
            f"/api/consultations/{cid}/decisions",
            409,
            cid,
            "dr.liu",
            says,
            json={**decision, "version": version},
        )


async def test_deciding_after_the_start_or_after_a_cancel_is_409(new_api, uniq) -> None:
    li = await as_user(new_api, "dr.li")
    city = await department("CITY", "Radiology")
    west = await department("WEST", "Radiology")
    invites = [{"department_id": west, "mandatory": True}, {"department_id": city}]
    liu = await as_user(new_api, "dr.liu")
    wang = await as_user(new_api, "dr.wang")

    for step, body, decision, says in (
        (
            "start",
            {},
            {"decision": "agree"},
            "You cannot agree a consultation that is in_progress.",
        ),
        (
            "cancel",
            {"reason": "patient left"},
            {"decision": "deny", "reason": "late"},
            "You cannot deny a consultation that is cancelled.",
        ),
    ):
        cid = (await fx.create(li, invites, uniq(f"{step} ")))["id"]
        ok = {"department_id": west, "decision": "agree", "version": 1}
        assert (await liu.post(f"/api/consultations/{cid}/decisions", json=ok)).status_code == 200
        res = await li.post(f"/api/consultations/{cid}/{step}", json={"version": 2, **body})
        assert res.status_code == 200, res.text
        await fx.refused(
            wang,
            "POST",
            f"/api/consultations/{cid}/decisions",
            409,
            cid,
            "dr.wang",
            says,
            json={"department_id": city, **decision, "version": 3},
        )


async def test_starting_while_a_mandatory_approval_is_missing_is_409(new_api, uniq) -> None:
    li, cid = await fx.simple_case(new_api, uniq)
    await fx.refused(
        li,
        "POST",
        f"/api/consultations/{cid}/start",
        409,
        cid,
        "dr.li",
        "Mandatory department Radiology 放射科 (Xishan County Hospital 西山县医院) has not agreed.",
        json={"version": 1},
    )


async def test_only_the_applicant_starts_withdraws_or_cancels(new_api, uniq) -> None:
    li, cid = await fx.simple_case(new_api, uniq)
    liu = await as_user(new_api, "dr.liu")
    for step in ("start", "withdraw", "cancel"):
        await fx.refused(
            liu,
            "POST",
            f"/api/consultations/{cid}/{step}",
            403,
            cid,
            "dr.liu",
            f"Only the applicant may {step} the consultation.",
            json={"version": 1},
        )
    res = await li.post(f"/api/consultations/{cid}/withdraw", json={"version": 1})
    assert res.status_code == 200 and (await fx.snapshot(cid))["state"] == "withdrawn"
    withdrawn = (await fx.notify_rows(cid))[-1]
    assert withdrawn["event"] == "withdraw"
    assert {await user_id("dr.li"), await user_id("dr.liu")} <= set(withdrawn["user_ids"])


async def test_other_hospitals_cases_and_cases_you_take_no_part_in_are_404(
    new_api, app_url, uniq
) -> None:
    li, cid = await fx.simple_case(new_api, uniq)
    west = await department("WEST", "Radiology")
    for outsider in ("dr.chen", "dr.zhang", "dr.zhao"):  # EAST; CITY colleague; WEST clinician
        client = await as_user(new_api, outsider)
        for method, url, kw in [
            ("GET", f"/api/consultations/{cid}", {}),
            ("GET", f"/api/consultations/{cid}/timeline", {}),
            ("GET", f"/api/consultations/{cid}/report.pdf", {}),
            (
                "POST",
                f"/api/consultations/{cid}/decisions",
                {"json": {"department_id": west, "decision": "agree", "version": 1}},
            ),
            ("POST", f"/api/consultations/{cid}/report/lock", {}),
            (
                "POST",
                f"/api/consultations/{cid}/attachments",
                {"files": {"file": ("a.pdf", fx.PDF_BYTES, "application/pdf")}},
            ),
        ]:
            body = await fx.refused(
                client, method, url, 404, cid, outsider, "or you take no part in it.", **kw
            )
            assert str(cid) in body["detail"]
        assert cid not in [c["id"] for c in (await client.get("/api/consultations")).json()]
        page = await client.get(f"/consultations/{cid}", headers={"accept": "text/html"})
        assert page.status_code == 404 and "Li Na" not in page.text
        # The room's live topic is fx.refused too.
        cookies = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
        ws_url = app_url.replace("http://", "ws://") + "/ws"
        async with websockets.connect(ws_url, additional_headers={"Cookie": cookies}) as ws:
            topic = f"case:consultation:{cid}"
            await ws.send(json.dumps({"op": "subscribe", "topics": [topic]}))
            reply = json.loads(await asyncio.wait_for(ws.recv(), 3))
            assert reply["refused"] == {topic: "you take no part in this case"}
    missing = await li.get("/api/consultations/99999999")
    assert missing.status_code == 404


async def test_the_room_live_topic_delivers_each_step(new_api, app_url, uniq) -> None:
    li, cid = await fx.simple_case(new_api, uniq)
    liu = await as_user(new_api, "dr.liu")
    cookies = "; ".join(f"{k}={v}" for k, v in li.http.cookies.items())
    ws_url = app_url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(ws_url, additional_headers={"Cookie": cookies}) as ws:
        topic = f"case:consultation:{cid}"
        await ws.send(json.dumps({"op": "subscribe", "topics": [topic]}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 3))["topics"] == [topic]
        west = await department("WEST", "Radiology")
        res = await liu.post(
            f"/api/consultations/{cid}/decisions",
            json={"department_id": west, "decision": "agree", "version": 1},
        )
        assert res.status_code == 200
        event = json.loads(await asyncio.wait_for(ws.recv(), 1))
        assert event["type"] == "consultation.agree"
        assert (event["payload"]["from"], event["payload"]["to"]) == ("reviewing", "scheduled")
        assert event["payload"]["decision"] == "agree"
