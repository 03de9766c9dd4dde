"""API-token page in real headless Chromium: a hospital admin creates a token for a doctor
(shown once), the token opens DICOMweb, the list shows its prefix and last use, revoking
it closes DICOMweb; the page in Chinese on a phone."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import login, shot
from tests.fixtures.hospitals import DEMO_PASSWORD, make_doctor

pytestmark = pytest.mark.e2e


@pytest.fixture
async def doctor(uniq) -> str:
    """A fresh EAST doctor, so the list shows only this test's tokens for him."""
    return await make_doctor(uniq, "EAST", prefix="tok.doc.", display_name="Token Doctor 令牌医生")


async def test_create_use_revoke(context, app_url, doctor) -> None:
    page = await context.new_page()
    dialogs: list[str] = []

    async def accept(dialog) -> None:  # type: ignore[no-untyped-def]
        dialogs.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    await login(page, app_url, "admin.east", DEMO_PASSWORD, admin=True)
    await page.click("header nav summary:has-text('Management')")  # the grouped menu
    await page.click("header nav >> text=API tokens")
    await page.wait_for_url("**/manage/tokens")
    option = page.locator("#t-user option", has_text=doctor)
    await page.select_option("#t-user", await option.get_attribute("value"))
    await page.fill("#t-name", "Reading room viewer")
    await page.fill("#t-days", "30")
    await page.click("#token-form button[type=submit]")
    shown = page.locator("[data-testid=new-token]")
    await shown.wait_for()
    token = await shown.inner_text()
    assert token.startswith("aimis_") and len(token) > 30
    await shot(page, "tokens-created")

    async with httpx.AsyncClient(base_url=app_url) as client:
        res = await client.get("/dicomweb/studies", headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 200, res.text

    await page.click("[data-secret-box] button")
    row = page.locator("#tokens tr", has_text="Reading room viewer").filter(has_text=doctor)
    await row.wait_for()
    text = await row.inner_text()
    assert token[:12] in text and "active" in text
    assert token not in await page.content()  # shown once, never again
    assert "never" not in text  # last use is shown after the DICOMweb call
    await shot(page, "tokens-list")

    await row.locator("button", has_text="Revoke").click()
    row = page.locator("#tokens tr", has_text="Reading room viewer").filter(has_text=doctor)
    await row.locator("[data-testid=status]", has_text="revoked").wait_for()
    assert any("Revoke this token" in d for d in dialogs)
    await shot(page, "tokens-revoked")
    async with httpx.AsyncClient(base_url=app_url) as client:
        res = await client.get("/dicomweb/studies", headers={"Authorization": f"Bearer {token}"})
        assert res.status_code == 401


async def test_refused_input_shows_the_reason(context, app_url, doctor) -> None:
    page = await context.new_page()
    await login(page, app_url, "admin.east", DEMO_PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/tokens")
    await page.fill("#t-name", "   ")
    await page.click("#token-form button[type=submit]")
    message = page.locator("#token-form [data-msg]")
    await message.wait_for()
    assert "name of 1 to 100" in await message.inner_text()


async def test_chinese_on_a_phone(phone, app_url) -> None:
    await phone.add_cookies([{"name": "lang", "value": "zh", "url": app_url}])
    page = await phone.new_page()
    await login(page, app_url, "admin.east", DEMO_PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/tokens")
    assert "API 令牌" in await page.inner_text("h1")
    assert "生成令牌" in await page.inner_text("#token-form")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= await page.evaluate("window.innerWidth") + 1
    await shot(page, "tokens-phone-zh")


async def test_not_an_admin_goes_to_the_admin_login(context, app_url) -> None:
    page = await context.new_page()
    await login(page, app_url, "dr.chen", DEMO_PASSWORD)
    await page.goto(f"{app_url}/manage/tokens")
    assert "/admin/login" in page.url
