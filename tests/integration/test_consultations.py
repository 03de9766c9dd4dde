"""Remote consultation end to end over real HTTP against the real app and database (SPEC 3):
the story of issue 3, the contacts search and creation. Refusals are in
``test_consultation_refusals.py``, attachments, the report and the meeting link in
``test_consultation_room.py``; the helpers in ``tests/fixtures/consultations.py``."""

from __future__ import annotations

import asyncio
import json
import shutil
from asyncio.subprocess import PIPE
from typing import Any

import anyio
import msgspec
import pytest

from api.management.departments import create_department
from api.management.hospitals import create_hospital
from api.management.new_accounts import create_account
from kernel.domain import Kind, Module
from store.tables import (
    Consultation,
    ConsultationReportVersion,
    Hospital,
    Outbox,
)
from store.uow import Ctx
from tests.e2e.conftest import SHOTS
from tests.fixtures.consultations import (
    create,
    decide,
    future,
    make_user,
    notify_rows,
    refused,
)
from tests.fixtures.hospitals import PASSWORD, as_user, department, user_id

pytestmark = pytest.mark.integration


# --- the story ------------------------------------------------------------------------------


async def test_the_story_of_issue_3(new_api, uniq) -> None:
    city_radiology = await department("CITY", "Radiology")
    west_radiology = await department("WEST", "Radiology")
    west_medicine = await department("WEST", "Internal Medicine")
    medicine_reviewer, medicine_reviewer_id = await make_user(
        uniq, "WEST", "Internal Medicine", "Senior radiologist"
    )
    _, new_expert_id = await make_user(uniq, "CITY", "Radiology", "Radiologist")
    ids = {u: await user_id(u) for u in ("dr.li", "dr.wang", "dr.liu", "dr.zhao", "dr.zhang")}

    # dr.li applies: three departments of two hospitals, two of them mandatory.
    li = await as_user(new_api, "dr.li")
    topic = uniq("Lung nodule 肺结节 ")
    made = await create(
        li,
        [
            {"department_id": city_radiology, "mandatory": True, "expert_id": ids["dr.wang"]},
            {"department_id": west_radiology, "mandatory": True},
            {"department_id": west_medicine, "mandatory": False, "expert_id": ids["dr.zhao"]},
        ],
        topic,
    )
    cid = made["id"]
    assert made["state"] == "reviewing" and made["version"] == 1
    assert made["patient"]["id_number"] == "11010519610314123X"
    assert made["patient"]["his_number"] == "HIS-778812"
    assert [(p["name"], p["role"]) for p in made["participants"]] == [("Li Na 李娜", "applicant")]
    assert made["my_roles"] == ["applicant", "participant"]
    assert made["actions"] == ["withdraw"] and "start" in made["blocked"]
    created = {r["event"]: set(r["user_ids"]) for r in await notify_rows(cid)}
    assert all(r["link"] == f"/consultations/{cid}" for r in await notify_rows(cid))
    assert created["submitted"] == {ids["dr.li"]}  # his own request: "sent", not "review it"
    assert {ids["dr.wang"], ids["dr.liu"], medicine_reviewer_id} <= created["create"]
    assert ids["dr.li"] not in created["create"]
    # the invited experts; dr.wang, also CITY Radiology's reviewer, was asked to review
    assert created["invited"] == {ids["dr.zhao"]}
    assert ids["dr.zhang"] not in set().union(*created.values())

    # The reviewers find it in their review list.
    wang = await as_user(new_api, "dr.wang")
    liu = await as_user(new_api, "dr.liu")
    reviewer = await as_user(new_api, medicine_reviewer, PASSWORD)
    for client, dept in ((wang, city_radiology), (liu, west_radiology), (reviewer, west_medicine)):
        listed = (await client.get("/api/consultations/reviews")).json()
        mine = [c for c in listed if c["id"] == cid]
        assert mine and mine[0]["topic"] == topic and mine[0]["pending_departments"], listed
        room = (await client.get(f"/api/consultations/{cid}")).json()
        assert [i["can_decide"] for i in room["invites"]] == [
            i["department_id"] == dept for i in room["invites"]
        ]

    # dr.wang adjusts the expert of his department.
    res = await wang.post(
        f"/api/consultations/{cid}/expert",
        json={"department_id": city_radiology, "user_id": new_expert_id, "version": 1},
    )
    assert res.status_code == 200, res.text
    assert res.json()["version"] == 2
    adjusted = {r["event"]: r["user_ids"] for r in (await notify_rows(cid))[3:]}
    assert adjusted["expert_assigned"] == [new_expert_id]
    assert adjusted["expert_replaced"] == [ids["dr.wang"]]  # he was the expert before
    assert new_expert_id not in adjusted.get("adjust_expert", [])

    # dr.liu agrees and joins.
    await decide(liu, cid, west_radiology, "agree_join", 2)
    # A non-mandatory department is denied, with a reason.
    no_capacity = "No capacity this week 本周无法安排"
    await decide(reviewer, cid, west_medicine, "deny", 3, reason=no_capacity)

    # Start is refused while the mandatory CITY Radiology has not agreed.
    body = await refused(
        li,
        "POST",
        f"/api/consultations/{cid}/start",
        409,
        cid,
        "dr.li",
        "Mandatory department Radiology 放射科 (City People's Hospital 市人民医院) has not agreed.",
        json={"version": 4},
    )
    assert body["state"] == "reviewing"

    await decide(wang, cid, city_radiology, "agree", 4)
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert room["state"] == "scheduled" and room["actions"] == ["start", "cancel"]
    assert [i["decision"] for i in room["invites"]] == ["agree", "agree_join", "deny"]
    assert room["invites"][2]["reason"] == no_capacity
    assert room["invites"][0]["expert"]["id"] == new_expert_id
    assert {(p["user_id"], p["role"]) for p in room["participants"]} == {
        (ids["dr.li"], "applicant"),
        (ids["dr.liu"], "participant"),
        (new_expert_id, "expert"),
    }

    res = await li.post(f"/api/consultations/{cid}/start", json={"version": 5})
    assert res.status_code == 200, res.text
    meeting = (
        await Outbox.select(Outbox.kind, Outbox.payload)
        .where(Outbox.idempotency_key == f"meeting-{cid}")
        .first()
    )
    assert meeting["kind"] == "meeting.create"
    assert msgspec.json.decode(meeting["payload"]) == {"consultation_id": cid}

    # Notifications: one row per step, later steps to the people of the consultation.
    rows = await notify_rows(cid)
    assert [r["event"] for r in rows] == [
        "submitted",
        "create",
        "invited",
        "expert_assigned",
        "expert_replaced",
        "adjust_expert",
        "agree",
        "deny",
        "agree",
        "start",
    ]
    assert set(rows[-1]["user_ids"]) == {ids["dr.li"], ids["dr.liu"], new_expert_id}
    assert all(r["business_type"] == "consultation" and r["case_id"] == cid for r in rows)

    # The timeline: every step, who, when, and the reason of the denial.
    timeline = (await li.get(f"/api/consultations/{cid}/timeline")).json()
    assert [(t["event"], t["to_state"]) for t in timeline] == [
        ("create", "reviewing"),
        ("adjust_expert", "reviewing"),
        ("agree", "reviewing"),
        ("deny", "reviewing"),
        ("agree", "scheduled"),
        ("start", "in_progress"),
    ]
    assert timeline[2]["summary"]["decision"] == "agree_join"
    assert timeline[3]["reason"] == "No capacity this week 本周无法安排"
    assert timeline[4]["actor"] == "Wang Wei 王伟"

    # The report: dr.liu (a participant) writes it, dr.li submits it.
    lock = await liu.post(f"/api/consultations/{cid}/report/lock")
    assert lock.status_code == 200, lock.text
    text = "会诊意见：右肺上叶磨玻璃结节，考虑早期腺癌可能，建议胸外科手术评估。\nOpinion: surgery."
    res = await liu.put(
        f"/api/consultations/{cid}/report", json={"text": text, "report_version": 0}
    )
    assert res.status_code == 200, res.text
    assert res.json()["report_version"] == 1
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert room["report"]["text"] == text and room["report"]["lock_holder"] is None
    res = await li.post(f"/api/consultations/{cid}/report/submit", json={"version": 6})
    assert res.status_code == 200, res.text
    row = (
        await Consultation.select(Consultation.state, Consultation.report_submitted_at)
        .where(Consultation.id == cid)
        .first()
    )
    assert row["state"] == "finished" and row["report_submitted_at"] is not None
    versions = await ConsultationReportVersion.select().where(
        ConsultationReportVersion.consultation == cid
    )
    assert [(v["version"], v["submitted"], v["text"]) for v in versions] == [(1, True, text)]

    # Print: a PDF with the Noto CJK font embedded and the Chinese text in it.
    pdf = await li.get(f"/api/consultations/{cid}/report.pdf", headers={"accept-language": "zh"})
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert b"NotoSansCJK" in pdf.content
    await anyio.Path(SHOTS).mkdir(parents=True, exist_ok=True)
    await anyio.Path(SHOTS / "consultation-report.pdf").write_bytes(pdf.content)  # to look at
    if shutil.which("pdftotext"):
        proc = await asyncio.create_subprocess_exec("pdftotext", "-", "-", stdin=PIPE, stdout=PIPE)
        out = (await proc.communicate(pdf.content))[0].decode()
        assert "远程会诊报告" in out and "右肺上叶磨玻璃结节" in out and "张三" in out

    # The admins' consultation log: CITY's admin sees it; EAST's admin does not.
    city_admin = await as_user(new_api, "admin.city")
    log = (await city_admin.get(f"/api/consultations/log?q={topic}")).json()
    assert [(e["id"], e["state"], e["applicant_name"]) for e in log["items"]] == [
        (cid, "finished", "Li Na 李娜")
    ]
    assert "patient" not in json.dumps(log).lower()
    east_admin = await as_user(new_api, "admin.east")
    assert (await east_admin.get(f"/api/consultations/log?q={topic}")).json()["total"] == 0


