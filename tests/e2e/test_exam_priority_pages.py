"""Priority on the examination list in real headless Chromium (issue 14 item 9): the badges
(emergency red, urgent amber), the examinations waiting for a report listed first, the
priority filter, a doctor setting the priority on the examination's page, and the compact
row height that stays after a reload — at desktop size and on a 390 px phone, in English
and in Chinese."""

from __future__ import annotations

from typing import Any

import pytest

from store.tables import Examination
from tests.e2e.conftest import login, phone_context, shot
from tests.fixtures.exams import make_exam, make_place
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.e2e

WORDS = {
    "en": {"emergency": "Emergency", "urgent": "Urgent", "section": "Urgent first"},
    "zh": {"emergency": "紧急", "urgent": "加急", "section": "加急优先"},
}
RED, AMBER = "rgb(192, 57, 43)", "rgb(245, 176, 65)"


async def ids(page: Any, where: str = "table.x-list tbody tr[data-id]") -> list[str]:
    return await page.locator(where).evaluate_all("trs => trs.map(t => t.dataset.id)")


async def row_height(page: Any, exam_id: int) -> float:
    box = await page.locator(f'table.x-list tbody tr[data-id="{exam_id}"]').first.bounding_box()
    assert box is not None
    return float(box["height"])


async def place_with_priorities(new_api: Any, uniq: Any) -> tuple[Any, dict[str, int]]:
    place = await make_place(new_api, uniq)
    made = {
        "newest": await make_exam(place.hospital_id, name="WANG^FANG=王芳", date="20260301"),
        "urgent": await make_exam(place.hospital_id, name="LI^LEI=李雷", date="20260201"),
        "emergency": await make_exam(place.hospital_id, name="ZHAO^MIN=赵敏", date="20260101"),
        "done": await make_exam(place.hospital_id, name="CHEN^JING=陈静", date="20260215"),
    }
    for key, level in (("urgent", "urgent"), ("emergency", "emergency"), ("done", "urgent")):
        res = await place.doctor.put(f"/api/exams/{made[key]}/priority", json={"priority": level})
        assert res.status_code == 200, res.text
    await Examination.update({Examination.status: "reviewed"}).where(Examination.id == made["done"])
    return place, made


async def check_list(page: Any, made: dict[str, int], lang: str) -> None:
    """Badges, colours and the waiting urgent first, on the page as it is."""
    words = WORDS[lang]
    section = page.locator("[data-testid=urgent-rows]")
    assert words["section"] in await section.locator("tr.section").inner_text()
    assert await ids(page, "[data-testid=urgent-rows] tr[data-id]") == [
        str(made["emergency"]),
        str(made["urgent"]),
    ]
    # the first row of the list is the emergency; the rest by time, the reviewed urgent one
    # in its place
    assert await ids(page) == [str(made[k]) for k in ("emergency", "urgent", "newest", "done")]
    for key, level, colour in (
        ("emergency", "emergency", RED),
        ("urgent", "urgent", AMBER),
        ("done", "urgent", AMBER),
    ):
        badge = page.locator(f'tr[data-id="{made[key]}"] [data-testid=priority]')
        assert await badge.get_attribute("data-priority") == level
        assert (await badge.inner_text()).strip() == words[level]
        assert await badge.evaluate("b => getComputedStyle(b).backgroundColor") == colour
        assert await badge.is_visible()
    assert await page.locator(f'tr[data-id="{made["newest"]}"] [data-testid=priority]').count() == 0


@pytest.mark.parametrize("lang", ["en", "zh"])
async def test_priority_on_the_list_at_desktop_and_phone_size(
    browser, app_url, new_api, uniq, lang: str
) -> None:
    place, made = await place_with_priorities(new_api, uniq)
    locale = "en-US" if lang == "en" else "zh-CN"
    desktop = await browser.new_context(locale=locale, viewport={"width": 1280, "height": 860})
    phone = await phone_context(browser, locale=locale, width=390, height=844)
    try:
        page = await desktop.new_page()
        await login(page, app_url, place.doctor_name, PASSWORD)
        await page.goto(f"{app_url}/exams")
        await page.wait_for_selector("#live-state[data-connected]")
        await check_list(page, made, lang)
        await shot(page, f"exam-list-priority-{lang}")

        # the filter: one priority, by time, no section
        await page.select_option("#f-priority", "urgent")
        await page.click("#exam-filter button[type=submit]")
        await page.wait_for_url("**priority=urgent**")
        assert await ids(page) == [str(made["done"]), str(made["urgent"])]
        assert await page.locator("[data-testid=urgent-rows]").count() == 0
        assert await page.locator("#f-priority").input_value() == "urgent"

        # compact rows: lower rows at once, and still after a reload
        await page.goto(f"{app_url}/exams")
        normal = await row_height(page, made["newest"])
        toggle = page.locator("#density-toggle")
        assert await toggle.get_attribute("aria-pressed") == "false"
        await toggle.click()
        await page.wait_for_selector("table.x-list.compact")
        compact = await row_height(page, made["newest"])
        assert compact < normal * 0.85, (normal, compact)
        await page.reload()
        await page.wait_for_selector("table.x-list.compact")
        assert await toggle.get_attribute("aria-pressed") == "true"
        assert abs(await row_height(page, made["newest"]) - compact) < 2
        await check_list(page, made, lang)
        await shot(page, f"exam-list-priority-compact-{lang}")

        # the phone: the same list as cards, no sideways scrolling, compact kept
        mobile = await phone.new_page()
        await login(mobile, app_url, place.doctor_name, PASSWORD)
        await mobile.goto(f"{app_url}/exams")
        await mobile.wait_for_selector("table.x-list.compact")
        await check_list(mobile, made, lang)
        width = await mobile.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the list is {width}px wide on a 390px phone"
        await shot(mobile, f"exam-list-priority-phone-compact-{lang}")
        await mobile.locator("#density-toggle").click()
        await mobile.wait_for_selector("table.x-list:not(.compact)")
        first = mobile.locator("table.x-list tbody tr[data-id]").first
        assert await first.get_attribute("data-id") == str(made["emergency"])
        await shot(mobile, f"exam-list-priority-phone-{lang}")
        assert (await place.doctor.get("/api/exams/columns")).json()["density"] == "normal"

        # a doctor sets the priority on the examination's page; the list shows it first
        await page.goto(f"{app_url}/exams/{made['newest']}")
        await page.select_option("#e-priority", "emergency")
        await page.click("[data-testid=set-priority]")
        await page.wait_for_selector("h1 ~ [data-testid=priority][data-priority=emergency]")
        row = await Examination.select(Examination.priority).where(Examination.id == made["newest"])
        assert row == [{"priority": 2}]
        await page.goto(f"{app_url}/exams")
        assert (await ids(page))[0] == str(made["newest"])  # the newest emergency first
    finally:
        await desktop.close()
        await phone.close()
