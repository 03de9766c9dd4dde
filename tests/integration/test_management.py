"""Management platform API over real HTTP against the real app and database (SPEC 8.1–8.3):
hospitals, their logo and QR code. Departments, doctors and roles are in
``test_management_staff.py``, who may call what in ``test_management_access.py``.

Every test makes its own hospitals, admins and doctors with unique names
(``tests/fixtures/hospitals.py``), so the tests share one database without depending on each
other or on the order they run in.
"""

from __future__ import annotations

import io

import msgspec
import pytest
import segno
from PIL import Image

from api.management.hospitals import create_alliance
from kernel.domain import Module
from kernel.settings import get_settings
from store.tables import AuditLog, Hospital, Role, User
from store.uow import Ctx
from tests.fixtures.hospitals import PASSWORD
from tests.fixtures.management import (
    DATA_DIR,
    denied_rows,
    png_bytes,
)

pytestmark = pytest.mark.integration


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
