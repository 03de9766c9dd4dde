"""Login, QR login, forgot and change password, home and language switch in real Chromium."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import login, shot
from tests.fixtures.hospitals import PASSWORD, make_doctor

pytestmark = pytest.mark.e2e


async def submitted(page, form: str, role: str = "alert") -> str:  # type: ignore[no-untyped-def]
    """Submit ``form`` and wait for its answer (``role``: alert or status): its text."""
    await page.click(f"{form} button[type=submit]")
    answer = page.locator(f"{form} [role={role}]")
    await answer.wait_for()
    return await answer.inner_text()


async def test_password_login_and_home(context, app_url, uniq) -> None:
    username = await make_doctor(uniq, "EAST")
    page = await context.new_page()
    await page.goto(f"{app_url}/login")
    await shot(page, "login")
    await page.fill("#identifier", username)
    await page.fill("#password", "wrong-password")
    assert "Wrong user name or password" in await submitted(page, "#login-form")
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
    assert "6-digit code" in await submitted(page, "#forgot-form", "status")
    await page.fill("#code", "000000")
    await page.fill("#r-new", "Brand#New123")
    assert "code is wrong" in await submitted(page, "#reset-form")
    await shot(page, "forgot")


async def test_change_password_page(context, app_url, uniq) -> None:
    username = await make_doctor(uniq)
    page = await context.new_page()
    await login(page, app_url, username, PASSWORD)
    await page.goto(f"{app_url}/account/password")
    await page.fill("#old", PASSWORD)
    await page.fill("#new", "weak")
    await submitted(page, "#password-form")
    await page.fill("#new", "Changed#Pass77")
    assert "Password changed" in await submitted(page, "#password-form", "status")
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
