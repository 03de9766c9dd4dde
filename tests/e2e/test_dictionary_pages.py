"""Dictionary, template and knowledge pages in real headless Chromium (SPEC 8.4–8.7): a
hospital admin creates, edits, searches and deactivates entries through the UI; screenshots
on desktop and phone, in English and Chinese."""

from __future__ import annotations

import pytest

from store.tables import AuditLog, CheckItem, Hospital
from tests.e2e.conftest import login, shot
from tests.e2e.test_management_pages import (
    Place,
    admin_page,
    no_horizontal_scroll,
    place,
)
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.e2e
OFF = "() => document.querySelector(\"#items tr[data-code='CT-CHEST']\").innerText.includes('Off')"

__all__ = ["place"]


async def new_entry(page) -> None:  # type: ignore[no-untyped-def]
    """The "new entry" panel is open while the list is empty, folded away after."""
    if not await page.is_visible("#code-new"):
        await page.click("#new-item summary")


async def test_admin_builds_the_dictionaries(context, app_url, place: Place) -> None:
    page, _ = await admin_page(context, app_url, place, dialogs=True)
    await page.click("header nav summary:has-text('Management')")  # the grouped menu
    await page.click("header nav a[href='/manage/dictionaries']")
    await page.wait_for_url("**/manage/dictionaries/check-items")
    # a device type and a body part first: the check item refers to them
    await page.click("nav.tabs a[href='/manage/dictionaries/device-types']")
    await page.fill("#code-new", "ct")
    await page.fill("#name-new", "CT scanner")
    await page.click("#create-form button[type=submit]")
    await page.wait_for_selector("#items tr[data-code='CT']")
    await new_entry(page)
    await page.fill("#code-new", "CT")
    await page.fill("#name-new", "twice")
    await page.click("#create-form button[type=submit]")
    error = await page.wait_for_selector("#create-form [data-msg].error")
    assert "'CT' is taken" in await error.inner_text()
    await page.goto(f"{app_url}/manage/dictionaries/body-parts")
    await page.fill("#code-new", "CHEST")
    await page.fill("#name-new", "Chest")
    await page.click("#create-form button[type=submit]")
    await page.wait_for_selector("#items tr[data-code='CHEST']")
    await page.goto(f"{app_url}/manage/dictionaries/check-items")
    await page.fill("#code-new", "CT-CHEST")
    await page.fill("#name-new", "Chest CT plain")
    await page.select_option("#type-new", label="CT · CT scanner")
    await page.select_option("#part-new", label="CHEST · Chest")
    await page.select_option("#vis-new", "after_hours")
    await page.fill("#hours-new", "24")
    await page.click("#create-form button[type=submit]")
    row = await page.wait_for_selector("#items tr[data-code='CT-CHEST']")
    assert "24 h after the exam" in await row.inner_text()
    stored = (
        await CheckItem.select()
        .where(CheckItem.hospital == place.id, CheckItem.code == "CT-CHEST")
        .first()
    )
    assert stored["cloud_film_visible"] == "after_hours" and stored["cloud_film_hours"] == 24
    # edit: switch the cloud film off
    await page.click("#items tr[data-code='CT-CHEST'] details.edit summary")
    await page.uncheck("#items tr[data-code='CT-CHEST'] input[name=cloud_film]")
    await page.click("#items tr[data-code='CT-CHEST'] details.edit button[type=submit]")
    await page.wait_for_function(OFF)
    await shot(page, "dictionaries-check-items")
    # search, then deactivate
    await page.fill("input[name=q]", "nothing-like-this")
    await page.click("form.toolbar button[type=submit]")
    await page.wait_for_selector("#items >> text=Nothing found.")
    await page.goto(f"{app_url}/manage/dictionaries/check-items?q=chest")
    await page.click("#items tr[data-code='CT-CHEST'] button:has-text('Deactivate')")
    await page.wait_for_selector("#items tr[data-code='CT-CHEST'] >> text=Inactive")
    actions = await AuditLog.select(AuditLog.action).where(AuditLog.hospital_id == place.id)
    assert {"dictionary.check_item.create", "dictionary.check_item.update"} <= {
        a["action"] for a in actions
    }


