"""Examination dictionaries over real HTTP (SPEC 8.4, 8.7): device types, devices, body
parts, check items — create, edit with version check, deactivate, unique codes, search,
paging, audit, and another hospital's rows reading as not found."""

from __future__ import annotations

import pytest

from store.tables import AuditLog, CheckItem
from tests.fixtures.hospitals import PASSWORD, Place, new_doctor

pytestmark = pytest.mark.integration


async def test_device_type_create_edit_conflicts_and_audit(place: Place) -> None:
    res = await place.admin.post(
        "/api/dictionaries/device-types", json={"code": "ct", "name": "CT 计算机断层"}
    )
    assert res.status_code == 201, res.text
    created = res.json()
    assert created["code"] == "CT" and created["active"] and created["version"] == 1
    again = await place.admin.post(
        "/api/dictionaries/device-types", json={"code": "CT", "name": "again"}
    )
    assert again.status_code == 409 and "'CT' is taken" in again.json()["detail"]
    bad = await place.admin.post(
        "/api/dictionaries/device-types", json={"code": "C T!", "name": "x"}
    )
    assert bad.status_code == 400 and "code" in bad.json()["detail"]
    empty = await place.admin.post("/api/dictionaries/device-types", json={"code": "MR"})
    assert empty.status_code == 400
    url = f"/api/dictionaries/device-types/{created['id']}"
    res = await place.admin.patch(url, json={"name": "CT scanner", "version": 1})
    assert res.status_code == 200 and res.json()["version"] == 2
    stale = await place.admin.patch(url, json={"name": "lost", "version": 1})
    assert stale.status_code == 409 and "version" in stale.json()["detail"]
    res = await place.admin.get(url)
    assert res.json()["name"] == "CT scanner"
    res = await place.admin.patch(url, json={"active": False})
    assert res.status_code == 200 and res.json()["active"] is False
    actions = await AuditLog.select(AuditLog.action).where(
        AuditLog.target_type == "device_type", AuditLog.target_id == str(created["id"])
    )
    assert [a["action"] for a in actions].count("dictionary.device_type.update") == 2
    assert "dictionary.device_type.create" in [a["action"] for a in actions]


async def test_code_rename_onto_a_taken_code_is_409(place: Place) -> None:
    a = (
        await place.admin.post(
            "/api/dictionaries/body-parts", json={"code": "CHEST", "name": "胸部"}
        )
    ).json()
    b = (
        await place.admin.post(
            "/api/dictionaries/body-parts", json={"code": "HEAD", "name": "头部"}
        )
    ).json()
    res = await place.admin.patch(f"/api/dictionaries/body-parts/{b['id']}", json={"code": "chest"})
    assert res.status_code == 409, res.text
    res = await place.admin.get(f"/api/dictionaries/body-parts/{b['id']}")
    assert res.json()["code"] == "HEAD" and res.json()["version"] == 1
    assert a["code"] == "CHEST"


async def test_same_code_in_two_hospitals_is_fine_and_rows_stay_apart(
    place: Place, other: Place
) -> None:
    res = await place.admin.post(
        "/api/dictionaries/device-types", json={"code": "MR", "name": "MR"}
    )
    assert res.status_code == 201
    mine = res.json()
    res = await other.admin.post(
        "/api/dictionaries/device-types", json={"code": "MR", "name": "MR"}
    )
    assert res.status_code == 201
    res = await other.admin.get(f"/api/dictionaries/device-types/{mine['id']}")
    assert res.status_code == 404
    res = await other.admin.patch(
        f"/api/dictionaries/device-types/{mine['id']}", json={"name": "stolen"}
    )
    assert res.status_code == 404
    listed = (await other.admin.get("/api/dictionaries/device-types")).json()
    assert mine["id"] not in [r["id"] for r in listed["items"]]
    # a device of the other hospital cannot use my device type
    res = await other.admin.post(
        "/api/dictionaries/devices", json={"device_type_id": mine["id"], "name": "X"}
    )
    assert res.status_code == 400 and "not in this hospital" in res.json()["detail"]


