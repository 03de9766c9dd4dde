"""The patient pages in real headless Chromium on a 390×844 touch phone, in Chinese and in
English (issue 15, point 5): log in with a phone and its code (the send button counts down),
verify one's own name (a wrong ID number refused with the reason), add and remove a family
member, opt out of notifications; and the login page on a desktop."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import fits_the_phone, for_the_docs, phone_context, shot
from tests.fixtures.patients import code_for, new_id_number, new_phone

pytestmark = pytest.mark.e2e

WORDS = {
    "zh": {
        "locale": "zh-CN",
        "login": "患者登录",
        "countdown": "秒后重发",
        "check": "校验码",
        "family": "我的家人",
        "removed": "还没有家庭成员",
        "saved": "已保存",
    },
    "en": {
        "locale": "en-US",
        "login": "Patient login",
        "countdown": "Resend in",
        "check": "check character",
        "family": "My family",
        "removed": "No family member yet",
        "saved": "Saved",
    },
}


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_a_new_patient_on_her_phone(browser, app_url: str, lang: str) -> None:  # type: ignore[no-untyped-def]
    words = WORDS[lang]
    ctx = await phone_context(browser, locale=words["locale"])
    page = await ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"{app_url}/patient/family")
    assert "/patient/login" in page.url
    await page.wait_for_selector(f"h1:has-text('{words['login']}')")
    await fits_the_phone(page)
    login_shot = await shot(page, f"patient-login-phone-{lang}")
    if lang == "zh":
        for_the_docs(login_shot, "patient-login-phone.png")

    phone = new_phone()
    await page.fill("#phone", phone)
    await page.click("#send-code")
    await page.locator(f"#send-code:has-text('{words['countdown']}')").wait_for()
    assert await page.is_disabled("#send-code")
    await shot(page, f"patient-code-sent-phone-{lang}")
    await page.fill("#code", await code_for(phone))
    await page.click("#patient-login button[type=submit]")
    await page.wait_for_url("**/patient/verify")

    await page.fill("#name", "王小明" if lang == "zh" else "Wang Xiaoming")
    good = new_id_number()
    await page.fill("#id_number", good[:17] + ("1" if good[17] == "0" else "0"))
    await page.click("#verify-form button[type=submit]")
    error = page.locator("#verify-form [data-msg]")
    await error.wait_for()
    assert words["check"] in await error.text_content()
    await fits_the_phone(page)
    await shot(page, f"patient-verify-refused-phone-{lang}")
    await page.fill("#id_number", good)
    await page.click("#verify-form button[type=submit]")
    await page.wait_for_url(lambda url: url.endswith("/patient"))
    people = page.locator("#people li")
    assert await people.count() == 1
    assert good[-4:] in await people.first.text_content()
    assert good[6:14] not in await people.first.text_content()  # the number shown masked
    await shot(page, f"patient-home-phone-{lang}")

    await page.click(f"nav.ptabs a:has-text('{words['family']}')")
    await page.wait_for_url("**/patient/family")
    await page.select_option("#relationship", "father")
    await page.fill("#name", "王大明" if lang == "zh" else "Wang Daming")
    await page.fill("#id_number", new_id_number())
    await page.click("#family-form button[type=submit]")
    await page.wait_for_selector("#family li[data-person]")
    await fits_the_phone(page)
    await shot(page, f"patient-family-phone-{lang}")
    await page.click("#family li[data-person] button")
    await page.wait_for_selector(f"#no-family:has-text('{words['removed']}')")

    await page.goto(f"{app_url}/patient/settings")
    await page.check("#notify_opt_out")
    await page.click("#settings-form button[type=submit]")
    await page.wait_for_selector(f"#settings-form [data-msg]:has-text('{words['saved']}')")
    await fits_the_phone(page)
    await shot(page, f"patient-settings-phone-{lang}")
    await page.reload()
    assert await page.is_checked("#notify_opt_out")
    await ctx.close()


async def test_the_login_page_works_on_a_desktop(context, app_url: str) -> None:  # type: ignore[no-untyped-def]
    page = await context.new_page()
    await page.goto(f"{app_url}/patient/login")
    await page.fill("#phone", "12345")
    await page.click("#send-code")
    await page.locator("#code-status:has-text('mobile number')").wait_for()
    assert not await page.is_disabled("#send-code")
    box = await page.locator("main .card").bounding_box()
    assert box is not None and box["width"] <= 480
    await shot(page, "patient-login-desktop")
