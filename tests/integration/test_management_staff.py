"""Management platform API (SPEC 8.2): a hospital admin's departments, doctors and roles."""

from __future__ import annotations

import msgspec
import pytest

from kernel.domain import Permission
from store.tables import AuditLog, Department, Role, Session, User
from tests.fixtures.hospitals import PASSWORD, new_doctor
from tests.fixtures.management import (
    denied_rows,
)

pytestmark = pytest.mark.integration


# --- departments ------------------------------------------------------------------------------


async def test_departments_create_list_edit_deactivate(place, uniq) -> None:
    admin = place.admin
    name = uniq("Radiology 放射科 ")
    res = await admin.post(
        "/api/manage/departments", json={"name": name, "phone": "0571-1234", "description": "CT"}
    )
    assert res.status_code == 201, res.text
    dept = res.json()
    assert dept["hospital_id"] == place.id and dept["active"] and dept["doctor_count"] == 0
    listed = (await admin.get("/api/manage/departments")).json()
    assert [d["name"] for d in listed] == [name]
    res = await admin.patch(
        f"/api/manage/departments/{dept['id']}",
        json={"name": name + " 2", "phone": "", "description": "CT and MR", "version": 1},
    )
    assert res.status_code == 200, res.text
    assert res.json()["description"] == "CT and MR" and res.json()["version"] == 2
    res = await admin.patch(f"/api/manage/departments/{dept['id']}", json={"active": False})
    assert res.json()["active"] is False
    res = await admin.patch(f"/api/manage/departments/{dept['id']}", json={"active": True})
    assert res.json()["active"] is True
    actions = (
        await AuditLog.select(AuditLog.action)
        .where(AuditLog.target_type == "department", AuditLog.target_id == str(dept["id"]))
        .order_by(AuditLog.id)
    )
    assert [a["action"] for a in actions] == [
        "department.create",
        "department.update",
        "department.deactivate",
        "department.activate",
    ]
    stale = await admin.patch(
        f"/api/manage/departments/{dept['id']}", json={"name": "x", "version": 1}
    )
    assert stale.status_code == 409


async def test_department_refusals(place, uniq) -> None:
    admin = place.admin
    name = uniq("Dept ")
    assert (await admin.post("/api/manage/departments", json={"name": name})).status_code == 201
    dup = await admin.post("/api/manage/departments", json={"name": name})
    assert dup.status_code == 409 and "already" in dup.json()["detail"]
    assert (await admin.post("/api/manage/departments", json={"name": "  "})).status_code == 400
    assert (await admin.post("/api/manage/departments", json={})).status_code == 400
    bad_phone = await admin.post("/api/manage/departments", json={"name": "P", "phone": "abc"})
    assert bad_phone.status_code == 400
    assert await Department.count().where(Department.hospital == place.id) == 1


async def test_departments_of_another_hospital_are_invisible(place, other, uniq) -> None:
    res = await other.admin.post("/api/manage/departments", json={"name": uniq("Theirs ")})
    theirs = res.json()
    assert theirs["id"] not in {
        d["id"] for d in (await place.admin.get("/api/manage/departments")).json()
    }
    url = f"/api/manage/departments/{theirs['id']}"
    assert (await place.admin.get(url)).status_code == 404
    res = await place.admin.patch(url, json={"name": "Stolen", "active": False})
    assert res.status_code == 404
    row = await Department.select().where(Department.id == theirs["id"]).first()
    assert row["name"] == theirs["name"] and row["active"] is True and row["version"] == 1
    denied = await denied_rows(place.admin_name, "/api/manage/departments")
    assert {r["action"].split()[0] for r in denied} == {"GET", "PATCH"}
    assert all("404" in r["detail"] for r in denied)


async def test_alliance_admin_does_not_manage_departments(alliance) -> None:
    res = await alliance.get("/api/manage/departments")
    assert res.status_code == 403 and "hospital administrator" in res.json()["detail"]


# --- doctors ----------------------------------------------------------------------------------


