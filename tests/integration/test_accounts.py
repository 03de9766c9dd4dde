"""Accounts over real HTTP against the real app and database (SPEC §1)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from store.tables import AuditLog, Session, User
from store.uow import now
from tests.fixtures.hospitals import PASSWORD, make_doctor

pytestmark = pytest.mark.integration


async def test_login_by_username_and_phone(api, demo, uniq) -> None:
    phone = "139" + uniq("")[:8].translate(str.maketrans("abcdef", "123456"))
    username = await make_doctor(uniq, phone=phone)
    await api.login(phone, PASSWORD)
    me = (await api.get("/api/auth/me")).json()
    assert me["username"] == username
    assert "session" not in me


async def test_session_cookie_is_httponly_and_samesite(api, demo) -> None:
    res = await api.login("dr.wang", demo["password"])
    cookie = res.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


async def test_wrong_and_missing_credentials(api, demo) -> None:
    res = await api.post("/api/auth/login", json={"identifier": "dr.nobody", "password": "x"})
    assert res.status_code == 401
    assert res.json()["detail"] == "Wrong user name or password."
    # the login page in Chinese (its language cookie) reads the refusal in Chinese
    res = await api.post(
        "/api/auth/login",
        json={"identifier": "dr.nobody", "password": "x"},
        cookies={"lang": "zh"},
    )
    assert (res.status_code, res.json()["detail"]) == (401, "用户名或密码错误。")
    res = await api.post("/api/auth/login", json={"identifier": "dr.wang"})
    assert res.status_code == 400
    res = await api.post(
        "/api/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert res.status_code == 400
    assert (await api.get("/api/auth/me")).status_code == 401


async def test_ten_wrong_passwords_freeze_even_the_right_one(api, uniq) -> None:
    username = await make_doctor(uniq)
    for _ in range(9):
        res = await api.post("/api/auth/login", json={"identifier": username, "password": "wrong"})
        assert res.status_code == 401
        # no count of tries left: an unknown account could not say the same
        assert res.json() == {"status_code": 401, "detail": "Wrong user name or password."}
    res = await api.post("/api/auth/login", json={"identifier": username, "password": "wrong"})
    assert res.status_code == 423
    res = await api.post("/api/auth/login", json={"identifier": username, "password": PASSWORD})
    assert res.status_code == 423
    assert "frozen" in res.json()["detail"]
    actions = await AuditLog.select(AuditLog.action, AuditLog.outcome).where(
        AuditLog.username == username
    )
    assert {"action": "account.freeze", "outcome": "success"} in actions


async def test_fifty_concurrent_wrong_passwords_count_exactly_ten(new_api, uniq) -> None:
    username = await make_doctor(uniq)
    clients = [new_api() for _ in range(50)]
    for c in clients:
        await c.csrf()
    results = await asyncio.gather(
        *[
            c.post("/api/auth/login", json={"identifier": username, "password": "nope"})
            for c in clients
        ]
    )
    codes = sorted(r.status_code for r in results)
    user = (
        await User.select(User.failed_count, User.frozen).where(User.username == username).first()
    )
    assert user == {"failed_count": 10, "frozen": True}
    assert codes.count(401) == 9
    assert codes.count(423) == 41


async def test_freeze_for_wrong_passwords_ends_next_day(api, uniq) -> None:
    username = await make_doctor(uniq)
    await User.update(
        {
            User.frozen: True,
            User.frozen_reason: "failed_logins",
            User.frozen_day: "2000-01-01",
            User.failed_day: "2000-01-01",
            User.failed_count: 10,
        }
    ).where(User.username == username)
    await api.login(username, PASSWORD)


async def test_admin_freeze_does_not_end_by_itself(api, uniq) -> None:
    username = await make_doctor(uniq)
    await User.update(
        {User.frozen: True, User.frozen_reason: "admin", User.frozen_day: "2000-01-01"}
    ).where(User.username == username)
    res = await api.post("/api/auth/login", json={"identifier": username, "password": PASSWORD})
    assert res.status_code == 423


async def test_inactive_session_expires(api, uniq) -> None:
    username = await make_doctor(uniq)
    await api.login(username, PASSWORD)
    assert (await api.get("/api/auth/me")).status_code == 200
    user = await User.select(User.id).where(User.username == username).first()
    await Session.update({Session.last_seen_at: now() - timedelta(minutes=31)}).where(
        Session.user == user["id"]
    )
    res = await api.get("/api/auth/me")
    assert res.status_code == 401


async def test_absolute_lifetime_ends_session(api, uniq) -> None:
    username = await make_doctor(uniq)
    await api.login(username, PASSWORD)
    user = await User.select(User.id).where(User.username == username).first()
    await Session.update({Session.expires_at: now() - timedelta(seconds=1)}).where(
        Session.user == user["id"]
    )
    assert (await api.get("/api/auth/me")).status_code == 401


async def test_logout_ends_the_session(api, uniq) -> None:
    username = await make_doctor(uniq)
    await api.login(username, PASSWORD)
    token = api.http.cookies.get("aimis_session")
    assert (await api.post("/api/auth/logout")).status_code == 200
    api.http.cookies.set("aimis_session", token)
    assert (await api.get("/api/auth/me")).status_code == 401


async def test_csrf_required_for_cookie_writes(api, uniq) -> None:
    username = await make_doctor(uniq)
    await api.login(username, PASSWORD)
    res = await api.http.post(
        "/api/auth/password", json={"old_password": PASSWORD, "new_password": "Other#Pass456"}
    )
    assert res.status_code == 403
    assert "CSRF" in res.json()["detail"]
    # nothing changed: the old password still works
    await api.login(username, PASSWORD)


async def test_password_change_rules(api, uniq) -> None:
    username = await make_doctor(uniq)
    await api.login(username, PASSWORD)
    weak = await api.post(
        "/api/auth/password", json={"old_password": PASSWORD, "new_password": "short"}
    )
    assert weak.status_code == 400 and "8 characters" in weak.json()["detail"]
    wrong_old = await api.post(
        "/api/auth/password", json={"old_password": "x", "new_password": "Fresh#Pass999"}
    )
    assert wrong_old.status_code == 400
    history = [PASSWORD]
    for i in range(5):
        new = f"Cycle#Pass{i}x"
        res = await api.post(
            "/api/auth/password", json={"old_password": history[-1], "new_password": new}
        )
        assert res.status_code == 200, res.text
        history.append(new)
    # the last five (Cycle 0..4) are refused; the first one (6 ago) is allowed again
    again = await api.post(
        "/api/auth/password", json={"old_password": history[-1], "new_password": history[-3]}
    )
    assert again.status_code == 400 and "last 5" in again.json()["detail"]
    ok = await api.post(
        "/api/auth/password", json={"old_password": history[-1], "new_password": PASSWORD}
    )
    assert ok.status_code == 200


async def test_doctor_cannot_use_admin_login_and_vice_versa(api, demo) -> None:
    res = await api.post(
        "/api/auth/admin-login", json={"identifier": "dr.wang", "password": demo["password"]}
    )
    assert res.status_code == 403
    res = await api.post(
        "/api/auth/login", json={"identifier": "admin.city", "password": demo["password"]}
    )
    assert res.status_code == 403
    await api.login("admin.city", demo["password"], admin=True)
