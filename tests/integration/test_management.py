"""Management platform API over real HTTP against the real app and database (SPEC 8.1–8.3).

Every test makes its own hospitals, admins and doctors with unique names, so the tests share
one database without depending on each other or on the order they run in.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import msgspec
import pytest
import segno
from PIL import Image

from api.management.service import create_alliance
from kernel.domain import Module, Permission
from kernel.settings import get_settings
from store.tables import AuditLog, Department, Hospital, Role, Session, User
from store.uow import Ctx
from tests.fixtures.hospitals import PASSWORD, new_doctor

pytestmark = pytest.mark.integration

DATA_DIR = Path(os.environ["AIMIS_DATA_DIR"])


async def denied_rows(username: str, path_part: str) -> list[dict]:
    rows = await AuditLog.select(AuditLog.action, AuditLog.detail).where(
        AuditLog.username == username, AuditLog.outcome == "denied"
    )
    return [r for r in rows if path_part in r["action"]]


def png_bytes(size: tuple[int, int] = (64, 32), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


# --- hospitals --------------------------------------------------------------------------------


async def test_alliance_admin_creates_lists_and_reads_hospitals(alliance, uniq) -> None:
    code = uniq("NEW-")
    res = await alliance.post(
        "/api/manage/hospitals",
        json={
            "name": "North Clinic 北区诊所",
            "code": code,
            "level": "lower",
            "modules": ["consultation", "teaching"],
            "phone": "010-1234567",
            "address": "1 North Road",
        },
    )
    assert res.status_code == 201, res.text
    created = res.json()
    assert created["modules"] == ["consultation", "teaching"]
    assert created["storage_used_bytes"] == 0 and created["logo_url"] is None
    listed = (await alliance.get("/api/manage/hospitals")).json()
    assert code in {h["code"] for h in listed}
    assert {"CITY", "EAST", "WEST"} <= {h["code"] for h in listed}
    one = (await alliance.get(f"/api/manage/hospitals/{created['id']}")).json()
    assert one["name"] == "North Clinic 北区诊所"
    roles = await Role.select(Role.name).where(Role.hospital == created["id"])
    assert len(roles) == 3  # the default roles every hospital starts with
    audit = await AuditLog.select().where(
        AuditLog.action == "hospital.create", AuditLog.target_id == str(created["id"])
    )
    assert audit and audit[0]["username"] == "alliance.admin"


async def test_new_hospital_gets_every_module_by_default(alliance, uniq) -> None:
    res = await alliance.post("/api/manage/hospitals", json={"name": "All", "code": uniq("ALL")})
    assert res.json()["modules"] == [m.value for m in Module]


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"name": "No code"}, 400, "code"),
        ({"name": "X", "code": "A", "modules": ["teleportation"]}, 400, "teleportation"),
        ({"name": "X", "code": "A", "level": "top"}, 400, "leading"),
        ({"name": "X", "code": "A", "time_zone": "Mars/Olympus"}, 400, "time zone"),
        ({"name": "X", "code": "has space"}, 400, "code"),
        ({"name": "  ", "code": "A"}, 400, "name"),
        ({"name": "X", "code": "A", "phone": "call me"}, 400, "phone"),
    ],
)
async def test_create_hospital_refuses_bad_input(alliance, uniq, body, status, words) -> None:
    marker = uniq("BAD")
    if "code" in body and body["code"] == "A":
        body = {**body, "code": marker}
    res = await alliance.post("/api/manage/hospitals", json=body)
    assert res.status_code == status, res.text
    assert words in res.text
    assert not await Hospital.exists().where(Hospital.code == marker)


async def test_create_hospital_malformed_json_and_duplicate_code(alliance, uniq) -> None:
    res = await alliance.post(
        "/api/manage/hospitals",
        content=b'{"name": "x", "code":',
        headers={"content-type": "application/json"},
    )
    assert res.status_code == 400
    res = await alliance.post("/api/manage/hospitals", json={"name": "Dup", "code": "CITY"})
    assert res.status_code == 409 and "taken" in res.json()["detail"]
    assert await Hospital.count().where(Hospital.code == "CITY") == 1


async def test_edit_hospital_with_version_check(alliance, place) -> None:
    before = (await alliance.get(f"/api/manage/hospitals/{place.id}")).json()
    res = await alliance.patch(
        f"/api/manage/hospitals/{place.id}",
        json={
            "name": "Renamed 改名医院",
            "phone": "+86 10 5555 0000",
            "address": "2 South Street",
            "level": "leading",
            "time_zone": "Asia/Urumqi",
            "storage_quota_gb": 1.5,
            "active": False,
            "version": before["version"],
        },
    )
    assert res.status_code == 200, res.text
    after = res.json()
    assert after["name"] == "Renamed 改名医院" and after["level"] == "leading"
    assert after["storage_quota_bytes"] == int(1.5 * 1024**3)
    assert after["active"] is False and after["version"] == before["version"] + 1
    stale = await alliance.patch(
        f"/api/manage/hospitals/{place.id}", json={"name": "Lost", "version": before["version"]}
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == after["version"]
    row = await Hospital.select(Hospital.name).where(Hospital.id == place.id).first()
    assert row["name"] == "Renamed 改名医院"
    bad = await alliance.patch(f"/api/manage/hospitals/{place.id}", json={"unknown": 1})
    assert bad.status_code == 400


async def test_switch_modules(alliance, place) -> None:
    url = f"/api/manage/hospitals/{place.id}/modules"
    res = await alliance.put(url, json={"modules": ["teaching", "consultation", "teaching"]})
    assert res.status_code == 200, res.text
    assert res.json()["modules"] == ["consultation", "teaching"]
    bad = await alliance.put(url, json={"modules": ["teaching", "flying"]})
    assert bad.status_code == 400 and "flying" in bad.json()["detail"]
    row = await Hospital.select(Hospital.modules).where(Hospital.id == place.id).first()
    assert msgspec.json.decode(row["modules"]) == ["consultation", "teaching"]
    me = (await place.admin.get("/api/auth/me")).json()
    assert me["modules"] == ["consultation", "teaching"]
    audit = await AuditLog.select(AuditLog.detail).where(
        AuditLog.action == "hospital.modules", AuditLog.target_id == str(place.id)
    )
    assert any("off:" in r["detail"] and "remote_diagnosis" in r["detail"] for r in audit)


async def test_create_hospital_admin_with_generated_password(alliance, place, new_api, uniq):
    username = uniq("hadm.")
    res = await alliance.post(
        f"/api/manage/hospitals/{place.id}/admins",
        json={"username": username, "display_name": "Second Admin"},
    )
    assert res.status_code == 201, res.text
    out = res.json()
    temp = out["temporary_password"]
    assert temp and temp in out["message"]
    assert out["user"]["kind"] == "hospital_admin" and out["user"]["must_change_password"]
    client = new_api()
    login = await client.login(username, temp, admin=True)
    assert login.json()["must_change_password"] is True
    admins = (await alliance.get(f"/api/manage/hospitals/{place.id}/admins")).json()
    assert username in {a["username"] for a in admins}
    row = await User.select(User.password_hash).where(User.username == username).first()
    assert temp not in row["password_hash"]


async def test_create_hospital_admin_refusals(alliance, place, uniq) -> None:
    url = f"/api/manage/hospitals/{place.id}/admins"
    username = uniq("weak.")
    weak = await alliance.post(
        url, json={"username": username, "display_name": "W", "password": "abc"}
    )
    assert weak.status_code == 400 and "8 characters" in weak.json()["detail"]
    dup = await alliance.post(
        url, json={"username": "admin.city", "display_name": "D", "password": PASSWORD}
    )
    assert dup.status_code == 409 and "taken" in dup.json()["detail"]
    missing = await alliance.post(url, json={"username": username})
    assert missing.status_code == 400
    assert not await User.exists().where(User.username == username)


async def test_hospital_admin_cannot_manage_hospitals(place, other) -> None:
    admin = place.admin
    listed = (await admin.get("/api/manage/hospitals")).json()
    assert [h["id"] for h in listed] == [place.id]
    own = await admin.get(f"/api/manage/hospitals/{place.id}")
    assert own.status_code == 200 and own.json()["storage_used_bytes"] == 0
    assert (
        await admin.post("/api/manage/hospitals", json={"name": "x", "code": "y"})
    ).status_code == 403
    assert (
        await admin.patch(f"/api/manage/hospitals/{place.id}", json={"name": "x"})
    ).status_code == 403
    res = await admin.get(f"/api/manage/hospitals/{other.id}")
    assert res.status_code == 404
    missing = await admin.get("/api/manage/hospitals/999999999")
    # a foreign hospital reads exactly like one that does not exist: nothing leaks
    assert res.json()["detail"].replace(str(other.id), "N") == missing.json()["detail"].replace(
        "999999999", "N"
    )
    assert await denied_rows(place.admin_name, "/api/manage/hospitals")
    qr = await admin.get(f"/api/manage/hospitals/{other.id}/qr")
    assert qr.status_code == 404


async def test_admin_of_another_alliance_sees_nothing_of_ours(new_api, place, uniq) -> None:
    name, username = uniq("Alliance "), uniq("aadm.")
    await create_alliance(Ctx(), name, username, PASSWORD)
    stranger = new_api()
    await stranger.login(username, PASSWORD, admin=True)
    assert (await stranger.get("/api/manage/hospitals")).json() == []
    url = f"/api/manage/hospitals/{place.id}"
    assert (await stranger.get(url)).status_code == 404
    assert (await stranger.patch(url, json={"name": "Taken over"})).status_code == 404
    res = await stranger.put(f"{url}/modules", json={"modules": []})
    assert res.status_code == 404
    res = await stranger.post(
        f"{url}/admins", json={"username": uniq("x"), "display_name": "x", "password": PASSWORD}
    )
    assert res.status_code == 404
    row = await Hospital.select(Hospital.name, Hospital.modules).where(Hospital.id == place.id)
    assert "Taken over" not in row[0]["name"] and row[0]["modules"] != "[]"
    assert len(await denied_rows(username, "/api/manage/hospitals")) >= 4


# --- hospital information: logo and QR code ---------------------------------------------------


def logo_files() -> set[str]:
    folder = DATA_DIR / "logos"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


async def test_logo_upload_png_and_jpeg_then_get(place) -> None:
    url = f"/api/manage/hospitals/{place.id}/logo"
    assert (await place.admin.get(url)).status_code == 404  # none yet
    res = await place.admin.post(url, files={"logo": ("logo.png", png_bytes(), "image/png")})
    assert res.status_code == 200, res.text
    first = res.json()["logo_url"]
    assert first.startswith(url)
    row = await Hospital.select(Hospital.logo_file).where(Hospital.id == place.id).first()
    first_file = row["logo_file"]
    assert first_file.startswith(f"{place.id}-") and first_file.endswith(".png")
    assert "logo" not in first_file
    got = await place.admin.get(first)
    assert got.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(got.content)).size == (64, 32)
    # a JPEG, and a PNG renamed .jpg: both decode, both are fine, both stored as PNG
    for name, content, mime in [
        ("photo.jpg", png_bytes((40, 40), "JPEG"), "image/jpeg"),
        ("actually-png.jpg", png_bytes((30, 20)), "image/jpeg"),
    ]:
        res = await place.admin.post(url, files={"logo": (name, content, mime)})
        assert res.status_code == 200, res.text
        stored = Image.open(io.BytesIO((await place.admin.get(url)).content))
        assert stored.format == "PNG"
    row = await Hospital.select(Hospital.logo_file).where(Hospital.id == place.id).first()
    assert row["logo_file"] != first_file
    assert first_file not in logo_files()  # the replaced logo is gone
    assert row["logo_file"] in logo_files()


async def test_big_logo_is_scaled_down(place) -> None:
    url = f"/api/manage/hospitals/{place.id}/logo"
    res = await place.admin.post(
        url, files={"logo": ("big.png", png_bytes((2000, 1000)), "image/png")}
    )
    assert res.status_code == 200, res.text
    assert Image.open(io.BytesIO((await place.admin.get(url)).content)).size == (512, 256)


@pytest.mark.parametrize(
    ("files", "status", "words"),
    [
        ({"logo": ("logo.png", b"I am plain text, not a picture.", "image/png")}, 400, "not one"),
        ({"logo": ("logo.gif", b"GIF89a" + png_bytes()[6:], "image/gif")}, 400, "PNG or JPEG"),
        ({"other": ("logo.png", b"\x89PNG", "image/png")}, 400, "Choose"),
        (
            {"logo": ("logo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")},
            400,
            "PNG or JPEG",
        ),
    ],
)
async def test_logo_refusals(place, files, status, words) -> None:
    before = logo_files()
    res = await place.admin.post(f"/api/manage/hospitals/{place.id}/logo", files=files)
    assert res.status_code == status, res.text
    assert words in res.json()["detail"]
    row = await Hospital.select(Hospital.logo_file).where(Hospital.id == place.id).first()
    assert row["logo_file"] == ""
    assert logo_files() == before


async def test_real_gif_is_refused(place) -> None:
    out = io.BytesIO()
    Image.new("RGB", (8, 8)).save(out, format="GIF")
    res = await place.admin.post(
        f"/api/manage/hospitals/{place.id}/logo",
        files={"logo": ("logo.png", out.getvalue(), "image/png")},
    )
    assert res.status_code == 400 and "not GIF" in res.json()["detail"]


async def test_oversized_logo_is_refused(place) -> None:
    limit = get_settings().server.logo_max_bytes
    # a valid PNG padded past the limit with a private ancillary chunk
    content = png_bytes() + b"\0" * (limit + 1)
    before = logo_files()
    res = await place.admin.post(
        f"/api/manage/hospitals/{place.id}/logo",
        files={"logo": ("logo.png", content, "image/png")},
    )
    assert res.status_code == 413, res.text
    assert "KB" in res.json()["detail"]
    row = await Hospital.select(Hospital.logo_file).where(Hospital.id == place.id).first()
    assert row["logo_file"] == "" and logo_files() == before


async def test_logo_of_another_hospital_is_refused(place, other) -> None:
    res = await place.admin.post(
        f"/api/manage/hospitals/{other.id}/logo",
        files={"logo": ("logo.png", png_bytes(), "image/png")},
    )
    assert res.status_code == 404
    row = await Hospital.select(Hospital.logo_file).where(Hospital.id == other.id).first()
    assert row["logo_file"] == ""
    assert await denied_rows(place.admin_name, "/logo")


async def test_hospital_qr_code_download(place) -> None:
    res = await place.admin.get(f"/api/manage/hospitals/{place.id}/qr")
    assert res.status_code == 200
    assert res.headers["content-type"] == "image/png"
    disposition = res.headers["content-disposition"]
    assert disposition.startswith("attachment") and place.code in disposition
    assert Image.open(io.BytesIO(res.content)).format == "PNG"
    # the same QR code as segno makes for the app's login URL of this hospital
    app_url = f"{place.admin.http.base_url}/login?hospital={place.code}".replace(
        "//login", "/login"
    )
    expected = io.BytesIO()
    segno.make(app_url, error="m").save(expected, kind="png", scale=10, border=4)
    assert res.content == expected.getvalue()


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
