"""Management platform API (SPEC 8.1–8.3): who may call what (doctors get 403, strangers
401), deactivated hospitals, and the alliance admin's hold over hospital admins."""

from __future__ import annotations

import pytest

from store.tables import AuditLog, Role, User
from tests.fixtures.hospitals import PASSWORD, new_doctor
from tests.fixtures.management import (
    denied_rows,
)

pytestmark = pytest.mark.integration


# --- who may call what ------------------------------------------------------------------------


ADMIN_CALLS: list[tuple[str, str, dict | None]] = [
    ("GET", "/api/manage/hospitals", None),
    ("POST", "/api/manage/hospitals", {"name": "x", "code": "x"}),
    ("GET", "/api/manage/hospitals/{h}", None),
    ("PATCH", "/api/manage/hospitals/{h}", {"name": "x"}),
    ("PUT", "/api/manage/hospitals/{h}/modules", {"modules": []}),
    ("GET", "/api/manage/hospitals/{h}/admins", None),
    ("GET", "/api/manage/hospitals/{h}/qr", None),
    ("GET", "/api/manage/departments", None),
    ("POST", "/api/manage/departments", {"name": "x"}),
    ("GET", "/api/manage/doctors", None),
    ("POST", "/api/manage/doctors", {"username": "x", "display_name": "x"}),
    ("POST", "/api/manage/doctors/{u}/freeze", None),
    ("POST", "/api/manage/doctors/{u}/reset-password", None),
    ("GET", "/api/manage/roles", None),
    ("POST", "/api/manage/roles", {"name": "x"}),
    ("DELETE", "/api/manage/roles/{r}", None),
    ("GET", "/api/manage/audit", None),
    ("GET", "/api/manage/audit/export.csv", None),
]


async def test_doctor_gets_403_from_every_admin_api(api, demo) -> None:
    await api.login("dr.wang", demo["password"])
    wang = await User.select(User.id, User.hospital).where(User.username == "dr.wang").first()
    role = await Role.select(Role.id).where(Role.hospital == wang["hospital"]).first()
    before = await User.select().where(User.id == wang["id"]).first()
    for method, path, body in ADMIN_CALLS:
        url = path.format(h=wang["hospital"], u=wang["id"], r=role["id"])
        res = await api.request(method, url, json=body) if body else await api.request(method, url)
        assert res.status_code == 403, (method, url, res.text)
        assert "administrator" in res.json()["detail"]
    assert await User.select().where(User.id == wang["id"]).first() == before
    denied = await AuditLog.select(AuditLog.action).where(
        AuditLog.username == "dr.wang", AuditLog.outcome == "denied"
    )
    assert len([d for d in denied if "/api/manage/" in d["action"]]) >= len(ADMIN_CALLS)


async def test_not_logged_in_gets_401(api) -> None:
    assert (await api.get("/api/manage/hospitals")).status_code == 401
    assert (await api.get("/api/manage/audit")).status_code == 401
    res = await api.post("/api/manage/departments", json={"name": "x"})
    assert res.status_code == 401


async def test_deactivated_hospital_logs_its_users_out_and_refuses_logins(
    alliance, place, new_api
) -> None:
    """An alliance admin switching a hospital off ends its sessions and refuses its logins,
    audited; switching it on again lets them back in."""
    url = f"/api/manage/hospitals/{place.id}"
    version = (await alliance.get(url)).json()["version"]
    assert (await place.admin.get("/api/auth/me")).status_code == 200
    res = await alliance.patch(url, json={"active": False, "version": version})
    assert res.status_code == 200, res.text
    assert (await place.admin.get("/api/auth/me")).status_code == 401
    again = new_api()
    refused = await again.post(
        "/api/auth/admin-login", json={"identifier": place.admin_name, "password": PASSWORD}
    )
    assert refused.status_code == 403 and "deactivated" in refused.json()["detail"]
    rows = await AuditLog.select(AuditLog.detail).where(
        AuditLog.action == "login", AuditLog.username == place.admin_name
    )
    assert any("hospital deactivated" in r["detail"] for r in rows)
    res = await alliance.patch(url, json={"active": True, "version": version + 1})
    assert res.status_code == 200, res.text
    await again.login(place.admin_name, PASSWORD, admin=True)


async def test_alliance_admin_freezes_resets_and_reactivates_a_hospital_admin(
    alliance, place, other, new_api
) -> None:
    admins = (await alliance.get(f"/api/manage/hospitals/{place.id}/admins")).json()
    admin_id = next(a["id"] for a in admins if a["username"] == place.admin_name)
    res = await alliance.post(f"/api/manage/admins/{admin_id}/freeze")
    assert res.status_code == 200 and res.json()["frozen"] is True, res.text
    assert (await place.admin.get("/api/auth/me")).status_code == 401  # logged out at once
    again = new_api()
    frozen = await again.post(
        "/api/auth/admin-login", json={"identifier": place.admin_name, "password": PASSWORD}
    )
    assert frozen.status_code == 423
    assert (await alliance.post(f"/api/manage/admins/{admin_id}/unfreeze")).status_code == 200
    reset = await alliance.post(f"/api/manage/admins/{admin_id}/reset-password")
    assert reset.status_code == 200, reset.text
    temporary = reset.json()["temporary_password"]
    await again.login(place.admin_name, temporary, admin=True)
    assert (await again.get("/api/auth/me")).json()["must_change_password"] is True
    off = await alliance.post(f"/api/manage/admins/{admin_id}/deactivate")
    assert off.status_code == 200 and off.json()["active"] is False
    assert (await alliance.post(f"/api/manage/admins/{admin_id}/activate")).json()["active"]
    actions = await AuditLog.select(AuditLog.action).where(
        AuditLog.target_type == "user", AuditLog.target_id == str(admin_id)
    )
    assert {"account.freeze", "account.unfreeze", "user.password_reset"} <= {
        r["action"] for r in actions
    }


async def test_only_the_alliance_admin_manages_admins_and_only_admins(
    alliance, place, other, uniq
) -> None:
    other_admins = (await alliance.get(f"/api/manage/hospitals/{other.id}/admins")).json()
    other_admin = other_admins[0]["id"]
    # a hospital admin may not freeze another hospital's admin, nor his own peers this way
    refused = await place.admin.post(f"/api/manage/admins/{other_admin}/freeze")
    assert refused.status_code == 403
    doctor = await new_doctor(place, uniq)
    # the alliance admin administers admins, not doctors (their hospital admin does)
    not_admin = await alliance.post(f"/api/manage/admins/{doctor['id']}/freeze")
    assert not_admin.status_code == 404
    row = await User.select(User.frozen).where(User.id == doctor["id"]).first()
    assert row["frozen"] is False
    row = await User.select(User.frozen).where(User.id == other_admin).first()
    assert row["frozen"] is False
    assert await denied_rows(place.admin_name, "/api/manage/admins")
