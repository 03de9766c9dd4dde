"""The patient realm over real HTTP (issue 15, points 1, 2, 4, 6): phone + code login, the
separate session in both directions, real-name verification and family, settings, and the
audit rows of it all. Codes are read from their outbox rows (no dispatcher runs here)."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta

import pytest

from kernel import id_numbers
from store.tables import AuditLog, PatientAccount, PatientCode, PatientPerson, PatientSession
from store.uow import now
from tests.conftest import Api
from tests.fixtures.hospitals import DEMO_PASSWORD
from tests.fixtures.patients import (
    code_for,
    login_patient,
    new_id_number,
    new_phone,
    send_code,
    verify_self,
)

pytestmark = pytest.mark.integration

STAFF_ROUTES = [
    ("GET", "/api/auth/me"),
    ("GET", "/api/exams"),
    ("GET", "/api/diagnosis-requests"),
    ("GET", "/api/manage/audit"),
    ("GET", "/api/notifications/me"),
    ("GET", "/dicomweb/studies"),
    ("GET", "/dicomweb/studies?PatientName=*"),
]
PATIENT_ROUTES = [
    ("GET", "/api/patient/me", None),
    ("POST", "/api/patient/persons", {"relationship": "self", "name": "张三", "id_number": "x"}),
    ("PATCH", "/api/patient/settings", {"notify_opt_out": True}),
    ("POST", "/api/patient/wechat/start", None),
    ("DELETE", "/api/patient/persons/1", None),
]


async def account_of(phone: str) -> dict:
    row = await PatientAccount.select().where(PatientAccount.phone == f"86{phone}").first()
    assert row is not None
    return dict(row)


async def audit_rows(account_id: int, action: str) -> list[dict]:
    return list(
        await AuditLog.select()
        .where(AuditLog.username == f"patient:{account_id}", AuditLog.action == action)
        .order_by(AuditLog.id)
    )


async def test_a_phone_logs_in_with_its_code_once(new_api) -> None:  # type: ignore[no-untyped-def]
    api: Api = new_api()
    phone = new_phone()
    res = await send_code(api, phone)
    assert res.status_code == 202, res.text
    assert res.json()["resend_after"] == 1 and res.json()["expires_in"] == 300
    code = await code_for(phone)
    stored = await PatientCode.select().where(PatientCode.phone == f"86{phone}").first()
    assert stored is not None and code not in stored["code_hash"]  # kept hashed
    assert stored["expires_at"] - stored["created_at"] == timedelta(minutes=5)
    wrong = "000000" if code != "000000" else "111111"
    res = await api.post("/api/patient/login", json={"phone": phone, "code": wrong})
    assert res.status_code == 400 and "wrong or has expired" in res.json()["detail"]
    assert not await PatientAccount.exists().where(PatientAccount.phone == f"86{phone}")
    res = await api.post("/api/patient/login", json={"phone": f"+86 {phone}", "code": code})
    assert res.status_code == 200, res.text
    assert res.json()["verified"] is False
    assert "aimis_patient" in api.http.cookies and "aimis_session" not in api.http.cookies
    me = (await api.get("/api/patient/me")).json()
    assert me["phone"] == f"{phone[:3]}****{phone[-4:]}" and me["persons"] == []
    # single use: the same code again is refused, from another browser too
    other: Api = new_api()
    res = await other.post("/api/patient/login", json={"phone": phone, "code": code})
    assert res.status_code == 400
    account = await account_of(phone)
    assert len(await audit_rows(account["id"], "patient.login")) == 1
    assert await audit_rows(account["id"], "patient.code_request") == []  # before the account
    failures = await AuditLog.select().where(
        AuditLog.action == "patient.login",
        AuditLog.outcome == "failure",
        AuditLog.detail.like(f"%{phone[-4:]}%"),
    )
    assert len(failures) >= 2
    assert all(f["hospital_id"] is None and f["alliance_id"] is None for f in failures)
    res = await api.post("/api/patient/logout")
    assert res.status_code == 200
    assert (await api.get("/api/patient/me")).status_code == 401
    assert len(await audit_rows(account["id"], "patient.logout")) == 1


async def test_an_expired_code_and_a_code_past_its_tries_are_refused(new_api) -> None:  # type: ignore[no-untyped-def]
    api: Api = new_api()
    phone = new_phone()
    await send_code(api, phone)
    code = await code_for(phone)
    from store.db import transaction

    async with transaction():
        await PatientCode.update({PatientCode.expires_at: now() - timedelta(seconds=1)}).where(
            PatientCode.phone == f"86{phone}"
        )
    res = await api.post("/api/patient/login", json={"phone": phone, "code": code})
    assert res.status_code == 400
    await asyncio.sleep(1.1)  # the suite's interval between two codes for one phone
    assert (await send_code(api, phone)).status_code == 202
    code = await code_for(phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        res = await api.post("/api/patient/login", json={"phone": phone, "code": wrong})
        assert res.status_code == 400
    res = await api.post("/api/patient/login", json={"phone": phone, "code": code})
    assert res.status_code == 400  # five tries used: the right code no longer opens
    assert not await PatientAccount.exists().where(PatientAccount.phone == f"86{phone}")


@pytest.mark.parametrize("phone", ["", "12345", "23812345678", "1381234567a", "+1 2025550123"])
async def test_a_number_that_is_no_mobile_number_is_refused(new_api, phone: str) -> None:  # type: ignore[no-untyped-def]
    api: Api = new_api()
    before = await PatientCode.count()
    res = await send_code(api, phone)
    assert res.status_code == 400 and "mobile number" in res.json()["detail"]
    res = await api.post(
        "/api/patient/code", json={"phone": phone}, headers={"accept-language": "zh-CN"}
    )
    assert res.status_code == 400 and "手机号" in res.json()["detail"]
    assert await PatientCode.count() == before


async def test_a_patient_is_nobody_on_staff_routes(new_api) -> None:  # type: ignore[no-untyped-def]
    patient: Api = new_api()
    await login_patient(patient)
    token = patient.http.cookies["aimis_patient"]
    for method, path in STAFF_ROUTES:
        res = await patient.request(method, path, headers={"accept": "application/json"})
        assert res.status_code == 401, (path, res.status_code)
    for page in ("/exams", "/studies", "/manage", "/diagnosis"):
        res = await patient.get(page, headers={"accept": "text/html"})
        assert res.status_code in (302, 303) and "/login" in res.headers["location"], page
        assert "/patient" not in res.headers["location"]
    # her token where a staff session or an API token would be: nobody either
    forged: Api = new_api()
    forged.http.cookies.set("aimis_session", token)
    assert (await forged.get("/api/auth/me")).status_code == 401
    assert (await forged.get("/dicomweb/studies")).status_code == 401
    bearer = await forged.get("/dicomweb/studies", headers={"authorization": f"Bearer {token}"})
    assert bearer.status_code == 401


async def test_a_staff_session_cannot_act_as_a_patient(new_api) -> None:  # type: ignore[no-untyped-def]
    doctor: Api = new_api()
    await doctor.login("dr.li", DEMO_PASSWORD)
    staff_token = doctor.http.cookies["aimis_session"]
    persons_before = await PatientPerson.count()
    for method, path, body in PATIENT_ROUTES:
        res = await doctor.request(method, path, json=body)
        assert res.status_code == 401, (path, res.status_code, res.text)
    for page in ("/patient", "/patient/family", "/patient/settings", "/patient/verify"):
        res = await doctor.get(page, headers={"accept": "text/html"})
        assert res.status_code in (302, 303), page
        assert res.headers["location"].startswith("/patient/login"), page
    forged: Api = new_api()
    forged.http.cookies.set("aimis_patient", staff_token)
    assert (await forged.get("/api/patient/me")).status_code == 401
    assert await PatientPerson.count() == persons_before
    # both sessions in one browser: each realm sees its own only
    await login_patient(doctor)
    me = (await doctor.get("/api/patient/me")).json()
    assert "username" not in me and me["persons"] == []
    assert (await doctor.get("/api/auth/me")).json()["username"] == "dr.li"


async def test_verification_refuses_bad_numbers_with_the_reason_in_both_languages(new_api) -> None:  # type: ignore[no-untyped-def]
    api: Api = new_api()
    await login_patient(api)
    good = new_id_number()
    typo = good[:17] + ("0" if good[17] != "0" else "1")
    first17 = "11010519810229123"  # 1981 is no leap year
    cases = [
        (typo, "check character", "校验码"),
        (first17 + id_numbers.check_character(first17), "not a real date", "不是真实的日期"),
        (id_numbers.synthetic("110105", date.today() + timedelta(days=2), 123), "future", "未来"),
        ("12345", "18 characters", "18 位"),
    ]
    for number, english, chinese in cases:
        body = {"relationship": "self", "name": "王小明", "id_number": number}
        res = await api.post("/api/patient/persons", json=body)
        assert res.status_code == 400 and english in res.json()["detail"], res.text
        zh = await api.post("/api/patient/persons", json=body, headers={"accept-language": "zh"})
        assert zh.status_code == 400 and chinese in zh.json()["detail"], zh.text
    res = await api.post(
        "/api/patient/persons",
        json={"relationship": "self", "name": "<script>", "id_number": good},
    )
    assert res.status_code == 400
    me = (await api.get("/api/patient/me")).json()
    assert me["persons"] == []
    account = await account_of_session(api)
    assert len(await audit_rows(account, "patient.verify")) == len(cases) * 2 + 1


async def account_of_session(api: Api) -> int:
    return int((await api.get("/api/patient/me")).json()["id"])


async def test_self_and_family_up_to_the_limit_and_removal(new_api) -> None:  # type: ignore[no-untyped-def]
    api: Api = new_api()
    await login_patient(api)
    legacy_born = date(1962, 4, 8)
    legacy = f"110105{legacy_born:%y%m%d}471"
    me = await verify_self(api, "李雷", legacy)
    assert me["relationship"] == "self" and me["birth_date"] == "1962-04-08" and me["sex"] == "M"
    assert me["id_number"].startswith("110105") and "*" in me["id_number"]
    full = await PatientPerson.select().where(PatientPerson.id == me["id"]).first()
    assert full is not None and full["id_number"] == id_numbers.upgrade_15(legacy)
    again = await api.post(
        "/api/patient/persons",
        json={"relationship": "self", "name": "李雷", "id_number": new_id_number()},
    )
    assert again.status_code == 400
    members = []
    for i in range(5):
        res = await api.post(
            "/api/patient/persons",
            json={
                "relationship": "child",
                "name": "李小" + "一二三四五"[i],
                "id_number": new_id_number(),
            },
        )
        assert res.status_code == 200, res.text
        members.append(res.json())
    sixth = await api.post(
        "/api/patient/persons",
        json={"relationship": "mother", "name": "韩梅梅", "id_number": new_id_number(male=False)},
    )
    assert sixth.status_code == 400 and "at most 5" in sixth.json()["detail"]
    assert (await api.delete(f"/api/patient/persons/{me['id']}")).status_code == 400
    res = await api.delete(f"/api/patient/persons/{members[0]['id']}")
    assert res.status_code == 200
    removed = await PatientPerson.select().where(PatientPerson.id == members[0]["id"]).first()
    assert removed is not None and removed["removed_at"] is not None
    assert (await api.delete(f"/api/patient/persons/{members[0]['id']}")).status_code == 404
    persons = (await api.get("/api/patient/me")).json()["persons"]
    assert [p["id"] for p in persons] == [me["id"]] + [m["id"] for m in members[1:]]
    # another account's member is nobody here
    stranger: Api = new_api()
    await login_patient(stranger)
    res = await stranger.delete(f"/api/patient/persons/{members[1]['id']}")
    assert res.status_code == 404
    still = await PatientPerson.select().where(PatientPerson.id == members[1]["id"]).first()
    assert still is not None and still["removed_at"] is None
    account = await account_of_session(api)
    assert len(await audit_rows(account, "patient.family_remove")) == 1


async def test_an_id_number_belongs_to_one_verified_person(new_api) -> None:  # type: ignore[no-untyped-def]
    first: Api = new_api()
    await login_patient(first)
    number = new_id_number()
    await verify_self(first, "赵敏", number)
    second: Api = new_api()
    await login_patient(second)
    res = await second.post(
        "/api/patient/persons", json={"relationship": "self", "name": "赵敏", "id_number": number}
    )
    assert res.status_code == 409 and "already verified" in res.json()["detail"]
    zh = await second.post(
        "/api/patient/persons",
        json={"relationship": "father", "name": "赵敏", "id_number": number},
        headers={"accept-language": "zh"},
    )
    assert zh.status_code == 409 and "已" in zh.json()["detail"]
    assert (await second.get("/api/patient/me")).json()["persons"] == []


async def test_two_concurrent_claims_of_one_number_one_wins(new_api) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        clients: list[Api] = [new_api() for _ in range(4)]
        for c in clients:
            await login_patient(c)
        number = new_id_number()
        body = {"relationship": "father", "name": "周杰", "id_number": number}
        answers = await asyncio.gather(
            *(c.post("/api/patient/persons", json=body) for c in clients)
        )
        statuses = sorted(a.status_code for a in answers)
        assert statuses == [200, 409, 409, 409], [a.text for a in answers]
        assert all(
            "already verified" in a.json()["detail"] for a in answers if a.status_code == 409
        )
        live = await PatientPerson.select().where(
            PatientPerson.id_number == number, PatientPerson.removed_at.is_null()
        )
        assert len(live) == 1


async def test_settings_change_and_refuse_nonsense(new_api) -> None:  # type: ignore[no-untyped-def]
    api: Api = new_api()
    phone = await login_patient(api)
    res = await api.patch("/api/patient/settings", json={"notify_opt_out": True, "language": "en"})
    assert res.status_code == 200, res.text
    account = await account_of(phone)
    assert account["notify_opt_out"] is True and account["language"] == "en"
    for body in ({"language": "fr"}, {}, {"wechat_openid": "oEvil"}):
        res = await api.patch("/api/patient/settings", json=body)
        assert res.status_code == 400, body
    assert (await account_of(phone))["version"] == account["version"]
    assert len(await audit_rows(account["id"], "patient.settings")) == 1
    # WeChat is not set up on the suite's app: a clear refusal
    res = await api.post("/api/patient/wechat/start")
    assert res.status_code == 400 and "not set up" in res.json()["detail"]


async def test_sessions_end_when_revoked_or_idle(new_api) -> None:  # type: ignore[no-untyped-def]
    from store.db import transaction

    api: Api = new_api()
    phone = await login_patient(api)
    account = await account_of(phone)
    async with transaction():
        await PatientSession.update({PatientSession.last_seen_at: now() - timedelta(days=8)}).where(
            PatientSession.account == account["id"]
        )
    assert (await api.get("/api/patient/me")).status_code == 401
    res = await api.get("/patient/family", headers={"accept": "text/html"})
    assert res.status_code in (302, 303)
    assert res.headers["location"] == "/patient/login?next=/patient/family"


async def test_the_demo_patient_logs_in_and_sees_herself_and_her_family(new_api) -> None:  # type: ignore[no-untyped-def]
    from api.patients.demo import DEMO_PHONE
    from store.tables import Examination

    api: Api = new_api()
    await login_patient(api, DEMO_PHONE)
    me = (await api.get("/api/patient/me")).json()
    assert me["persons"][0]["relationship"] == "self"
    assert len(me["persons"]) == 2 and me["persons"][1]["relationship"] in ("father", "mother")
    rows = await PatientPerson.select().where(PatientPerson.account == me["id"])
    for row in rows:
        parsed = id_numbers.parse(row["id_number"], date.today())
        assert parsed.birth_date == row["birth_date"] and parsed.sex == row["sex"]
    numbers = [r["id_number"] for r in rows]
    if await Examination.count() > 0:  # demo studies: the people are their examinations'
        matched = await Examination.select(Examination.hospital).where(
            Examination.patient_id_number.is_in(numbers)
        )
        assert len({m["hospital"] for m in matched}) == 2
        # the demo archive (issue 15.5): hers and her father's examinations, visible at once
        listed = (await api.get("/api/patient/archive/examinations")).json()
        assert len({e["hospital_id"] for e in listed}) == 2
        assert {e["relationship"] for e in listed} == {"self", me["persons"][1]["relationship"]}
        assert "reviewed" in {e["report_state"] for e in listed}