async def test_create_doctor_with_generated_password_and_log_in(place, new_api, uniq) -> None:
    dept = (await place.admin.post("/api/manage/departments", json={"name": "CT"})).json()
    role = next(
        r for r in (await place.admin.get("/api/manage/roles")).json() if r["name"] == "Radiologist"
    )
    username = uniq("dr.")
    res = await place.admin.post(
        "/api/manage/doctors",
        json={
            "username": username,
            "display_name": "Zhou Yu 周瑜",
            "phone": "",
            "email": "zhou@example.org",
            "department_id": dept["id"],
            "role_id": role["id"],
        },
    )
    assert res.status_code == 201, res.text
    out = res.json()
    user, temp = out["user"], out["temporary_password"]
    assert user["department_name"] == "CT" and user["role_name"] == "Radiologist"
    assert user["must_change_password"] and user["phone"] == ""
    doctor = new_api()
    login = await doctor.login(username, temp)
    assert login.json()["must_change_password"] is True
    me = (await doctor.get("/api/auth/me")).json()
    assert "report.write" in me["permissions"]
    page = (await place.admin.get("/api/manage/doctors", params={"q": "周瑜"})).json()
    assert [d["username"] for d in page["items"]] == [username] and page["total"] == 1
    page = (await place.admin.get("/api/manage/doctors", params={"q": username[:6]})).json()
    assert username in {d["username"] for d in page["items"]}
    by_dept = await place.admin.get("/api/manage/doctors", params={"department_id": dept["id"]})
    assert by_dept.json()["total"] == 1
    one = await place.admin.get(f"/api/manage/doctors/{user['id']}")
    assert one.json()["email"] == "zhou@example.org"


async def test_doctor_list_status_filter_and_paging(place, uniq) -> None:
    first = await new_doctor(place, uniq)
    second = await new_doctor(place, uniq)
    await place.admin.post(f"/api/manage/doctors/{second['id']}/freeze")
    frozen = (await place.admin.get("/api/manage/doctors", params={"status": "frozen"})).json()
    assert [d["id"] for d in frozen["items"]] == [second["id"]]
    active = (await place.admin.get("/api/manage/doctors", params={"status": "active"})).json()
    assert [d["id"] for d in active["items"]] == [first["id"]]
    bad = await place.admin.get("/api/manage/doctors", params={"status": "sleeping"})
    assert bad.status_code == 400
    page2 = (await place.admin.get("/api/manage/doctors", params={"page": 2})).json()
    assert page2["items"] == [] and page2["total"] == 2 and page2["page_size"] == 50


async def test_create_doctor_refusals_change_nothing(place, other, uniq) -> None:
    admin = place.admin
    username = uniq("dr.bad.")
    base = {"username": username, "display_name": "Bad", "password": PASSWORD}
    theirs = (await other.admin.post("/api/manage/departments", json={"name": "T"})).json()
    inactive = (await admin.post("/api/manage/departments", json={"name": "Closed"})).json()
    await admin.patch(f"/api/manage/departments/{inactive['id']}", json={"active": False})
    their_role = (await other.admin.get("/api/manage/roles")).json()[0]
    cases = [
        ({**base, "password": "weakpass"}, 400, "mix"),
        ({**base, "password": f"X{username}#1"}, 400, "user name"),
        ({**base, "username": "dr.wang"}, 409, "taken"),
        ({**base, "username": "has space"}, 400, "user name"),
        ({**base, "phone": "13800000001"}, 409, "phone"),
        ({**base, "email": "not-an-address"}, 400, "e-mail"),
        ({**base, "display_name": ""}, 400, "display name"),
        ({**base, "department_id": theirs["id"]}, 404, "department"),
        ({**base, "department_id": inactive["id"]}, 400, "deactivated"),
        ({**base, "role_id": their_role["id"]}, 404, "role"),
        ({"display_name": "No user name"}, 400, "username"),
    ]
    for body, status, words in cases:
        res = await admin.post("/api/manage/doctors", json=body)
        assert res.status_code == status, (body, res.text)
        assert words in res.text, (body, res.text)
    assert not await User.exists().where(User.username == username)
    assert await User.count().where(User.hospital == place.id, User.kind == "doctor") == 0


async def test_edit_doctor_and_stale_version(place, uniq) -> None:
    doc = await new_doctor(place, uniq)
    dept = (await place.admin.post("/api/manage/departments", json={"name": "MR"})).json()
    role = (await place.admin.get("/api/manage/roles")).json()[0]
    phone = "137" + str(doc["id"]).zfill(8)[-8:]
    res = await place.admin.patch(
        f"/api/manage/doctors/{doc['id']}",
        json={
            "display_name": "New Name 新名",
            "phone": phone,
            "email": "new@example.org",
            "department_id": dept["id"],
            "role_id": role["id"],
            "version": doc["version"],
        },
    )
    assert res.status_code == 200, res.text
    after = res.json()
    assert after["display_name"] == "New Name 新名" and after["phone"] == phone
    assert after["department_name"] == "MR" and after["role_id"] == role["id"]
    stale = await place.admin.patch(
        f"/api/manage/doctors/{doc['id']}", json={"display_name": "x", "version": doc["version"]}
    )
    assert stale.status_code == 409 and stale.json()["current_version"] == after["version"]
    taken = await place.admin.patch(
        f"/api/manage/doctors/{doc['id']}", json={"phone": "13800000001"}
    )
    assert taken.status_code == 409
    cleared = await place.admin.patch(
        f"/api/manage/doctors/{doc['id']}", json={"department_id": None, "phone": ""}
    )
    assert cleared.json()["department_id"] is None and cleared.json()["phone"] == ""


