"""Remote consultation end to end over real HTTP against the real app and database (SPEC 3):
the story of issue 3, then each bad input and security case — each asserting a clear 4xx,
nothing changed, and an audit row."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
from asyncio.subprocess import PIPE
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import msgspec
import pytest
import websockets

from api.management.service import create_account, create_department, create_hospital
from flows.consultation import MEETING_TEMPLATE_ENV, create_meeting
from kernel.domain import Kind, Module
from kernel.settings import get_settings
from store.tables import (
    Attachment,
    AuditLog,
    CaseHistory,
    Consultation,
    ConsultationInvite,
    ConsultationParticipant,
    ConsultationReportVersion,
    Event,
    Hospital,
    Outbox,
    Role,
    Timer,
)
from store.uow import Ctx, now
from tests.conftest import Api
from tests.e2e.conftest import SHOTS
from tests.fixtures.hospitals import PASSWORD, as_user, department, user_id

pytestmark = pytest.mark.integration

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG_BYTES = b"\xff\xd8\xff\xe0" + b"\x00" * 64
DICOM_BYTES = b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00" * 8
ZIP_BYTES = b"PK\x05\x06" + b"\x00" * 18


# --- helpers --------------------------------------------------------------------------------


async def make_user(uniq: Any, code: str, dept_prefix: str, role: str) -> tuple[str, int]:
    """A fresh doctor (password PASSWORD) of a department, with one of the hospital's roles."""
    hospital = (
        await Hospital.select(Hospital.id, Hospital.alliance).where(Hospital.code == code).first()
    )
    role_row = (
        await Role.select(Role.id).where(Role.hospital == hospital["id"], Role.name == role).first()
    )
    username = uniq("cons")
    uid = await create_account(
        Ctx(),
        username=username,
        password=PASSWORD,
        display_name=f"Doctor {username}",
        kind=Kind.doctor,
        alliance_id=hospital["alliance"],
        hospital_id=hospital["id"],
        department_id=await department(code, dept_prefix),
        role_id=role_row["id"],
    )
    return username, uid


def future(days: float = 2) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def create(api: Api, invites: list[dict[str, Any]], topic: str, **extra: Any) -> dict:
    res = await api.post(
        "/api/consultations",
        json={
            "topic": topic,
            "scheduled_at": future(),
            "clinical_summary": "右肺上叶结节，随访增大。",
            "patient": {
                "name": "张三",
                "sex": "male",
                "birth_date": "1961-03-14",
                "id_number": "11010519610314123X",
                "his_number": "HIS-778812",
            },
            "invites": invites,
            **extra,
        },
    )
    assert res.status_code == 201, res.text
    return res.json()


async def snapshot(cid: int) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    row = (
        await Consultation.select(
            Consultation.state,
            Consultation.version,
            Consultation.report_text,
            Consultation.report_version,
            Consultation.report_lock_user,
            Consultation.meeting_url,
        )
        .where(Consultation.id == cid)
        .first()
    )
    invites = (
        await ConsultationInvite.select(
            ConsultationInvite.department, ConsultationInvite.decision, ConsultationInvite.expert
        )
        .where(ConsultationInvite.consultation == cid)
        .order_by(ConsultationInvite.id)
    )
    assert row is not None
    return {
        **row,
        "invites": invites,
        "history": await CaseHistory.count().where(
            CaseHistory.case_type == "consultation", CaseHistory.case_id == cid
        ),
        "participants": await ConsultationParticipant.count().where(
            ConsultationParticipant.consultation == cid
        ),
        "attachments": await Attachment.count().where(
            Attachment.owner_type == "consultation", Attachment.owner_id == cid
        ),
        "reports": await ConsultationReportVersion.count().where(
            ConsultationReportVersion.consultation == cid
        ),
        "outbox": await Outbox.count().where(
            Outbox.idempotency_key.like(f"%-{cid}-%") | (Outbox.idempotency_key == f"meeting-{cid}")
        ),
    }


async def audit_head() -> int:
    row = await AuditLog.select(AuditLog.id).order_by(AuditLog.id, ascending=False).first()
    return int(row["id"]) if row else 0


