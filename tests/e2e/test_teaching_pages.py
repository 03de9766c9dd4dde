"""Remote teaching in real Chromium (SPEC §5): a lecturer creates a course in the form and
publishes it in the classroom; a doctor of the range finds it in the list on a phone, enters
the classroom during its time and sees his personal center."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from store.tables import Role
from store.zones import hospital_zone
from tests.e2e.conftest import fits_the_phone, login, phone_context, shot
from tests.fixtures.hospitals import PASSWORD, department, doctor_account, hospital_of

pytestmark = pytest.mark.e2e


async def test_create_list_classroom_and_personal_center(context, browser, app_url, uniq) -> None:
    east = await hospital_of("EAST")
    role = await Role.insert(
        Role(hospital=east["id"], name=uniq("Lecturer "), permissions=json.dumps(["teaching.host"]))
    ).returning(Role.id)
    host, _ = await doctor_account(uniq, "EAST", role_id=role[0]["id"])
    radiology = await department("EAST", "Radiology")
    learner, _ = await doctor_account(uniq, "EAST", department_id=radiology)
    local = datetime.now(await hospital_zone(east["id"]))
    topic = uniq("Chest CT course ")

    page = await context.new_page()
    await login(page, app_url, host, PASSWORD)
    await page.goto(f"{app_url}/teaching")
    await page.click("#new-card summary")
    await page.fill("#t-topic", topic)
    await page.fill("#t-start", (local - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#t-end", (local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#t-place", "Room 3")
    await page.fill("#t-url", "https://meet.example/chest")
    await page.check(f"input[name=department_ids][value='{radiology}']")
    await page.click("#new-course button[type=submit]")
    link = page.locator("#courses a", has_text=topic)
    await link.wait_for()
    await link.click()
    await page.locator("#course-topic", has_text=topic).wait_for()
    await page.click("#steps button[data-api$='/steps/publish']")
    await page.locator("#course-state", has_text="Published").wait_for()
    await shot(page, "teaching-classroom-lecturer")

    phone = await phone_context(browser, locale="zh-CN")
    try:
        await phone.add_cookies([{"name": "lang", "value": "zh", "url": app_url}])
        p = await phone.new_page()
        await login(p, app_url, learner, PASSWORD)
        await p.goto(f"{app_url}/teaching")
        row = p.locator("#courses a", has_text=topic)
        await row.wait_for()
        await fits_the_phone(p)
        await shot(p, "teaching-list-phone-zh")
        await row.click()
        enter = p.locator("#enter")
        await enter.wait_for()
        assert await enter.get_attribute("href") == "https://meet.example/chest"
        assert await p.locator("#steps").count() == 0  # a learner does not step the course
        assert "已发布" in await p.locator("#course-state").inner_text()
        await fits_the_phone(p)
        await p.goto(f"{app_url}/teaching/me")
        await p.locator("h1", has_text="我的记录").wait_for()
        await fits_the_phone(p)
        await shot(p, "teaching-me-phone-zh")
    finally:
        await phone.close()

    await page.goto(f"{app_url}/teaching/me")
    await page.locator("#courses a", has_text=topic).wait_for()  # my teaching records
