"""The cloud-film rule page (SPEC 8.7) in real headless Chromium: the hospital admin edits
the hospital-wide rule and a check item's, a bad value and a stale version are refused on
the page, the page reads the same in Chinese; the alliance admin sees figures only.
Screenshots on desktop (English, Chinese) and phone."""

from __future__ import annotations

import msgspec
import pytest

from kernel.domain import Module
from store.tables import AuditLog, CheckItem, CloudFilmRule, Hospital
from tests.e2e.conftest import login, phone_context, shot
from tests.e2e.test_management_pages import Place, admin_page, no_horizontal_scroll, place
from tests.fixtures.hospitals import DEMO_PASSWORD, PASSWORD
from tests.integration.test_cloud_film import check_item

pytestmark = pytest.mark.e2e
__all__ = ["place"]


async def with_cloud_film(place: Place) -> int:
    row = await Hospital.select(Hospital.modules).where(Hospital.id == place.id).first()
    modules = set(msgspec.json.decode(row["modules"] or "[]")) | {Module.cloud_film.value}
    await Hospital.update({Hospital.modules: msgspec.json.encode(sorted(modules)).decode()}).where(
        Hospital.id == place.id
    )
    return await check_item(place.id, "CT-CHEST")


async def test_admin_edits_the_cloud_film_rules(context, browser, app_url, place: Place) -> None:
    item = await with_cloud_film(place)
    page, _ = await admin_page(context, app_url, place)
    await page.click("header nav summary:has-text('Management')")
    await page.click("header nav a[href='/manage/cloud-film']")
    await page.wait_for_url("**/manage/cloud-film")
    assert await page.inner_text("h1") == "Cloud film"
    assert not await page.is_visible("[data-testid=module-off]")
    assert await page.inner_text("[data-testid=rule-CT-CHEST]") == "Off"

    # hospital-wide: on, 0 hours after the exam is refused on the page, nothing saved
    form = "#default-form"
    await page.check(f"{form} input[name=enabled]")
    await page.check(f"{form} input[name=allow_download]")
    await page.select_option("[data-testid=when-default]", "after_hours")
    await page.fill("[data-testid=hours-default]", "0")
    await page.click(f"{form} button[type=submit]")
    error = await page.wait_for_selector(f"{form} [data-msg].error")
    assert "at least 1" in await error.inner_text()
    row = await CloudFilmRule.select().where(CloudFilmRule.hospital == place.id).first()
    assert (row["enabled"], row["version"]) == (False, 1)
    await page.fill("[data-testid=hours-default]", "12")
    async with page.expect_navigation():
        await page.click(f"{form} button[type=submit]")
    row = await CloudFilmRule.select().where(CloudFilmRule.hospital == place.id).first()
    assert (row["enabled"], row["visible_when"], row["visible_hours"], row["allow_download"]) == (
        True,
        "after_hours",
        12,
        True,
    )
    assert await page.input_value("[data-testid=hours-default]") == "12"

    # the check item: at once
    await page.click("tr[data-code='CT-CHEST'] details.edit summary")
    await page.check("tr[data-code='CT-CHEST'] input[name=enabled]")
    await page.select_option(f"[data-testid=when-{item}]", "at_once")
    async with page.expect_navigation():
        await page.click("tr[data-code='CT-CHEST'] button[type=submit]")
    assert await page.inner_text("[data-testid=rule-CT-CHEST]") == "at once"
    assert await page.inner_text("[data-testid=notified-CT-CHEST]") == "0"
    await shot(page, "cloud-film-rules-en")

    # a second tab still at the old version is told, and nothing changes
    stale = await context.new_page()
    await stale.goto(f"{app_url}/manage/cloud-film")
    await page.select_option("[data-testid=when-default]", "after_review")
    async with page.expect_navigation():
        await page.click(f"{form} button[type=submit]")
    await stale.select_option("[data-testid=when-default]", "at_once")
    await stale.click(f"{form} button[type=submit]")
    error = await stale.wait_for_selector(f"{form} [data-msg].error")
    assert "Someone else changed" in await error.inner_text()
    row = await CloudFilmRule.select().where(CloudFilmRule.hospital == place.id).first()
    assert row["visible_when"] == "after_review"
    await stale.close()

    # Chinese
    await page.goto(f"{app_url}/lang/zh")
    await page.goto(f"{app_url}/manage/cloud-film")
    assert await page.inner_text("h1") == "云胶片"
    assert await page.inner_text("[data-testid=rule-CT-CHEST]") == "立即"
    assert "全院设置" in await page.inner_text("#hospital-rule")
    await shot(page, "cloud-film-rules-zh")
    got = await CheckItem.select(CheckItem.cloud_film).where(CheckItem.id == item).first()
    assert got == {"cloud_film": True}
    audits = await AuditLog.count().where(
        AuditLog.hospital_id == place.id, AuditLog.action == "cloud_film.rule"
    )
    assert audits == 3

    # on a phone, in Chinese, nothing wider than the screen
    ctx = await phone_context(browser, locale="zh-CN")
    try:
        phone = await ctx.new_page()
        await login(phone, app_url, place.admin, PASSWORD, admin=True)
        await phone.goto(f"{app_url}/lang/zh")
        await phone.goto(f"{app_url}/manage/cloud-film")
        await no_horizontal_scroll(phone)
        await shot(phone, "cloud-film-rules-phone-zh")
    finally:
        await ctx.close()


async def test_the_alliance_admin_sees_figures_only(context, app_url, place: Place) -> None:
    await with_cloud_film(place)
    page = await context.new_page()
    await login(page, app_url, "alliance.admin", DEMO_PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/cloud-film")
    table = await page.wait_for_selector("#cloud-film-figures")
    text = await table.inner_text()
    assert "Browser Hospital" in text
    assert not await page.query_selector("form[data-api^='/api/patient-archive']")
    await shot(page, "cloud-film-alliance-en")