async def test_dictionaries_in_chinese_on_a_phone(phone, app_url) -> None:
    page = await phone.new_page()
    await login(page, app_url, "admin.city", "Demo@2026", admin=True)
    await page.goto(f"{app_url}/lang/zh")
    await page.goto(f"{app_url}/manage/dictionaries/check-items")
    await page.wait_for_selector("#items tr[data-code='CT-CHEST']")
    text = await page.inner_text("main")
    assert "检查项目" in text and "胸部CT平扫" in text and "检查后 2 小时" in text
    await no_horizontal_scroll(page)
    await shot(page, "dictionaries-check-items-phone-zh")
    await page.goto(f"{app_url}/manage/dictionaries/devices")
    await page.wait_for_selector("#items tr[data-name='MR 1.5T']")
    await no_horizontal_scroll(page)
    await shot(page, "dictionaries-devices-phone-zh")
    assert await Hospital.exists().where(Hospital.code == "CITY")


async def test_admin_writes_a_template_with_live_preview(context, app_url, place: Place) -> None:
    page = await context.new_page()
    await login(page, app_url, place.admin, PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/templates")
    await page.fill("#tn-new", "Chest CT report")
    await page.check("#template-form input[value=patient_name]")
    await page.fill("#header_format-new", "Name: {patient_name}")
    await page.wait_for_function(
        "() => document.querySelector('#template-form [data-out]').textContent"
        ".includes('Name: 张三')"
    )
    await page.fill("#findings_format-new", "Age {patient_age}")
    err = await page.wait_for_selector("#template-form [data-out].error")
    assert "{patient_age}" in await err.inner_text()
    await page.click("#template-form button[type=submit]")
    await page.wait_for_selector("#template-form [data-msg].error")
    await page.fill("#findings_format-new", "Lungs clear.")
    await page.click("#template-form button[type=submit]")
    await page.wait_for_selector("#templates tr[data-name='Chest CT report']")
    await shot(page, "templates")


async def test_templates_and_knowledge_in_chinese_on_a_phone(phone, app_url) -> None:
    page = await phone.new_page()
    await login(page, app_url, "admin.east", "Demo@2026", admin=True)
    await page.goto(f"{app_url}/lang/zh")
    await page.goto(f"{app_url}/manage/templates")
    await page.wait_for_selector("#templates tr[data-name='胸部CT平扫报告']")
    assert "报告模板" in await page.inner_text("main")
    await no_horizontal_scroll(page)
    await shot(page, "templates-phone-zh")
    await page.goto(f"{app_url}/manage/knowledge")
    await page.fill("input[name=q]", "结节")
    await page.click("form.toolbar button[type=submit]")
    await page.wait_for_selector("#phrases tr[data-title='磨玻璃结节']")
    titles = await page.eval_on_selector_all(
        "#phrases tr[data-title]", "rs => rs.map(r => r.dataset.title)"
    )
    assert titles[0] in ("肺结节（实性）", "磨玻璃结节", "乳腺结节") and "脂肪肝" not in titles
    await no_horizontal_scroll(page)
    await shot(page, "knowledge-phone-zh")


async def test_admin_adds_and_finds_a_phrase(context, app_url, place: Place) -> None:
    page, _ = await admin_page(context, app_url, place, dialogs=True)
    await page.goto(f"{app_url}/manage/knowledge")
    await page.fill("#pt-new", "Pleural effusion")
    await page.fill("#pk-new", "fluid 积液")
    await page.fill("#pi-new", "Small right pleural effusion.")
    await page.click("#phrase-form button[type=submit]")
    await page.wait_for_selector("#phrases tr[data-title='Pleural effusion']")
    await page.fill("input[name=q]", "积液")
    await page.click("form.toolbar button[type=submit]")
    await page.wait_for_selector("#phrases tr[data-title='Pleural effusion']")
    await page.click("#phrases tr[data-title='Pleural effusion'] button:has-text('Deactivate')")
    await page.wait_for_selector("#phrases tr[data-title='Pleural effusion'] >> text=Inactive")
    await shot(page, "knowledge")
