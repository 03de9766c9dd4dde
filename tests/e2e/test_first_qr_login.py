"""The first QR login (SPEC 1.4) in real Chromium, in English and in Chinese: a desktop page
shows the QR code, a 390 px phone logged in with the administrator's temporary password
binds its phone number with a code, sets the initial password, and the desktop is logged in."""

from __future__ import annotations

import secrets

import pytest

from store.tables import User
from tests.e2e.conftest import login, phone_context, shot
from tests.fixtures.codes import latest_code
from tests.fixtures.hospitals import PASSWORD, doctor_account, make_doctor

pytestmark = pytest.mark.e2e

WORDS = {
    "en": {
        "intro": "This is your first QR login",
        "taken": "is already bound to another account",
        "wrong": "code is wrong",
        "bound": "Your phone number is bound.",
        "differ": "The two passwords differ.",
        "weak": "password",
        "done": "The other screen is now logged in.",
    },
    "zh": {
        "intro": "这是您第一次扫码登录",
        "taken": "已绑定其他账号",
        "wrong": "验证码",
        "bound": "手机号已绑定。",
        "differ": "两次输入的密码不一致。",
        "weak": "密码",
        "done": "另一台设备已登录。",
    },
}


def mobile() -> str:
    return "138" + f"{secrets.randbelow(10**8):08d}"


async def alert(form) -> str:  # type: ignore[no-untyped-def]
    box = form.locator("[role=alert]")
    await box.wait_for()
    return str(await box.inner_text())


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_first_qr_login_on_a_phone(browser, context, app_url, uniq, lang) -> None:
    words = WORDS[lang]
    username, user_id = await doctor_account(
        uniq, display_name="First Timer", must_change_password=True
    )
    taken = mobile()
    await make_doctor(uniq, phone=taken)
    desktop = await context.new_page()
    await desktop.goto(f"{app_url}/lang/{lang}")
    await desktop.goto(f"{app_url}/login")
    await desktop.click("#tab-qr")
    await desktop.locator("#qr-box svg").wait_for()
    url = await desktop.locator("#qr-box").get_attribute("data-url")
    assert url and "/qr/" in url

    phone = await phone_context(browser, locale="zh-CN" if lang == "zh" else "en-US")
    try:
        mobile_page = await phone.new_page()
        await mobile_page.goto(f"{app_url}/lang/{lang}")
        await login(mobile_page, app_url, username, PASSWORD)
        await mobile_page.goto(url)
        page = mobile_page
        assert words["intro"] in await page.locator("#first-login-intro").inner_text()
        assert await page.locator("#step-phone").is_visible()
        assert not await page.locator("#qr-confirm-form").is_visible()
        assert not await page.locator("#step-password").is_visible()
        await shot(page, f"qr-first-phone-{lang}")

        phone_form = page.locator("#phone-form")
        await page.fill("#phone", taken)
        await page.click("#phone-form button[type=submit]")
        assert words["taken"] in await alert(phone_form)
        number = mobile()
        await page.fill("#phone", number)
        await page.click("#phone-form button[type=submit]")
        await page.locator("#bind-form").wait_for()
        code = str((await latest_code(user_id))[1]["code"])
        bind_form = page.locator("#bind-form")
        await page.fill("#code", f"{(int(code) + 1) % 1_000_000:06d}")
        await page.click("#bind-form button[type=submit]")
        assert words["wrong"] in await alert(bind_form)
        await shot(page, f"qr-first-code-{lang}")
        await page.fill("#code", code)
        await page.click("#bind-form button[type=submit]")
        await page.locator("#step-password").wait_for()
        assert await page.locator("#phone-bound").inner_text() == words["bound"]
        assert not await page.locator("#step-phone").is_visible()
        row = await User.select(User.phone).where(User.id == user_id).first()
        assert row["phone"] == number

        pw_form = page.locator("#first-password-form")
        await page.fill("#first-new", "Mine#First2026")
        await page.fill("#first-again", "Mine#First2027")
        await page.click("#first-password-form button[type=submit]")
        assert await alert(pw_form) == words["differ"]
        await page.fill("#first-new", "weak")
        await page.fill("#first-again", "weak")
        await page.click("#first-password-form button[type=submit]")
        assert words["weak"] in await alert(pw_form)
        await shot(page, f"qr-first-password-{lang}")
        # the phone page fits its 390 px: nothing to scroll sideways
        assert await page.evaluate("document.documentElement.scrollWidth") <= 390
        await page.fill("#first-new", "Mine#First2026")
        await page.fill("#first-again", "Mine#First2026")
        await page.click("#first-password-form button[type=submit]")
        await page.locator("#qr-done").wait_for()
        assert await page.locator("#qr-done").inner_text() == words["done"]
        await shot(page, f"qr-first-done-{lang}")
        await desktop.wait_for_url(f"{app_url}/", timeout=5000)
        assert "First Timer" in await desktop.locator("[data-testid=who]").inner_text()
        await shot(desktop, f"qr-first-desktop-{lang}")
    finally:
        await phone.close()
    row = await User.select(User.must_change_password).where(User.id == user_id).first()
    assert row["must_change_password"] is False
