"""Sharing an examination with a colleague (SPEC 2.6, issue 5 item 8) over real HTTP against
the real app and database; the WeCom message goes through the real dispatcher, real Prefect
flows and apprise's WeCom plugin to the fake WeCom server on loopback.

Every test makes its own hospitals (unique codes), doctors and examinations.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import pytest
import websockets

from kernel.settings import get_settings
from store.tables import AuditLog, DiagnosisRequest, ExamShare, Outbox
from store.uow import Ctx, now
from tests.fixtures.exams import (
    make_exam,
)
from tests.fixtures.hospitals import ALL_MODULES, Staff
from tests.fixtures.hospitals import make_hospital as make_shared_hospital
from tests.integration.test_notification_delivery import add_channel, bind, set_rule, wait_outbox

pytestmark = pytest.mark.integration

CTX = Ctx(ip="127.0.0.1", user_agent="test")
APP_SEND = "/cgi-bin/message/send"


@dataclass
class Doctor:
    id: int
    username: str
    name: str
    client: Any  # tests.conftest.Api, logged in


@dataclass
class Hosp:
    id: int
    code: str
    admin: Any
    senior: Doctor  # role "Senior radiologist": may share
    colleague: Doctor  # role "Radiologist": may share
    clinician: Doctor  # role "Clinician": may share too
    plain: Doctor  # no role: may not share


async def make_hospital(new_api: Any, uniq: Any, modules: list[str] | None = None) -> Hosp:
    def doctor(role: str | None, name: str) -> Staff:
        return Staff(role=role, prefix="sh.", display_name=name)

    made = await make_shared_hospital(
        new_api,
        uniq,
        prefix="SH-",
        name="Share test {code} 分享医院",
        modules=modules if modules is not None else ALL_MODULES,
        staff={
            "admin": Staff(admin=True, prefix="sha.", display_name="Share admin"),
            "senior": doctor("Senior radiologist", "王医生 {code}"),
            "colleague": doctor("Radiologist", "李医生 {code}"),
            "clinician": doctor("Clinician", "Dr Chen {code}"),
            "plain": doctor(None, "Dr Plain {code}"),
        },
    )
    doctors = {
        key: Doctor(m.id, m.username, m.display_name, m.client)
        for key, m in made.members.items()
        if key != "admin"
    }
    return Hosp(made.id, made.code, made["admin"].client, **doctors)


async def refusals_after(mark: int, username: str) -> list[dict[str, Any]]:
    return list(
        await AuditLog.select()
        .where(AuditLog.id > mark, AuditLog.username == username, AuditLog.outcome != "success")
        .order_by(AuditLog.id)
    )


async def audit_mark() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


# --- the story ------------------------------------------------------------------------------


async def test_share_reaches_the_colleague_by_wecom_with_a_link_and_no_patient_name(
    dispatcher, fake, new_api, uniq, app_url
) -> None:
    h = await make_hospital(new_api, uniq)
    corp = uniq("ww")
    channel = await add_channel(
        h,  # type: ignore[arg-type]
        "wecom_app",
        {"corp_id": corp, "agent_id": "1000002", "secret": "S3cret", "base_url": fake.base_url},
    )
    await set_rule(h, "share", [channel], "involved")  # type: ignore[arg-type]
    wecom_user = uniq("Li.")
    await bind(h, h.colleague.id, wecom_userid=wecom_user)  # type: ignore[arg-type]
    exam_id = await make_exam(h.id, name="ZHANG^SANFENG=张三丰")

    # the colleague's page is open: the share arrives on his live topic
    cookies = "; ".join(f"{k}={v}" for k, v in h.colleague.client.http.cookies.items())
    url = app_url.replace("http://", "ws://") + "/ws"
    topic = f"user:{h.colleague.id}"
    async with websockets.connect(url, additional_headers={"Cookie": cookies}) as ws:
        await ws.send(json.dumps({"op": "subscribe", "topics": [topic], "last_id": -1}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["topics"] == [topic]
        res = await h.senior.client.post(
            f"/api/exams/{exam_id}/shares",
            json={"to_user_id": h.colleague.id, "message": "请看左肺下叶 张三丰"},
        )
        assert res.status_code == 201, res.text
        while True:
            msg = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if msg.get("type") == "share.received":
                break
    share = res.json()
    assert msg["payload"] == {"id": share["id"], "exam_id": exam_id}
    assert share["exam_id"] == exam_id and share["to_user_id"] == h.colleague.id
    assert share["from_name"] == h.senior.name and share["read_at"] is None
    assert share["link"] == f"/exams/shared/{share['id']}"

    outbox = await Outbox.select().where(Outbox.idempotency_key == f"notify-share-{share['id']}")
    assert len(outbox) == 1 and outbox[0]["kind"] == "notify"
    await wait_outbox(dispatcher, [outbox[0]["id"]], "done")
    sends = [r for r in fake.delivered(APP_SEND) if r.body.get("touser") == wecom_user]
    assert sends, fake.requests[-5:]
    content = sends[0].body["text"]["content"]
    link = f"{get_settings().base_url}/exams/shared/{share['id']}"
    headline = f"影像分享 #{share['id']}：有同事与您分享了检查"
    assert content == f"{headline}\r\n登录 AIMIS 查看详情: {link}"
    for secret in ("张三丰", "ZHANG", "SANFENG", "左肺"):
        assert secret not in content

    # "shared with me": newest first, unread marked; opening marks it read (once)
    older = await h.clinician.client.post(
        f"/api/exams/{await make_exam(h.id)}/shares", json={"to_user_id": h.colleague.id}
    )
    assert older.status_code == 201, older.text
    got = (await h.colleague.client.get("/api/shares/received")).json()
    assert [s["id"] for s in got["items"]] == [older.json()["id"], share["id"]]
    assert got["unread"] == 2 and all(s["read_at"] is None for s in got["items"])
    assert got["items"][1]["patient_name"] == "张三丰 ZHANG SANFENG"
    assert got["items"][1]["message"] == "请看左肺下叶 张三丰"
    opened = await h.colleague.client.post(f"/api/shares/{share['id']}/read")
    assert opened.status_code == 200 and opened.json()["read_at"]
    again = await h.colleague.client.post(f"/api/shares/{share['id']}/read")
    assert again.json()["read_at"] == opened.json()["read_at"]
    got = (await h.colleague.client.get("/api/shares/received")).json()
    assert got["unread"] == 1
    assert {s["id"]: bool(s["read_at"]) for s in got["items"]} == {
        share["id"]: True,
        older.json()["id"]: False,
    }
    # the deep link of the message: marks read and opens the examination's page
    page = await h.colleague.client.get(f"/exams/shared/{older.json()['id']}")
    assert page.status_code in (302, 303)
    assert page.headers["location"] == f"/exams/{older.json()['exam_id']}"
    assert (await h.colleague.client.get("/api/shares/received")).json()["unread"] == 0
    # the sender's list is his own: nothing was shared with him
    assert (await h.senior.client.get("/api/shares/received")).json()["items"] == []
    assert await AuditLog.exists().where(
        AuditLog.action == "exam.share", AuditLog.target_id == str(exam_id)
    )
    assert await AuditLog.exists().where(
        AuditLog.action == "share.open", AuditLog.username == h.colleague.username
    )


# --- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "exam", "to", "extra", "status", "words"),
    [
        ("senior", "own", "theirs", {}, 404, "your own hospital"),
        ("senior", "own", "self", {}, 400, "not with yourself"),
        ("senior", "own", "nobody", {}, 404, "your hospital"),
        ("senior", "own", "colleague", {"message": "x" * 301}, 400, "at most 300"),
        ("senior", "own", "colleague", {"extra": 1}, 400, "extra"),
        ("senior", "foreign", "colleague", {}, 404, "another hospital"),
        ("plain", "own", "colleague", {}, 403, "'share'"),
    ],
    ids=[
        "other-hospital",
        "yourself",
        "nobody",
        "long-message",
        "extra-field",
        "their-exam",
        "no-right",
    ],
)
async def test_share_refusals_change_nothing(
    new_api, uniq, who, exam, to, extra, status, words
) -> None:
    h = await make_hospital(new_api, uniq)
    other = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id if exam == "own" else other.id)
    mark = await audit_mark()
    to_user = {
        "theirs": other.colleague.id,
        "self": h.senior.id,
        "nobody": 10**9,
        "colleague": h.colleague.id,
    }[to]
    sender = getattr(h, who)
    res = await sender.client.post(
        f"/api/exams/{exam_id}/shares", json={"to_user_id": to_user, **extra}
    )
    assert res.status_code == status, res.text
    assert words in res.text, res.text
    assert await ExamShare.count().where(ExamShare.hospital.is_in([h.id, other.id])) == 0
    audited = await refusals_after(mark, sender.username)
    assert len(audited) == 1, audited
    assert all(a["action"].startswith("POST /api/exams/") for a in audited), audited


async def test_only_colleagues_of_the_same_hospital_and_refusals_change_nothing(
    new_api, uniq
) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id)
    mark = await audit_mark()
    shares = f"/api/exams/{exam_id}/shares"

    # the colleague list: active doctors of my hospital, not me, found by name
    names = (await h.senior.client.get("/api/shares/colleagues")).json()
    assert {c["id"] for c in names} == {h.colleague.id, h.clinician.id, h.plain.id}
    assert names[0]["department_name"] == "Radiology 放射科"
    found = (await h.senior.client.get("/api/shares/colleagues", params={"q": "李医"})).json()
    assert [c["id"] for c in found] == [h.colleague.id]
    found = (await h.senior.client.get("/api/shares/colleagues", params={"q": "dr c"})).json()
    assert [c["id"] for c in found] == [h.clinician.id]
    none = await h.senior.client.get("/api/shares/colleagues", params={"q": "%"})
    assert none.status_code == 200 and none.json() == []
    assert (await h.plain.client.get("/api/shares/colleagues")).status_code == 403

    # another user's share cannot be opened (and the refusal is audited)
    made = await h.senior.client.post(shares, json={"to_user_id": h.colleague.id})
    assert made.status_code == 201
    res = await h.clinician.client.post(f"/api/shares/{made.json()['id']}/read")
    assert res.status_code == 404
    assert (await refusals_after(mark, h.clinician.username))[-1]["outcome"] == "denied"
    row = await ExamShare.select().where(ExamShare.id == made.json()["id"]).first()
    assert row["read_at"] is None


async def test_module_switched_off_is_403(new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq, modules=["consultation"])
    exam_id = await make_exam(h.id)
    res = await h.senior.client.post(
        f"/api/exams/{exam_id}/shares", json={"to_user_id": h.colleague.id}
    )
    assert res.status_code == 403 and "remote_diagnosis" in res.json()["detail"]
    assert (await h.senior.client.get("/api/shares/received")).status_code == 403


async def test_a_share_is_a_pointer_not_a_permission(new_api, uniq) -> None:
    """An examination of another hospital, seen through a diagnosis request: shared inside
    the diagnosing hospital, it leaves the colleague's list when the request is cancelled."""
    sender = await make_hospital(new_api, uniq)
    diagnosing = await make_hospital(new_api, uniq)
    exam_id = await make_exam(sender.id)
    at = now()
    request = await DiagnosisRequest.insert(
        DiagnosisRequest(
            examination=exam_id,
            hospital=sender.id,
            target_hospital=diagnosing.id,
            state="accepted",
            requested_by=sender.senior.id,
            created_at=at,
            updated_at=at,
        )
    ).returning(DiagnosisRequest.id)
    res = await diagnosing.senior.client.post(
        f"/api/exams/{exam_id}/shares", json={"to_user_id": diagnosing.colleague.id}
    )
    assert res.status_code == 201, res.text
    share_id = res.json()["id"]
    got = (await diagnosing.colleague.client.get("/api/shares/received")).json()
    assert [s["id"] for s in got["items"]] == [share_id]

    await DiagnosisRequest.update({DiagnosisRequest.state: "cancelled"}).where(
        DiagnosisRequest.id == request[0]["id"]
    )
    got = (await diagnosing.colleague.client.get("/api/shares/received")).json()
    assert got["items"] == []
    opened = await diagnosing.colleague.client.post(f"/api/shares/{share_id}/read")
    assert opened.status_code == 404
    page = await diagnosing.colleague.client.get(f"/exams/shared/{share_id}")
    assert page.status_code == 404
