"""Login, QR login, forgot and change password, home and language switch in real Chromium."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import login, shot
from tests.fixtures.hospitals import PASSWORD, make_doctor

pytestmark = pytest.mark.e2e


async def test_password_login_and_home(context, app_url, uniq) -> None:
    username = await make_doctor(uniq, "EAST")
    page = await context.new_page()
    await page.goto(f"{app_url}/login")
    await shot(page, "login")
    await page.fill("#identifier", username)
    await page.fill("#password", "wrong-password")
    await page.click("#login-form button[type=submit]")
    alert = page.locator("#login-form [role=alert]")
    await alert.wait_for()
    assert "Wrong user name or password" in await alert.inner_text()
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url(f"{app_url}/")
    modules = page.locator("[data-module]")
    names = sorted([await m.get_attribute("data-module") for m in await modules.all()])
    assert names == ["cloud_film", "consultation", "remote_diagnosis", "teaching"]
    await page.locator("#live-card[data-connected]").wait_for()
    await shot(page, "home")
    await page.click("[data-testid=who]")  # the account menu
    await page.click("text=Log out")
    await page.wait_for_url(f"{app_url}/login")


async def test_protected_page_redirects_to_login_and_back(context, app_url, uniq) -> None:
    username = await make_doctor(uniq)
    page = await context.new_page()
    await page.goto(f"{app_url}/account/password")
    assert "/login?next=/account/password" in page.url
    await page.fill("#identifier", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url(f"{app_url}/account/password")


async def test_qr_login_across_two_browsers(browser, context, phone, app_url, uniq) -> None:
    username = await make_doctor(uniq, phone="137" + str(time.time_ns())[-8:])
    desktop = await context.new_page()
    await desktop.goto(f"{app_url}/login")
    await desktop.click("#tab-qr")
    box = desktop.locator("#qr-box svg")
    await box.wait_for()
    await shot(desktop, "login-qr")
    url = await desktop.locator("#qr-box").get_attribute("data-url")
    assert url and "/qr/" in url

    mobile = await phone.new_page()
    await login(mobile, app_url, username, PASSWORD)
    await mobile.goto(url)
    await shot(mobile, "qr-confirm-phone")
    started = time.monotonic()
    await mobile.click("#qr-confirm-form button[type=submit]")
    await mobile.locator("#qr-done").wait_for()
    await desktop.wait_for_url(f"{app_url}/", timeout=5000)
    elapsed = time.monotonic() - started
    assert elapsed < 2.0, f"desktop took {elapsed:.2f}s to log in"
    assert "Test Doctor" in await desktop.locator("[data-testid=who]").inner_text()
    await shot(desktop, "home-after-qr")


async def test_forgot_password_page(context, app_url, uniq) -> None:
    username = await make_doctor(uniq)
    page = await context.new_page()
    await page.goto(f"{app_url}/login")
    await page.click("text=Forgot password?")
    await page.wait_for_url(f"{app_url}/forgot")
    await page.fill("#f-identifier", username)
    await page.click("#forgot-form button[type=submit]")
    ok = page.locator("#forgot-form [role=status]")
    await ok.wait_for()
    assert "6-digit code" in await ok.inner_text()
    await page.fill("#code", "000000")
    await page.fill("#r-new", "Brand#New123")
    await page.click("#reset-form button[type=submit]")
    err = page.locator("#reset-form [role=alert]")
    await err.wait_for()
    assert "code is wrong" in await err.inner_text()
    await shot(page, "forgot")


async def test_change_password_page(context, app_url, uniq) -> None:
    username = await make_doctor(uniq)
    page = await context.new_page()
    await login(page, app_url, username, PASSWORD)
    await page.goto(f"{app_url}/account/password")
    await page.fill("#old", PASSWORD)
    await page.fill("#new", "weak")
    await page.click("#password-form button[type=submit]")
    await page.locator("#password-form [role=alert]").wait_for()
    await page.fill("#new", "Changed#Pass77")
    await page.click("#password-form button[type=submit]")
    status = page.locator("#password-form [role=status]")
    await status.wait_for()
    assert "Password changed" in await status.inner_text()
    await shot(page, "change-password")


async def test_language_switch(context, app_url) -> None:
    page = await context.new_page()
    await page.goto(f"{app_url}/login")
    assert await page.locator("h1").inner_text() == "Doctor login"
    async with page.expect_navigation():
        await page.click("text=中文")
    assert await page.locator("h1").inner_text() == "医生登录"
    await shot(page, "login-zh")
    async with page.expect_navigation():
        await page.click("text=EN")
    assert await page.locator("h1").inner_text() == "Doctor login"


async def test_unknown_page_shows_a_readable_error(context, app_url) -> None:
    page = await context.new_page()
    res = await page.goto(f"{app_url}/no-such-page")
    assert res is not None and res.status == 404
    assert "Not Found" in await page.locator("[role=alert]").inner_text()


async def test_login_page_on_a_phone(phone, app_url, uniq) -> None:
    username = await make_doctor(uniq)
    page = await phone.new_page()
    await login(page, app_url, username, PASSWORD)
    await shot(page, "home-phone")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways on a phone ({width}px)"