async def test_freeze_and_unfreeze(place, new_api, uniq) -> None:
    doc = await new_doctor(place, uniq)
    doctor = new_api()
    await doctor.login(doc["username"], PASSWORD)
    await User.update({User.failed_count: 4}).where(User.id == doc["id"])
    res = await place.admin.post(f"/api/manage/doctors/{doc['id']}/freeze")
    assert res.status_code == 200 and res.json()["frozen_reason"] == "admin"
    assert (await doctor.get("/api/auth/me")).status_code == 401  # the session is over
    refused = await doctor.post(
        "/api/auth/login", json={"identifier": doc["username"], "password": PASSWORD}
    )
    assert refused.status_code == 423 and "administrator" in refused.json()["detail"]
    res = await place.admin.post(f"/api/manage/doctors/{doc['id']}/unfreeze")
    assert res.status_code == 200 and res.json()["frozen"] is False
    row = await User.select(User.frozen, User.frozen_reason, User.failed_count).where(
        User.id == doc["id"]
    )
    assert row[0] == {"frozen": False, "frozen_reason": "", "failed_count": 0}
    await doctor.login(doc["username"], PASSWORD)
    actions = await AuditLog.select(AuditLog.action).where(
        AuditLog.target_id == str(doc["id"]), AuditLog.username == place.admin_name
    )
    assert {"account.freeze", "account.unfreeze"} <= {a["action"] for a in actions}


async def test_deactivate_and_activate(place, new_api, uniq) -> None:
    doc = await new_doctor(place, uniq)
    doctor = new_api()
    await doctor.login(doc["username"], PASSWORD)
    res = await place.admin.post(f"/api/manage/doctors/{doc['id']}/deactivate")
    assert res.json()["active"] is False
    assert (await doctor.get("/api/auth/me")).status_code == 401
    refused = await doctor.post(
        "/api/auth/login", json={"identifier": doc["username"], "password": PASSWORD}
    )
    assert refused.status_code == 403
    inactive = (await place.admin.get("/api/manage/doctors", params={"status": "inactive"})).json()
    assert [d["id"] for d in inactive["items"]] == [doc["id"]]
    await place.admin.post(f"/api/manage/doctors/{doc['id']}/activate")
    await doctor.login(doc["username"], PASSWORD)


async def test_reset_password(place, new_api, uniq) -> None:
    doc = await new_doctor(place, uniq)
    doctor = new_api()
    await doctor.login(doc["username"], PASSWORD)
    res = await place.admin.post(f"/api/manage/doctors/{doc['id']}/reset-password")
    assert res.status_code == 200, res.text
    temp = res.json()["temporary_password"]
    assert temp in res.json()["message"]
    assert (await doctor.get("/api/auth/me")).status_code == 401
    old = await doctor.post(
        "/api/auth/login", json={"identifier": doc["username"], "password": PASSWORD}
    )
    assert old.status_code == 401
    login = await doctor.login(doc["username"], temp)
    assert login.json()["must_change_password"] is True
    sessions = await Session.select(Session.revoked).where(Session.user == doc["id"])
    assert [s["revoked"] for s in sessions].count(False) == 1


async def test_doctors_of_another_hospital_are_untouchable(place, other, uniq) -> None:
    theirs = await new_doctor(other, uniq)
    before = await User.select().where(User.id == theirs["id"]).first()
    base = f"/api/manage/doctors/{theirs['id']}"
    assert (await place.admin.get(base)).status_code == 404
    assert (await place.admin.patch(base, json={"display_name": "Mine"})).status_code == 404
    for verb in ("freeze", "unfreeze", "activate", "deactivate", "reset-password"):
        assert (await place.admin.post(f"{base}/{verb}")).status_code == 404, verb
    page = (await place.admin.get("/api/manage/doctors", params={"q": theirs["username"]})).json()
    assert page == {"items": [], "total": 0, "page": 1, "page_size": 50}
    after = await User.select().where(User.id == theirs["id"]).first()
    assert after == before
    denied = await denied_rows(place.admin_name, "/api/manage/doctors")
    assert len(denied) >= 7