# --- contacts and creation ------------------------------------------------------------------


async def test_contacts_search_only_consultation_hospitals_of_the_alliance(new_api, uniq) -> None:
    hospital = await Hospital.select(Hospital.alliance).where(Hospital.code == "CITY").first()
    name = uniq("Nocons Hospital ")
    off = await create_hospital(
        Ctx(), hospital["alliance"], name, uniq("NC").upper(), "lower", [Module.teaching.value]
    )
    await create_department(Ctx(), off, "Radiology 放射科")
    li = await as_user(new_api, "dr.li")
    found = (await li.get("/api/contacts", params={"q": "xishan"})).json()
    assert found["departments"] and all(
        d["hospital_name"].startswith("Xishan") for d in found["departments"]
    )
    assert any(d["display_name"] == "Liu Yang 刘洋" and d["reviewer"] for d in found["doctors"])
    assert (await li.get("/api/contacts", params={"q": name})).json() == {
        "departments": [],
        "doctors": [],
    }
    west = await department("WEST", "Radiology")
    doctors = (await li.get("/api/contacts", params={"department_id": west})).json()["doctors"]
    assert "Liu Yang 刘洋" in [d["display_name"] for d in doctors]
    assert {d["department_id"] for d in doctors} == {west}
    by_person = (await li.get("/api/contacts", params={"q": "刘洋"})).json()
    assert [d["display_name"] for d in by_person["doctors"]] == ["Liu Yang 刘洋"]