async def assert_audited(after: int, username: str, status: int) -> dict[str, Any]:
    uid = await user_id(username)
    for _ in range(20):
        rows = await AuditLog.select().where(AuditLog.id > after, AuditLog.user_id == uid)
        hits = [r for r in rows if r["detail"].startswith(f"{status}:")]
        if hits:
            assert hits[0]["outcome"] in ("denied", "failure")
            return hits[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no audit row for the refused request ({status}) of {username}")


async def refused(
    api: Api,
    method: str,
    url: str,
    status: int,
    cid: int,
    username: str,
    says: str = "",
    **kw: Any,
) -> dict[str, Any]:
    """The request gets ``status`` with a sentence, changes nothing, and is audited."""
    before = await snapshot(cid)
    head = await audit_head()
    res = await api.request(method, url, **kw)
    assert res.status_code == status, res.text
    body = res.json()
    assert body["detail"] and body["detail"][-1] in ".?)", body
    assert says in body["detail"], body["detail"]
    assert await snapshot(cid) == before
    await assert_audited(head, username, status)
    return body


async def version(cid: int) -> int:
    row = await Consultation.select(Consultation.version).where(Consultation.id == cid).first()
    return int(row["version"])


async def notify_rows(cid: int) -> list[dict[str, Any]]:
    rows = (
        await Outbox.select(Outbox.payload, Outbox.idempotency_key)
        .where(Outbox.kind == "notify", Outbox.idempotency_key.like(f"notify-consultation-{cid}-%"))
        .order_by(Outbox.id)
    )
    return [msgspec.json.decode(r["payload"]) for r in rows]


async def simple_case(new_api: Any, uniq: Any, mandatory: bool = True) -> tuple[Api, int]:
    """dr.li applies, inviting WEST Radiology (dr.liu reviews it)."""
    li = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    made = await create(li, [{"department_id": west, "mandatory": mandatory}], uniq("simple "))
    return li, made["id"]


async def started_case(new_api: Any, uniq: Any) -> tuple[Api, Api, int]:
    li, cid = await simple_case(new_api, uniq)
    liu = await as_user(new_api, "dr.liu")
    west = await department("WEST", "Radiology")
    res = await liu.post(
        f"/api/consultations/{cid}/decisions",
        json={"department_id": west, "decision": "agree_join", "version": await version(cid)},
    )
    assert res.status_code == 200, res.text
    res = await li.post(f"/api/consultations/{cid}/start", json={"version": await version(cid)})
    assert res.status_code == 200, res.text
    return li, liu, cid


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
    created = await notify_rows(cid)
    assert len(created) == 1 and created[0]["event"] == "create"
    assert created[0]["link"] == f"/consultations/{cid}"
    recipients = set(created[0]["user_ids"])
    assert {ids["dr.li"], ids["dr.wang"], ids["dr.liu"], medicine_reviewer_id} <= recipients
    assert ids["dr.zhao"] in recipients  # the invited expert
    assert ids["dr.zhang"] not in recipients

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
    adjusted = await notify_rows(cid)
    assert adjusted[-1]["event"] == "adjust_expert" and new_expert_id in adjusted[-1]["user_ids"]

    # dr.liu agrees and joins.
    res = await liu.post(
        f"/api/consultations/{cid}/decisions",
        json={"department_id": west_radiology, "decision": "agree_join", "version": 2},
    )
    assert res.status_code == 200, res.text
    # A non-mandatory department is denied, with a reason.
    res = await reviewer.post(
        f"/api/consultations/{cid}/decisions",
        json={
            "department_id": west_medicine,
            "decision": "deny",
            "reason": "No capacity this week 本周无法安排",
            "version": 3,
        },
    )
    assert res.status_code == 200, res.text

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

    res = await wang.post(
        f"/api/consultations/{cid}/decisions",
        json={"department_id": city_radiology, "decision": "agree", "version": 4},
    )
    assert res.status_code == 200, res.text
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert room["state"] == "scheduled" and room["actions"] == ["start", "cancel"]
    assert [i["decision"] for i in room["invites"]] == ["agree", "agree_join", "deny"]
    assert room["invites"][2]["reason"] == "No capacity this week 本周无法安排"
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
        "create",
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


# --- bad input and security: each a test ----------------------------------------------------


async def test_decision_by_someone_not_reviewing_that_department_is_403(new_api, uniq) -> None:
    li = await as_user(new_api, "dr.li")
    city = await department("CITY", "Radiology")
    west = await department("WEST", "Radiology")
    made = await create(
        li,
        [{"department_id": city, "mandatory": True}, {"department_id": west, "mandatory": True}],
        uniq("not yours "),
    )
    cid = made["id"]
    wang = await as_user(new_api, "dr.wang")  # reviews CITY Radiology, sees the case
    await refused(
        wang,
        "POST",
        f"/api/consultations/{cid}/decisions",
        403,
        cid,
        "dr.wang",
        "Only a reviewer of Radiology 放射科 (Xishan County Hospital 西山县医院)",
        json={"department_id": west, "decision": "agree", "version": 1},
    )
    await refused(
        li,  # the applicant is no reviewer
        "POST",
        f"/api/consultations/{cid}/decisions",
        403,
        cid,
        "dr.li",
        json={"department_id": city, "decision": "agree", "version": 1},
    )
    await refused(
        wang,
        "POST",
        f"/api/consultations/{cid}/expert",
        403,
        cid,
        "dr.wang",
        json={"department_id": west, "user_id": await user_id("dr.liu"), "version": 1},
    )


async def test_the_same_decision_twice_is_409(new_api, uniq) -> None:
    _, cid = await simple_case(new_api, uniq, mandatory=False)
    liu = await as_user(new_api, "dr.liu")
    west = await department("WEST", "Radiology")
    decision = {"department_id": west, "decision": "agree", "version": 1}
    assert (await liu.post(f"/api/consultations/{cid}/decisions", json=decision)).status_code == 200
    await refused(
        liu,
        "POST",
        f"/api/consultations/{cid}/decisions",
        409,
        cid,
        "dr.liu",
        "changed by someone else",
        json=decision,
    )
    await refused(
        liu,
        "POST",
        f"/api/consultations/{cid}/decisions",
        409,
        cid,
        "dr.liu",
        "has already decided (agree).",
        json={**decision, "version": 2},
    )


async def test_deciding_after_the_start_or_after_a_cancel_is_409(new_api, uniq) -> None:
    li = await as_user(new_api, "dr.li")
    city = await department("CITY", "Radiology")
    west = await department("WEST", "Radiology")
    invites = [{"department_id": west, "mandatory": True}, {"department_id": city}]
    liu = await as_user(new_api, "dr.liu")
    wang = await as_user(new_api, "dr.wang")

    started = (await create(li, invites, uniq("started ")))["id"]
    ok = {"department_id": west, "decision": "agree", "version": 1}
    assert (await liu.post(f"/api/consultations/{started}/decisions", json=ok)).status_code == 200
    res = await li.post(f"/api/consultations/{started}/start", json={"version": 2})
    assert res.status_code == 200, res.text
    await refused(
        wang,
        "POST",
        f"/api/consultations/{started}/decisions",
        409,
        started,
        "dr.wang",
        "You cannot agree a consultation that is in_progress.",
        json={"department_id": city, "decision": "agree", "version": 3},
    )

    cancelled = (await create(li, invites, uniq("cancelled ")))["id"]
    ok = {"department_id": west, "decision": "agree", "version": 1}
    assert (await liu.post(f"/api/consultations/{cancelled}/decisions", json=ok)).status_code == 200
    res = await li.post(
        f"/api/consultations/{cancelled}/cancel", json={"version": 2, "reason": "patient left"}
    )
    assert res.status_code == 200, res.text
    await refused(
        wang,
        "POST",
        f"/api/consultations/{cancelled}/decisions",
        409,
        cancelled,
        "dr.wang",
        "You cannot deny a consultation that is cancelled.",
        json={"department_id": city, "decision": "deny", "reason": "late", "version": 3},
    )


async def test_starting_while_a_mandatory_approval_is_missing_is_409(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    await refused(
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
    li, cid = await simple_case(new_api, uniq)
    liu = await as_user(new_api, "dr.liu")
    for step in ("start", "withdraw", "cancel"):
        await refused(
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
    assert res.status_code == 200 and (await snapshot(cid))["state"] == "withdrawn"
    withdrawn = (await notify_rows(cid))[-1]
    assert withdrawn["event"] == "withdraw"
    assert {await user_id("dr.li"), await user_id("dr.liu")} <= set(withdrawn["user_ids"])


async def test_other_hospitals_cases_and_cases_you_take_no_part_in_are_404(
    new_api, app_url, uniq
) -> None:
    li, cid = await simple_case(new_api, uniq)
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
                {"files": {"file": ("a.pdf", PDF_BYTES, "application/pdf")}},
            ),
        ]:
            body = await refused(
                client, method, url, 404, cid, outsider, "or you take no part in it.", **kw
            )
            assert str(cid) in body["detail"]
        assert cid not in [c["id"] for c in (await client.get("/api/consultations")).json()]
        page = await client.get(f"/consultations/{cid}", headers={"accept": "text/html"})
        assert page.status_code == 404 and "Li Na" not in page.text
        # The room's live topic is refused too.
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
    li, cid = await simple_case(new_api, uniq)
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


# --- attachments ----------------------------------------------------------------------------


async def test_attachments_allowed_kinds_safe_storage_and_download(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    folder = get_settings().server.data_dir / "attachments"
    uploads = [
        ("报告 report.pdf", PDF_BYTES, "application/pdf"),
        ("scan.PNG", PNG_BYTES, "image/png"),
        ("photo.jpeg", JPEG_BYTES, "image/jpeg"),
        ("IM000001", DICOM_BYTES, "application/dicom"),
        ("../../etc/series.zip", ZIP_BYTES, "application/zip"),
    ]
    for name, content, kind in uploads:
        res = await li.post(
            f"/api/consultations/{cid}/attachments",
            files={"file": (name, content, "application/octet-stream")},
        )
        assert res.status_code == 201, res.text
        body = res.json()
        assert body["content_type"] == kind and body["size"] == len(content)
        assert body["sha256"] == hashlib.sha256(content).hexdigest()
        row = await Attachment.select().where(Attachment.id == body["id"]).first()
        stored = folder / row["storage_name"]
        assert stored.read_bytes() == content and stored.parent == folder
        assert name.split("/")[-1] not in row["storage_name"]
        assert len(row["storage_name"]) == 32
    assert [
        a["name"] for a in (await li.get(f"/api/consultations/{cid}")).json()["attachments"]
    ] == [
        "报告 report.pdf",
        "scan.PNG",
        "photo.jpeg",
        "IM000001",
        "series.zip",
    ]
    first = (await li.get(f"/api/consultations/{cid}")).json()["attachments"][0]
    liu = await as_user(new_api, "dr.liu")  # a reviewer of an invited department may read it
    res = await liu.get(first["url"])
    assert res.status_code == 200 and res.content == PDF_BYTES
    disposition = res.headers["content-disposition"]
    assert disposition.startswith("attachment") and "filename*=utf-8''" in disposition.lower()
    assert "%E6%8A%A5%E5%91%8A" in disposition  # 报告, percent-encoded
    assert res.headers["x-content-type-options"] == "nosniff"
    chen = await as_user(new_api, "dr.chen")
    assert (await chen.get(first["url"])).status_code == 404
    timeline = (await li.get(f"/api/consultations/{cid}/timeline")).json()
    assert [t["event"] for t in timeline].count("attach") == 5


async def test_forbidden_and_oversized_attachments_are_refused(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    folder = get_settings().server.data_dir / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    files_before = sorted(p.name for p in folder.iterdir())
    url = f"/api/consultations/{cid}/attachments"
    cases = [
        ("tool.exe", b"MZ\x90\x00" + b"\x00" * 100, 415, "Only PDF, JPEG, PNG, DICOM and ZIP"),
        (
            "page.html",
            b"<html><script>alert(1)</script>",
            415,
            "Only PDF, JPEG, PNG, DICOM and ZIP",
        ),
        ("fake.pdf", PNG_BYTES, 415, "contains a PNG image but its name does not end in .png"),
        ("scan.png.exe", PNG_BYTES, 415, "does not end in .png"),
        ("empty.pdf", b"", 400, "the upload was empty"),
        ("big.pdf", b"%PDF-" + b"0" * (20 * 1024 * 1024), 413, "larger than 20 MB"),
    ]
    for name, content, status, says in cases:
        await refused(
            li,
            "POST",
            url,
            status,
            cid,
            "dr.li",
            says,
            files={"file": (name, content, "application/pdf")},
        )
    await refused(
        li, "POST", url, 400, cid, "dr.li", "the upload was empty", files={"other": ("a", b"x")}
    )
    assert sorted(p.name for p in folder.iterdir()) == files_before


# --- the report -----------------------------------------------------------------------------


async def test_report_lock_is_one_editor_at_a_time(new_api, uniq) -> None:
    li, liu, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report"
    assert (await liu.post(f"{url}/lock")).status_code == 200
    await refused(
        li, "POST", f"{url}/lock", 409, cid, "dr.li", "Liu Yang 刘洋 is editing the report"
    )
    await refused(
        li,
        "PUT",
        url,
        409,
        cid,
        "dr.li",
        "Liu Yang 刘洋 is editing the report",
        json={"text": "mine", "report_version": 0},
    )
    await refused(
        li, "POST", f"{url}/submit", 409, cid, "dr.li", "is editing the report", json={"version": 3}
    )
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert (
        room["report"]["lock_holder"]["name"] == "Liu Yang 刘洋" and not room["report"]["holding"]
    )
    # The lock holder keeps it alive; the due time is a timer row for the sweep.
    assert (await liu.post(f"{url}/lock")).status_code == 200
    timers = await Timer.select().where(
        Timer.case_type == "consultation",
        Timer.case_id == cid,
        Timer.cancelled == False,  # noqa: E712
    )
    assert len(timers) == 1 and timers[0]["kind"] == "report_lock_expiry"
    # 30 minutes without a save or keep-alive: the lock is free for the next editor.
    await Consultation.update({Consultation.report_lock_until: now() - timedelta(seconds=1)}).where(
        Consultation.id == cid
    )
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert room["report"]["lock_holder"] is None
    assert (await li.post(f"{url}/lock")).status_code == 200
    res = await li.put(url, json={"text": "第一稿 first draft", "report_version": 0})
    assert res.status_code == 200 and res.json()["report_version"] == 1
    # dr.liu still works on version 0 of the report: a stale save is refused, never silent.
    await refused(
        liu,
        "PUT",
        url,
        409,
        cid,
        "dr.liu",
        "The report was saved by Li Na 李娜 meanwhile (version 1, you edited version 0).",
        json={"text": "overwrite", "report_version": 0},
    )
    res = await liu.put(url, json={"text": "第二稿 second draft", "report_version": 1})
    assert res.status_code == 200 and res.json()["report_version"] == 2
    versions = (
        await ConsultationReportVersion.select(
            ConsultationReportVersion.version, ConsultationReportVersion.text
        )
        .where(ConsultationReportVersion.consultation == cid)
        .order_by(ConsultationReportVersion.id)
    )
    assert versions == [
        {"version": 1, "text": "第一稿 first draft"},
        {"version": 2, "text": "第二稿 second draft"},
    ]
    assert (
        await Timer.count().where(
            Timer.case_type == "consultation",
            Timer.case_id == cid,
            Timer.cancelled == False,  # noqa: E712
        )
        == 0
    )


async def test_of_two_editors_clicking_at_once_exactly_one_gets_the_lock(new_api, uniq) -> None:
    li, liu, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report/lock"
    answers = await asyncio.gather(*(client.post(url) for client in (li, liu, li, liu)))
    codes = sorted(a.status_code for a in answers)
    holder = (
        await Consultation.select(Consultation.report_lock_user)
        .where(Consultation.id == cid)
        .first()
    )["report_lock_user"]
    # The holder's second click is a keep-alive, the other editor's are refused.
    assert codes == [200, 200, 409, 409], [a.text for a in answers]
    assert holder in (await user_id("dr.li"), await user_id("dr.liu"))


async def test_only_the_holder_unlocks_the_report(new_api, uniq) -> None:
    """Issue 12 (10e): another participant's "unlock" was a 200 that freed nothing; now a
    409 that names the holder, and the lock stays."""
    li, liu, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report/lock"
    assert (await li.post(url)).status_code == 200
    body = await refused(liu, "DELETE", url, 409, cid, "dr.liu", "holds the lock of the report")
    assert body["lock_holder"] == await user_id("dr.li") and body["lock_holder_name"]
    row = await Consultation.select().where(Consultation.id == cid).first()
    assert row["report_lock_user"] == await user_id("dr.li")
    assert (await li.delete(url)).status_code == 200
    assert (await liu.delete(url)).status_code == 200  # nobody holds it: nothing to refuse
    assert (await liu.post(url)).status_code == 200


async def test_report_needs_a_participant_progress_and_text(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report"
    await refused(
        li, "POST", f"{url}/lock", 409, cid, "dr.li", "while the consultation is in progress"
    )
    li, _, cid = await started_case(new_api, uniq)
    url = f"/api/consultations/{cid}/report"
    wang = await as_user(new_api, "dr.wang")  # sees nothing: CITY Radiology is not invited
    await refused(wang, "POST", f"{url}/lock", 404, cid, "dr.wang")
    await refused(
        li,
        "POST",
        f"{url}/submit",
        409,
        cid,
        "dr.li",
        "The consultation report is empty.",
        json={"version": 3},
    )
    await refused(li, "GET", f"/api/consultations/{cid}/report.pdf", 409, cid, "dr.li", "no report")


async def test_only_participants_edit_the_report(new_api, uniq) -> None:
    li = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    cid = (await create(li, [{"department_id": west, "mandatory": True}], uniq("plain agree ")))[
        "id"
    ]
    liu = await as_user(new_api, "dr.liu")
    res = await liu.post(
        f"/api/consultations/{cid}/decisions",
        json={"department_id": west, "decision": "agree", "version": 1},
    )
    assert res.status_code == 200
    assert (
        await li.post(f"/api/consultations/{cid}/start", json={"version": 2})
    ).status_code == 200
    # dr.liu agreed without joining: a reviewer who sees the room but does not edit it.
    await refused(
        liu,
        "POST",
        f"/api/consultations/{cid}/report/lock",
        403,
        cid,
        "dr.liu",
        "Only the participants of the consultation edit its report.",
    )


# --- the meeting link -----------------------------------------------------------------------


async def test_meeting_link_is_created_by_the_side_effect(new_api, uniq, monkeypatch) -> None:
    li, liu, cid = await started_case(new_api, uniq)
    room = (await li.get(f"/api/consultations/{cid}")).json()
    assert room["state"] == "in_progress" and room["meeting_url"] == ""
    assert await Outbox.count().where(Outbox.idempotency_key == f"meeting-{cid}") == 1

    url = await create_meeting(cid)
    assert url.startswith(f"https://meet.jit.si/aimis-{cid}-") and len(url) > 40
    assert (await liu.get(f"/api/consultations/{cid}")).json()["meeting_url"] == url
    events = await Event.select(Event.type, Event.payload).where(
        Event.topic == f"case:consultation:{cid}", Event.type == "consultation.meeting_ready"
    )
    assert len(events) == 1
    assert msgspec.json.decode(events[0]["payload"])["meeting_url"] == url
    # At least once: a second run changes nothing and says nothing new.
    assert await create_meeting(cid) == url
    assert (
        await Event.count().where(
            Event.topic == f"case:consultation:{cid}", Event.type == "consultation.meeting_ready"
        )
        == 1
    )

    _, _, other = await started_case(new_api, uniq)
    monkeypatch.setenv(
        MEETING_TEMPLATE_ENV, "https://meeting.example.org/r/{token}?case={consultation_id}"
    )
    custom = await create_meeting(other)
    assert custom.startswith("https://meeting.example.org/r/") and custom.endswith(f"?case={other}")


async def test_lists_mine_and_reviews(new_api, uniq) -> None:
    li, cid = await simple_case(new_api, uniq)
    mine = (await li.get("/api/consultations")).json()
    assert cid in [c["id"] for c in mine]
    liu = await as_user(new_api, "dr.liu")
    reviews = (await liu.get("/api/consultations/reviews")).json()
    assert cid in [c["id"] for c in reviews]
    assert cid not in [c["id"] for c in (await liu.get("/api/consultations")).json()]
    west = await department("WEST", "Radiology")
    res = await liu.post(
        f"/api/consultations/{cid}/decisions",
        json={"department_id": west, "decision": "agree_join", "version": 1},
    )
    assert res.status_code == 200
    assert cid not in [c["id"] for c in (await liu.get("/api/consultations/reviews")).json()]
    joined = [c for c in (await liu.get("/api/consultations")).json() if c["id"] == cid]
    assert joined and "participant" in joined[0]["my_roles"]
    zhao = await as_user(new_api, "dr.zhao")  # WEST, but no review permission
    assert cid not in [c["id"] for c in (await zhao.get("/api/consultations/reviews")).json()]


async def test_admin_log_needs_an_admin(new_api, uniq) -> None:
    li, _ = await simple_case(new_api, uniq)
    res = await li.get("/api/consultations/log")
    assert res.status_code == 403
    # SPEC "Users": the alliance admin sees no patient data; a consultation's topic may
    # name the patient, so the log is the hospital admins' (issue 12, finding 2)
    alliance = await as_user(new_api, "alliance.admin")
    res = await alliance.get("/api/consultations/log")
    assert res.status_code == 403 and "never a patient's data" in res.json()["detail"]
    city = await as_user(new_api, "admin.city")
    assert (await city.get("/api/consultations/log")).json()["total"] >= 1