async def test_admin_accounts_are_not_doctors(place) -> None:
    """A hospital admin cannot freeze or reset another admin through the doctor API."""
    own_admin = await User.select(User.id).where(User.username == place.admin_name).first()
    for target in (own_admin["id"],):
        res = await place.admin.post(f"/api/manage/doctors/{target}/freeze")
        assert res.status_code == 404
    row = await User.select(User.frozen).where(User.id == own_admin["id"]).first()
    assert row["frozen"] is False


# --- roles ------------------------------------------------------------------------------------


async def test_roles_create_edit_delete(place, uniq) -> None:
    admin = place.admin
    listed = (await admin.get("/api/manage/roles")).json()
    assert {r["name"] for r in listed} == {"Radiologist", "Senior radiologist", "Clinician"}
    assert (await admin.get("/api/manage/roles/permissions")).json() == [
        p.value for p in Permission
    ]
    name = uniq("Reader ")
    res = await admin.post(
        "/api/manage/roles", json={"name": name, "permissions": ["share", "report.write"]}
    )
    assert res.status_code == 201, res.text
    role = res.json()
    assert role["permissions"] == ["report.write", "share"] and role["version"] == 1
    res = await admin.patch(
        f"/api/manage/roles/{role['id']}",
        json={"version": 1, "name": name + "+", "permissions": ["report.review"]},
    )
    assert res.status_code == 200, res.text
    assert res.json()["permissions"] == ["report.review"] and res.json()["version"] == 2
    audit = await AuditLog.select(AuditLog.detail).where(
        AuditLog.action == "role.update", AuditLog.target_id == str(role["id"])
    )
    assert "added report.review" in audit[0]["detail"]
    res = await admin.delete(f"/api/manage/roles/{role['id']}")
    assert res.status_code == 200 and "deleted" in res.json()["message"]
    assert not await Role.exists().where(Role.id == role["id"])


async def test_stale_role_edit_is_refused_with_the_current_version(place, new_api) -> None:
    role = (await place.admin.get("/api/manage/roles")).json()[0]
    url = f"/api/manage/roles/{role['id']}"
    first = await place.admin.patch(url, json={"version": role["version"], "permissions": []})
    assert first.status_code == 200
    second = await place.admin.patch(
        url, json={"version": role["version"], "permissions": ["admin"]}
    )
    assert second.status_code == 409
    assert second.json()["current_version"] == role["version"] + 1
    assert "Reload" in second.json()["detail"]
    row = await Role.select(Role.permissions).where(Role.id == role["id"]).first()
    assert msgspec.json.decode(row["permissions"]) == []
    assert (await place.admin.patch(url, json={"permissions": []})).status_code == 400


async def test_role_refusals(place, uniq) -> None:
    admin = place.admin
    used = (await admin.get("/api/manage/roles")).json()[0]
    await new_doctor(place, uniq, role_id=used["id"])
    res = await admin.delete(f"/api/manage/roles/{used['id']}")
    assert res.status_code == 409
    assert "still given to 1 user" in res.json()["detail"]
    assert await Role.exists().where(Role.id == used["id"])
    unknown = await admin.post("/api/manage/roles", json={"name": "X", "permissions": ["fly"]})
    assert unknown.status_code == 400 and "fly" in unknown.json()["detail"]
    dup = await admin.post("/api/manage/roles", json={"name": used["name"]})
    assert dup.status_code == 409
    assert await Role.count().where(Role.hospital == place.id) == 3


async def test_roles_of_another_hospital_are_untouchable(place, other) -> None:
    theirs = (await other.admin.get("/api/manage/roles")).json()[0]
    url = f"/api/manage/roles/{theirs['id']}"
    assert (await place.admin.get(url)).status_code == 404
    res = await place.admin.patch(url, json={"version": theirs["version"], "permissions": []})
    assert res.status_code == 404
    assert (await place.admin.delete(url)).status_code == 404
    row = await Role.select().where(Role.id == theirs["id"]).first()
    assert row["version"] == theirs["version"]
    assert msgspec.json.decode(row["permissions"]) == theirs["permissions"]
    ids = {r["id"] for r in (await place.admin.get("/api/manage/roles")).json()}
    assert theirs["id"] not in ids
    assert len(await denied_rows(place.admin_name, "/api/manage/roles")) >= 3