async def test_module_switched_off_is_403(new_api, uniq) -> None:
    hospital = await Hospital.select(Hospital.alliance).where(Hospital.code == "CITY").first()
    off = await create_hospital(
        Ctx(), hospital["alliance"], uniq("Off "), uniq("OFF").upper(), "lower", []
    )
    username = uniq("off")
    await create_account(
        Ctx(),
        username=username,
        password=PASSWORD,
        display_name="Off Doctor",
        kind=Kind.doctor,
        alliance_id=hospital["alliance"],
        hospital_id=off,
    )
    client = await as_user(new_api, username, PASSWORD)
    for url in ("/api/consultations", "/api/contacts", "/api/consultations/reviews"):
        res = await client.get(url)
        assert res.status_code == 403 and "switched off" in res.json()["detail"]


async def test_bad_create_input_is_a_sentence_and_stores_nothing(new_api, uniq) -> None:
    li = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    city_cardiology = await department("CITY", "Cardiology")
    wang = await user_id("dr.wang")
    topic = uniq("bad ")
    base = {"topic": topic, "scheduled_at": future(), "invites": [{"department_id": west}]}
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"invites": []}, 400, "Invite at least one department."),
        ({"topic": "  "}, 400, "Please enter the topic."),
        ({"scheduled_at": "tomorrow"}, 400, "is not a date and time"),
        ({"scheduled_at": future(-1)}, 400, "lies in the past"),
        ({"invites": [{"department_id": 999999}]}, 400, "cannot be invited"),
        (
            {"invites": [{"department_id": west}, {"department_id": west}]},
            400,
            "invited twice",
        ),
        (
            {"invites": [{"department_id": city_cardiology, "expert_id": wang}]},
            400,
            "is not an active doctor of Cardiology",
        ),
        ({"patient": {"birth_date": "1961-02-30"}}, 400, "is not a date"),
        ({"patient": {"sex": "x"}}, 400, "male, female or other"),
    ]
    for change, status, says in cases:
        res = await li.post("/api/consultations", json={**base, **change})
        assert res.status_code == status, (change, res.text)
        assert says in res.json()["detail"], res.json()
    res = await li.post("/api/consultations", json={**base, "unknown": 1})
    assert res.status_code == 400
    assert await Consultation.count().where(Consultation.topic == topic) == 0
    admin = await as_user(new_api, "admin.city")
    res = await admin.post("/api/consultations", json=base)
    assert res.status_code == 403