async def test_devices_search_and_paging(place: Place) -> None:
    dt = (
        await place.admin.post("/api/dictionaries/device-types", json={"code": "DX", "name": "DR"})
    ).json()
    for i in range(7):
        res = await place.admin.post(
            "/api/dictionaries/devices",
            json={
                "device_type_id": dt["id"],
                "name": f"DR room {i} 放射{i}",
                "station_name": f"DR{i:02d}",
                "model": "uDR 780i" if i % 2 else "DigitalDiagnost",
            },
        )
        assert res.status_code == 201, res.text
        assert res.json()["device_type_code"] == "DX"
    page1 = (await place.admin.get("/api/dictionaries/devices?per_page=3&page=1")).json()
    page3 = (await place.admin.get("/api/dictionaries/devices?per_page=3&page=3")).json()
    assert page1["total"] == 7 and len(page1["items"]) == 3 and len(page3["items"]) == 1
    found = (await place.admin.get("/api/dictionaries/devices?q=UDR")).json()
    assert found["total"] == 3
    found = (await place.admin.get("/api/dictionaries/devices?q=放射5")).json()
    assert [d["station_name"] for d in found["items"]] == ["DR05"]
    bad = await place.admin.get("/api/dictionaries/devices?per_page=0")
    assert bad.status_code == 400
    bad = await place.admin.get("/api/dictionaries/devices?page=x")
    assert bad.status_code == 400


async def test_check_item_with_cloud_film_rules(place: Place) -> None:
    dt = (
        await place.admin.post("/api/dictionaries/device-types", json={"code": "CT", "name": "CT"})
    ).json()
    bp = (
        await place.admin.post(
            "/api/dictionaries/body-parts", json={"code": "CHEST", "name": "胸部"}
        )
    ).json()
    body = {
        "code": "CT-CHEST",
        "name": "胸部CT平扫",
        "device_type_id": dt["id"],
        "body_part_id": bp["id"],
        "exam_category": "outpatient",
        "scanning_method": "平扫",
        "cloud_film": True,
        "cloud_film_visible": "after_hours",
        "cloud_film_hours": 24,
    }
    res = await place.admin.post("/api/dictionaries/check-items", json=body)
    assert res.status_code == 201, res.text
    item = res.json()
    assert item["device_type_code"] == "CT" and item["body_part_code"] == "CHEST"
    assert item["cloud_film_hours"] == 24
    for change, word in (
        ({"cloud_film_visible": "sometimes"}, "after_review"),
        ({"cloud_film_hours": 0}, "hours"),
        ({"cloud_film_hours": -3}, "between"),
        ({"exam_category": "vip"}, "category"),
    ):
        res = await place.admin.patch(f"/api/dictionaries/check-items/{item['id']}", json=change)
        assert res.status_code == 400 and word in res.json()["detail"], (change, res.text)
    row = await CheckItem.select().where(CheckItem.id == item["id"]).first()
    assert row["version"] == 1 and row["cloud_film_hours"] == 24
    res = await place.admin.patch(
        f"/api/dictionaries/check-items/{item['id']}",
        json={"cloud_film_visible": "after_review", "body_part_id": None, "version": 1},
    )
    assert res.status_code == 200, res.text
    assert res.json()["body_part_id"] is None and res.json()["cloud_film_visible"] == "after_review"
    res = await place.admin.post("/api/dictionaries/check-items", json={**body, "code": "ct-chest"})
    assert res.status_code == 409


async def test_doctor_reads_but_cannot_write_and_refusal_is_audited(
    place: Place, new_api, uniq
) -> None:
    doctor = await new_doctor(place, uniq)
    client = new_api()
    await client.login(doctor["username"], PASSWORD)
    await place.admin.post("/api/dictionaries/body-parts", json={"code": "ABD", "name": "腹部"})
    res = await client.get("/api/dictionaries/body-parts?q=abd")
    assert res.status_code == 200 and res.json()["items"][0]["name"] == "腹部"
    res = await client.post("/api/dictionaries/body-parts", json={"code": "LEG", "name": "腿"})
    assert res.status_code == 403
    listed = (await place.admin.get("/api/dictionaries/body-parts?q=LEG")).json()
    assert listed["total"] == 0
    denied = await AuditLog.select(AuditLog.action).where(
        AuditLog.username == doctor["username"], AuditLog.outcome == "denied"
    )
    assert denied, "the refused write is in the audit log"


async def test_demo_hospitals_have_dictionaries(api, demo) -> None:
    await api.login("dr.wang", demo["password"])
    items = (await api.get("/api/dictionaries/check-items?q=胸部")).json()["items"]
    names = {i["name"]: i for i in items}
    assert {"胸部CT平扫", "胸部正位片"} <= set(names)
    assert names["胸部CT平扫"]["device_type_code"] == "CT"
    types = (await api.get("/api/dictionaries/device-types")).json()["items"]
    assert {t["code"] for t in types} >= {"CT", "MR", "DX", "CR", "US", "MG"}
    assert (await api.get("/api/dictionaries/devices")).json()["total"] >= 6
