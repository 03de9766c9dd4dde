"""Examination list pages in real headless Chromium against the real app (SPEC 2.1, 2.3,
2.6): a doctor filters, searches, pages, shapes his columns, compares and watches the list
update live, on a desktop and on a phone; an admin edits an examination."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from store.tables import Examination, Study
from tests.e2e.conftest import login, shot
from tests.fixtures.exams import (
    make_exam,
    make_place,
)
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.e2e


async def rows(page) -> list[str]:  # type: ignore[no-untyped-def]
    return await page.locator("table.x-list tbody tr").evaluate_all(
        "trs => trs.map(t => t.dataset.id)"
    )


async def test_doctor_works_the_list(context, app_url, new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    wang = await make_exam(
        place.hospital_id, name="WANG^FANG=王芳", date="20260110", modalities="CT"
    )
    li = await make_exam(place.hospital_id, name="LI^LEI=李雷", date="20260112", modalities="MR")
    zhao = await make_exam(
        place.hospital_id, name="ZHAO^MIN=赵敏", date="20260114", modalities="DX"
    )
    await Examination.update({Examination.status: "reviewed"}).where(Examination.id == li)
    page = await context.new_page()
    await login(page, app_url, place.doctor_name, PASSWORD)
    await page.goto(f"{app_url}/exams")
    await page.wait_for_selector("#live-state[data-connected]")
    assert await rows(page) == [str(zhao), str(li), str(wang)]
    assert await page.locator("[data-testid=counts] a[data-status=reviewed] b").inner_text() == "1"
    await shot(page, "exams-list-desktop")

    # keyword search by a Chinese name prefix, then by pinyin in lower case
    await page.fill("#f-q", "王")
    await page.click("#exam-filter button[type=submit]")
    await page.wait_for_url("**/exams?**q=**")
    assert await rows(page) == [str(wang)]
    await page.fill("#f-q", "li")
    await page.click("#exam-filter button[type=submit]")
    await page.wait_for_function(
        "() => document.querySelectorAll('table.x-list tbody tr').length === 1"
    )
    assert await rows(page) == [str(li)]

    # a status chip filters; the device type filter and the oldest-first sort
    await page.goto(f"{app_url}/exams")
    await page.click("[data-testid=counts] a[data-status=reviewed]")
    await page.wait_for_url("**status=reviewed**")
    assert await rows(page) == [str(li)]
    await page.goto(f"{app_url}/exams")
    await page.select_option("#f-device", "DX")
    await page.click("#exam-filter button[type=submit]")
    await page.wait_for_url("**device_type=DX**")
    assert await rows(page) == [str(zhao)]
    await page.goto(f"{app_url}/exams")
    await page.select_option("#f-order", "asc")
    await page.click("#exam-filter button[type=submit]")
    await page.wait_for_url("**order=asc**")
    assert await rows(page) == [str(wang), str(li), str(zhao)]

    # keyset paging: two a page, then the next page through the cursor
    await page.goto(f"{app_url}/exams?limit=2")
    assert await rows(page) == [str(zhao), str(li)]
    await page.click("#next-page")
    await page.wait_for_url("**cursor=**")
    assert await rows(page) == [str(wang)]
    assert await page.locator("#next-page").count() == 0
    await page.click("#first-page")
    await page.wait_for_function("() => !location.search.includes('cursor')")

    # columns: drop the sex, add the accession number, move the status first; persisted
    await page.goto(f"{app_url}/exams")
    await page.click("#column-chooser summary")
    await page.uncheck("#col-list li[data-col=patient_sex] input")
    await page.check("#col-list li[data-col=accession_number] input")
    for _ in range(6):
        await page.click("#col-list li[data-col=status] button.up")
    await shot(page, "exams-columns-desktop")
    # the page reloads itself once the PUT is answered: wait for that navigation to end
    async with (
        page.expect_navigation(wait_until="load", timeout=30_000),
        page.expect_response("**/api/exams/columns"),
    ):
        await page.click("#save-columns")
    headers = await page.locator("table.x-list thead th[data-col]").evaluate_all(
        "ths => ths.map(t => t.dataset.col)"
    )
    assert headers[0] == "status" and "accession_number" in headers
    assert "patient_sex" not in headers

    # compare: one examination is refused in the page, two open the viewer with both studies
    uids = {
        r["id"]: r["study_uid"]
        for r in await Study.select(Study.id, Study.study_uid).where(
            Study.hospital == place.hospital_id
        )
    }
    await page.check(f"tr[data-id='{wang}'] input.compare")
    await page.click("#compare")
    assert await page.locator("#compare-msg").is_visible()
    await page.check(f"tr[data-id='{zhao}'] input.compare")
    async with context.expect_page() as popup_info:
        await page.click("#compare")
    popup = await popup_info.value
    opened = popup.url
    await popup.close()
    # the viewer's address (it may add its comparison layout as another parameter)
    query = parse_qs(urlsplit(opened).query)
    assert urlsplit(opened).path.startswith("/viewer")
    assert set(query["StudyInstanceUIDs"][0].split(",")) == {s for s in uids.values() if s} - {
        await _uid(li)
    }
    href = await page.locator(f"tr[data-id='{wang}'] a.open-images").get_attribute("href")
    assert href == f"/viewer?StudyInstanceUIDs={await _uid(wang)}"

    # live: a new examination arrives while the list is open
    new = await make_exam(place.hospital_id, name="SUN^LI=孙丽", date="20260120")
    await page.wait_for_selector(f"tr[data-id='{new}']", timeout=10000)
    assert (await rows(page))[0] == str(new)
    await shot(page, "exams-list-live-desktop")


async def _uid(exam_id: int) -> str:
    row = (
        await Examination.select(Examination.study.study_uid)
        .where(Examination.id == exam_id)
        .first()
    )
    return str(row["study.study_uid"])


async def test_the_list_on_a_phone(phone, app_url, new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    for day in range(10, 14):
        await make_exam(place.hospital_id, name="CHEN^JING=陈静", date=f"202601{day}")
    page = await phone.new_page()
    await login(page, app_url, place.doctor_name, PASSWORD)
    await page.goto(f"{app_url}/exams")
    assert await page.locator("#more-filters").get_attribute("open") is None  # folded
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width  # nothing wider than the phone
    assert len(await rows(page)) == 4
    label = await page.locator("table.x-list tbody tr td[data-col=patient_name]").first.evaluate(
        "td => getComputedStyle(td, '::before').content"
    )
    assert "Patient name" in label  # each cell names itself in the card layout
    await shot(page, "exams-list-phone")
    await page.fill("#f-q", "陈")
    await page.click("#exam-filter button[type=submit]")
    await page.wait_for_url("**q=**")
    assert len(await rows(page)) == 4
    await page.click("#more-filters summary")
    await shot(page, "exams-filters-phone")
    await page.locator("table.x-list tbody tr td[data-col=patient_name] a").first.click()
    await page.wait_for_url("**/exams/*")
    await page.wait_for_selector("[data-testid=facts]")
    await shot(page, "exams-detail-phone")


async def test_admin_edits_an_examination(context, app_url, new_api, uniq) -> None:
    place = await make_place(new_api, uniq)
    exam_id = await make_exam(place.hospital_id, name="ZHOU^YU=周瑜")
    page = await context.new_page()
    await login(page, app_url, place.admin_name, PASSWORD, admin=True)
    await page.goto(f"{app_url}/exams/{exam_id}")
    await page.fill("#e-his", "HIS-778")
    await page.fill("#e-idno", "11010519491231002X")
    await page.select_option("#e-dept", str(place.department_id))
    await page.select_option("#e-cat", "inpatient")
    await page.click("#exam-edit button[type=submit]")
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=facts]').innerText.includes('HIS-778')"
    )
    facts = await page.locator("[data-testid=facts]").inner_text()
    assert "11010519491231002X" in facts and "Radiology" in facts
    await shot(page, "exams-edit-desktop")
    # a wrong ID number is refused with the reason; nothing changes
    await page.fill("#e-idno", "110105194912310021")
    await page.click("#exam-edit button[type=submit]")
    await page.wait_for_selector("#exam-edit .msg.error")
    assert "check character" in await page.locator("#exam-edit .msg.error").inner_text()
    row = await Examination.select().where(Examination.id == exam_id).first()
    assert row["patient_id_number"] == "11010519491231002X"
    # someone else saves meanwhile: this form's version is stale → 409 shown
    await Examination.update({Examination.version: Examination.version + 1}).where(
        Examination.id == exam_id
    )
    await page.fill("#e-idno", "")
    await page.click("#exam-edit button[type=submit]")
    await page.wait_for_function(
        "() => document.querySelector('#exam-edit .msg.error').innerText.includes('Someone else')"
    )
    await shot(page, "exams-edit-conflict-desktop")
    # the admin finds it in the list, a doctor of the hospital gets no edit form
    await page.goto(f"{app_url}/exams?q=HIS-778")
    assert await rows(page) == [str(exam_id)]


# --- the grouped main menu (base.html) --------------------------------------------------------


async def nav_links(page) -> list[str]:  # type: ignore[no-untyped-def]
    return await page.locator("header nav a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )


async def test_admin_menu_is_grouped_on_desktop_and_phone(
    context, phone, app_url, new_api, uniq
) -> None:
    place = await make_place(new_api, uniq)
    page = await context.new_page()
    await login(page, app_url, place.admin_name, PASSWORD, admin=True)
    await page.goto(f"{app_url}/exams")
    header = page.locator("header.top")
    await shot(page, "nav-admin-desktop")
    # one line on a desktop: the many admin links sit in three drop-downs
    box = await header.bounding_box()
    assert box is not None and box["height"] < 70, box
    assert not await page.locator("header nav a[href='/manage/departments']").is_visible()
    hrefs = await nav_links(page)
    for href in ("/manage/departments", "/manage/audit", "/studies", "/diagnosis"):
        assert href in hrefs, hrefs
    assert "/exams/shared" not in hrefs  # a doctor's page
    await page.click("header nav summary:has-text('Management')")
    await shot(page, "nav-admin-menu-desktop")
    await page.click("header nav >> text=Departments")
    await page.wait_for_url("**/manage/departments")
    # one menu open at a time; a click elsewhere closes it
    await page.click("header nav summary:has-text('Imaging')")
    await page.click("header nav summary:has-text('Logs')")
    assert await page.locator("header details.menu[open]").count() == 1
    assert await page.locator("header nav a[href='/manage/audit']").is_visible()
    await page.click("main")
    assert await page.locator("header details.menu[open]").count() == 0

    # Chinese on a phone: nothing wider than the screen, the open menu spans it
    small = await phone.new_page()
    await small.set_viewport_size({"width": 360, "height": 740})
    await login(small, app_url, place.admin_name, PASSWORD, admin=True)
    await small.goto(f"{app_url}/lang/zh")
    await small.goto(f"{app_url}/manage")
    summaries = await small.locator("header nav summary").all_inner_texts()
    assert [s.strip() for s in summaries] == ["管理平台", "影像", "日志"], summaries
    assert await small.evaluate("document.documentElement.scrollWidth") <= 360
    await small.click("header nav summary:has-text('日志')")
    item = small.locator("header nav a[href='/manage/notifications/log']")
    assert await item.is_visible()
    assert (await item.inner_text()).strip() == "消息发送日志"
    menu = await small.locator("header details.menu[open] .menu-items").bounding_box()
    assert menu is not None and menu["x"] >= 0 and menu["x"] + menu["width"] <= 361, menu
    await shot(small, "nav-admin-menu-phone-zh")
    await item.click()
    await small.wait_for_url("**/manage/notifications/log")


async def test_doctor_menu_follows_the_modules(context, app_url, new_api, uniq) -> None:
    with_module = await make_place(new_api, uniq)
    page = await context.new_page()
    await login(page, app_url, with_module.doctor_name, PASSWORD)
    hrefs = await nav_links(page)
    assert hrefs[:5] == ["/", "/exams", "/diagnosis", "/consultations", "/exams/shared"], hrefs
    assert (
        "/manage/audit" not in hrefs
        # no management drop-downs; "More" holds the modules without an entry of their own
        and await page.locator("header nav details.menu:not([data-testid=menu-more])").count() == 0
    )
    await page.goto(f"{app_url}/lang/zh")
    await page.goto(f"{app_url}/")
    texts = await page.locator("header nav a").all_inner_texts()
    assert "远程诊断" in texts and "分享给我的" in texts, texts
    await shot(page, "nav-doctor-desktop-zh")
    without = await make_place(new_api, uniq, modules=["consultation"])
    other = await context.browser.new_context(locale="en-US")
    page2 = await other.new_page()
    await login(page2, app_url, without.doctor_name, PASSWORD)
    hrefs = await nav_links(page2)
    assert "/diagnosis" not in hrefs and "/exams" not in hrefs, hrefs
    await other.close()
