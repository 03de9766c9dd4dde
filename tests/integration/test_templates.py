"""Report templates over real HTTP (SPEC 8.5): scopes, shown fields, placeholder checks,
preview, which templates a doctor may use for an examination, and ``render_template``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.dictionaries.templates import render_template
from store.tables import AuditLog, Examination, ReportTemplate
from tests.fixtures.hospitals import PASSWORD, Place, make_place, new_doctor

pytestmark = pytest.mark.integration


async def exam(hospital_id: int, check_item: int | None, **kw: object) -> int:
    at = datetime(2026, 11, 27, 1, 30, tzinfo=UTC)  # 09:30 in Asia/Shanghai
    row = await Examination.insert(
        Examination(
            hospital=hospital_id,
            patient_name="李四",
            patient_sex="F",
            patient_birth_date="19800315",
            patient_id="P-778",
            accession_number="ACC-1",
            check_item=check_item,
            check_item_name="胸部CT平扫",
            device_type="CT",
            device_name="CT 1",
            body_part="CHEST",
            exam_time=at,
            created_at=at,
            updated_at=at,
            **kw,
        )
    ).returning(Examination.id)
    return int(row[0]["id"])


async def check_item(place: Place, code: str = "CT-CHEST") -> int:
    res = await place.admin.post("/api/dictionaries/check-items", json={"code": code, "name": code})
    assert res.status_code == 201, res.text
    return int(res.json()["id"])


BODY = {
    "name": "胸部CT模板",
    "shown_fields": ["patient_name", "patient_sex", "patient_age", "exam_time", "check_item"],
    "title_format": "{check_item}报告",
    "header_format": "姓名：{patient_name}  性别：{patient_sex}  年龄：{patient_age}岁",
    "findings_format": "检查时间 {exam_time}。双肺纹理清晰。{{示例}}",
    "impression_format": "胸部CT平扫未见明显异常。",
    "footer_format": "本报告仅供临床参考。",
}


async def test_placeholders_are_checked_and_nothing_is_stored(place: Place) -> None:
    before = await ReportTemplate.count().where(ReportTemplate.hospital == place.id)
    for change, word in (
        ({"findings_format": "{patient_nam}"}, "{patient_nam}"),
        ({"header_format": "{accession_number}"}, "not among the shown fields"),
        ({"title_format": "{check_item"}, "brace"),
        ({"title_format": "{patient_name.__class__}"}, "Unknown placeholder"),
        ({"shown_fields": ["shoe_size"]}, "shoe_size"),
        ({"scope": "personal"}, "personal"),
        ({"scope": "department"}, "department"),
    ):
        res = await place.admin.post("/api/templates", json={**BODY, **change})
        assert res.status_code == 400 and word in res.json()["detail"], (change, res.text)
    assert await ReportTemplate.count().where(ReportTemplate.hospital == place.id) == before


async def test_preview_and_render_against_an_examination(place: Place) -> None:
    item = await check_item(place)
    res = await place.admin.post("/api/templates", json={**BODY, "check_item_id": item})
    assert res.status_code == 201, res.text
    template = res.json()
    assert template["shown_fields"] == [  # canonical order
        "patient_name",
        "patient_sex",
        "patient_age",
        "check_item",
        "exam_time",
    ]
    preview = await place.admin.post("/api/templates/preview", json={**BODY})
    assert preview.status_code == 200
    assert preview.json()["header"] == "姓名：张三  性别：男  年龄：45岁"
    exam_id = await exam(place.id, item)
    rendered = await render_template(template["id"], exam_id)
    assert rendered.title == "胸部CT平扫报告"
    assert rendered.header == "姓名：李四  性别：女  年龄：46岁"
    assert rendered.findings == "检查时间 2026-11-27 09:30。双肺纹理清晰。{示例}"
    assert rendered.fields["patient_name"] == "李四"
    res = await place.admin.get(f"/api/templates/{template['id']}/render/{exam_id}")
    assert res.status_code == 200 and res.json()["header"] == rendered.header
    # a stale edit is refused; an edit adding an unknown placeholder changes nothing
    url = f"/api/templates/{template['id']}"
    ok = await place.admin.patch(url, json={"impression_format": "未见异常。", "version": 1})
    assert ok.status_code == 200 and ok.json()["version"] == 2
    stale = await place.admin.patch(url, json={"name": "x", "version": 1})
    assert stale.status_code == 409
    bad = await place.admin.patch(url, json={"footer_format": "{nope}"})
    assert bad.status_code == 400 and "{nope}" in bad.json()["detail"]
    assert (await place.admin.get(url)).json()["footer_format"] == BODY["footer_format"]
    audit = await AuditLog.select(AuditLog.action).where(
        AuditLog.target_type == "report_template", AuditLog.target_id == str(template["id"])
    )
    assert {a["action"] for a in audit} == {"template.create", "template.update"}


async def test_which_templates_a_doctor_may_use(place: Place, new_api, uniq) -> None:
    item = await check_item(place)
    other_item = await check_item(place, "MR-HEAD")
    res = await place.admin.post("/api/manage/departments", json={"name": uniq("Radiology ")})
    dept = res.json()["id"]
    res = await place.admin.post("/api/manage/departments", json={"name": uniq("Cardio ")})
    other_dept = res.json()["id"]
    made = {}
    for name, extra in (
        ("hospital", {"check_item_id": item}),
        ("general", {}),
        ("mr", {"check_item_id": other_item}),
        ("my-dept", {"check_item_id": item, "scope": "department", "department_id": dept}),
        ("other-dept", {"check_item_id": item, "scope": "department", "department_id": other_dept}),
    ):
        res = await place.admin.post("/api/templates", json={**BODY, "name": name, **extra})
        assert res.status_code == 201, res.text
        made[name] = res.json()["id"]
    doctor = await new_doctor(place, uniq, department_id=dept)
    colleague = await new_doctor(place, uniq, department_id=dept)
    client, other = new_api(), new_api()
    await client.login(doctor["username"], PASSWORD)
    await other.login(colleague["username"], PASSWORD)
    res = await client.post(
        "/api/templates", json={**BODY, "name": "mine", "scope": "personal", "check_item_id": item}
    )
    assert res.status_code == 201, res.text
    made["mine"] = res.json()["id"]
    denied = await client.post("/api/templates", json={**BODY, "name": "h", "scope": "hospital"})
    assert denied.status_code == 403
    exam_id = await exam(place.id, item)
    res = await client.get(f"/api/templates/for-examination/{exam_id}")
    assert res.status_code == 200, res.text
    assert [t["name"] for t in res.json()] == ["mine", "my-dept", "hospital", "general"]
    # the colleague neither sees nor changes the doctor's personal template
    res = await other.get(f"/api/templates/for-examination/{exam_id}")
    assert "mine" not in [t["name"] for t in res.json()]
    res = await other.patch(f"/api/templates/{made['mine']}", json={"name": "taken"})
    assert res.status_code == 404
    res = await other.get(f"/api/templates/{made['mine']}/render/{exam_id}")
    assert res.status_code == 404


async def test_another_hospitals_templates_and_exams_are_not_found(
    place: Place, new_api, demo, uniq
) -> None:
    other = await make_place(new_api, demo, uniq)
    res = await place.admin.post("/api/templates", json=BODY)
    template_id = res.json()["id"]
    exam_id = await exam(place.id, None)
    res = await other.admin.get(f"/api/templates/{template_id}")
    assert res.status_code == 404
    res = await other.admin.get(f"/api/templates/{template_id}/render/{exam_id}")
    assert res.status_code == 404


async def test_demo_templates_are_valid_and_usable(api, demo) -> None:
    await api.login("dr.wang", demo["password"])
    listed = (await api.get("/api/templates")).json()
    chest = next(t for t in listed if t["name"] == "胸部CT平扫报告")
    assert chest["check_item_name"] == "胸部CT平扫" and chest["scope"] == "hospital"
    fields = {k: chest[k] for k in ("title_format", "header_format", "findings_format")}
    res = await api.post(
        "/api/templates/preview", json={"shown_fields": chest["shown_fields"], **fields}
    )
    assert res.status_code == 200, res.text
    assert res.json()["header"].startswith("市人民医院\n姓名：张三")
