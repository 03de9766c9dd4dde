"""Sharing in real Chromium (SPEC 2.6): a doctor shares from the phone-sized exam page
(360×740), the colleague sees it arrive live in "shared with me" on the desktop, opens it
and it is marked read."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import login, shot
from tests.fixtures.exams import (
    make_exam,
)
from tests.fixtures.hospitals import PASSWORD
from tests.integration.test_shares import (
    make_hospital,
)

pytestmark = pytest.mark.e2e


async def test_share_from_the_phone_and_the_colleague_sees_it_live(
    browser, context, app_url, new_api, uniq
) -> None:
    h = await make_hospital(new_api, uniq)
    exam_id = await make_exam(h.id, name="WANG^WU=王五")

    # the colleague's "shared with me" is open on his desktop
    desk = await context.new_page()
    await login(desk, app_url, h.colleague.username, PASSWORD)
    await desk.goto(f"{app_url}/exams/shared")
    await desk.wait_for_selector("[data-testid=no-shares]")
    await desk.wait_for_selector("#live-state[data-connected]")

    phone = await browser.new_context(
        locale="zh-CN", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    try:
        page = await phone.new_page()
        await login(page, app_url, h.senior.username, PASSWORD)
        await page.goto(f"{app_url}/exams/{exam_id}")
        panel = page.locator("[data-testid=share-panel]")
        await panel.wait_for()
        assert "分享给同事" in await panel.inner_text()
        # htmx binds the search box's input trigger when it settles the swapped panel, a
        # moment after the panel is in the page: typing before that would send nothing
        await page.wait_for_function(
            "() => !!document.querySelector('#share-q')['htmx-internal-data']"
        )
        await page.fill("#share-q", "李医")
        await page.wait_for_function(
            "() => document.querySelectorAll('#share-to option[data-name]').length === 1"
        )
        await page.select_option("#share-to", str(h.colleague.id))
        await page.fill("#share-message", "请看一下")
        await page.click("[data-testid=share-submit]")
        await page.wait_for_selector("#share-form .msg.ok")
        assert h.colleague.name in await page.inner_text("#share-form .msg.ok")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, width  # nothing wider than the phone
        await shot(page, "share-panel-phone")
    finally:
        await phone.close()

    item = desk.locator("[data-testid=share-list] li.unread")
    await item.wait_for(timeout=20000)
    text = await item.inner_text()
    assert "王五" in text and "请看一下" in text and h.senior.name in text
    assert "1" in await desk.inner_text("[data-testid=unread-count]")
    await shot(desk, "shared-with-me-desktop")
    await item.locator("a").click()
    await desk.wait_for_url(f"**/exams/{exam_id}")
    await desk.goto(f"{app_url}/exams/shared")
    await desk.wait_for_selector("[data-testid=share-list] li.read")
    assert await desk.locator("[data-testid=share-list] li.unread").count() == 0
