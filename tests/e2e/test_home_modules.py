"""The home page's module cards and the main menu follow the hospital's modules and the
user's permissions, per role, in real Chromium (issue 14): a built module links to its page,
a module switched on but not built says so, a switched-off module is absent."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import login
from tests.fixtures.hospitals import PASSWORD, Staff, make_hospital

pytestmark = pytest.mark.e2e

MODULES = ["remote_diagnosis", "consultation", "ward_round", "statistics"]


async def menu(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Every link of the main menu (drop-downs included) by its address."""
    return await page.locator("header nav.main-nav a").evaluate_all(
        "els => els.map(e => e.getAttribute('href'))"
    )


async def cards(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """module → its link ("" when the module is not built yet)."""
    return await page.locator("[data-testid=modules] .module").evaluate_all(
        "els => Object.fromEntries(els.map(e => [e.dataset.module, e.getAttribute('href') || '']))"
    )


async def test_cards_and_menu_per_role(browser, app_url, demo, uniq) -> None:
    made = await make_hospital(
        None,
        uniq,
        prefix="HM-",
        modules=MODULES,
        staff={
            "senior": Staff(role="Senior radiologist", prefix="hm.", login=False),
            "clinician": Staff(role="Clinician", prefix="hm.", login=False),
            "admin": Staff(admin=True, prefix="hm.", login=False),
        },
    )
    ctx = await browser.new_context(locale="en-US")
    try:
        page = await ctx.new_page()
        await login(page, app_url, made["senior"].username, PASSWORD)
        assert await cards(page) == {
            "remote_diagnosis": "/diagnosis",
            "consultation": "/consultations",
            "ward_round": "/ward-rounds",
            "statistics": "/statistics",
        }
        assert "Coming soon" not in await page.content()
        links = await menu(page)
        assert {"/", "/exams", "/diagnosis", "/consultations", "/exams/shared"} <= set(links)
        # the modules without an entry of their own are under "More", as on the home page
        more = page.locator("[data-testid=menu-more] a")
        assert await more.evaluate_all("els => els.map(e => e.getAttribute('href'))") == [
            "/ward-rounds",
            "/statistics",
        ]
        await page.click("[data-testid=menu-more] summary")
        await page.click("[data-testid=menu-more] a[href='/statistics']")
        await page.wait_for_url(f"{app_url}/statistics")
        await page.goto(f"{app_url}/")
        await page.click("header nav.main-nav a[href='/consultations']")
        await page.wait_for_url(f"{app_url}/consultations")
        await ctx.clear_cookies()

        # the clinician: no statistics permission, so no statistics card
        await login(page, app_url, made["clinician"].username, PASSWORD)
        assert await cards(page) == {
            "remote_diagnosis": "/diagnosis",
            "consultation": "/consultations",
            "ward_round": "/ward-rounds",
        }
        assert "/consultations" in await menu(page)
        assert "/statistics" not in await menu(page)
        await ctx.clear_cookies()

        # the demo's dr.wang (a hospital with consultations on) has the menu entry
        await login(page, app_url, "dr.wang", demo["password"])
        assert "/consultations" in await menu(page)
        assert (await cards(page)).get("consultation") == "/consultations"
        await ctx.clear_cookies()

        # the hospital admin: the consultation log in the Logs menu
        await login(page, app_url, made["admin"].username, PASSWORD, admin=True)
        links = await menu(page)
        assert "/manage/consultations" in links and "/manage/audit" in links
        await page.click("[data-testid=menu-logs] summary")
        await page.click("header a[href='/manage/consultations']")
        await page.wait_for_url(f"{app_url}/manage/consultations")
        await ctx.clear_cookies()

        # the alliance admin: the consultation log too, no patient pages
        await login(page, app_url, "alliance.admin", demo["password"], admin=True)
        links = await menu(page)
        assert "/manage/consultations" in links and "/manage/hospitals" in links
        assert "/exams" not in links and "/consultations" not in links
    finally:
        await ctx.close()


async def test_switched_off_modules_are_absent(browser, app_url, uniq) -> None:
    made = await make_hospital(
        None,
        uniq,
        prefix="HN-",
        modules=["teaching"],
        staff={"doc": Staff(role="Radiologist", prefix="hn.", login=False)},
    )
    ctx = await browser.new_context(locale="en-US")
    try:
        page = await ctx.new_page()
        await login(page, app_url, made["doc"].username, PASSWORD)
        assert await cards(page) == {"teaching": "/teaching"}
        links = await menu(page)
        assert "/consultations" not in links and "/diagnosis" not in links
        assert "/teaching" in links and "/ward-rounds" not in links
    finally:
        await ctx.close()
