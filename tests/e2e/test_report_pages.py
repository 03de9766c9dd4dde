"""The report editor in real Chromium, with two browsers: a doctor writes from a template and
a knowledge-base phrase, sees the autosave, submits; a reviewer (another account) returns it
with a reason; the author fixes and resubmits; the reviewer approves on a phone-sized screen.
The examination page's report panel and the hospital's self-review setting too."""

from __future__ import annotations

from typing import Any

import pytest

from store.tables import ExamReport, ExamReportVersion
from tests.e2e.conftest import login, shot
from tests.fixtures.exams import make_exam
from tests.fixtures.hospitals import PASSWORD
from tests.fixtures.reports import (
    make_hospital,
)

pytestmark = pytest.mark.e2e


async def usernames(h: Any) -> dict[str, str]:
    return {k: v.split(" ", 1)[1] for k, v in h.names.items()}


async def report(exam_id: int) -> dict[str, Any]:
    row = await ExamReport.select().where(ExamReport.examination == exam_id).first()
    assert row is not None
    return row


async def test_write_review_return_fix_approve(browser, context, app_url, new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    users = await usernames(h)
    exam_id = await make_exam(h.id)
    res = await h.admin.post(
        "/api/templates",
        json={
            "name": "胸部CT平扫 Chest CT",
            "shown_fields": ["patient_name", "check_item", "exam_date"],
            "title_format": "{patient_name} 胸部CT平扫报告",
            "findings_format": "检查日期 {exam_date}。\n双肺纹理清晰，",
            "impression_format": "",
        },
    )
    assert res.status_code == 201, res.text
    res = await h.admin.post(
        "/api/knowledge",
        json={
            "title": "肺结节 nodule",
            "findings": "右肺上叶见一磨玻璃结节。",
            "impression": "右肺上叶磨玻璃结节，建议随访。",
        },
    )
    assert res.status_code == 201, res.text

    # The author opens the examination, its report panel, and writes.
    page = await context.new_page()
    await login(page, app_url, users["author"], PASSWORD)
    await page.goto(f"{app_url}/exams/{exam_id}")
    await page.click("#panel-report #write-report")
    await page.wait_for_url(f"{app_url}/exams/{exam_id}/report")
    await page.click("#report-edit")
    await page.wait_for_selector("#r-template")
    await page.select_option("#r-template", label="胸部CT平扫 Chest CT")
    await page.click("#apply-template")
    await page.wait_for_function(
        "() => document.getElementById('r-title').value.includes('胸部CT平扫报告')"
    )
    findings = page.locator("#r-findings")
    await findings.click()
    await page.keyboard.press("End")
    await page.keyboard.press("Control+End")
    await page.fill("#phrase-q", "结节")
    await page.locator("[data-testid=insert-phrase]").first.click()
    assert "右肺上叶见一磨玻璃结节。" in await findings.input_value()
    await page.click("#r-impression")
    await page.locator("[data-testid=insert-phrase]").first.click()
    assert await page.locator("#r-impression").input_value() == "右肺上叶磨玻璃结节，建议随访。"
    await page.wait_for_selector("[data-testid=save-state][data-saved-at]", timeout=15000)
    assert "Saved at" in await page.locator("[data-testid=save-state]").inner_text()
    row = await report(exam_id)
    assert row["impression"] == "右肺上叶磨玻璃结节，建议随访。" and row["lock_user"] == h.author_id
    await shot(page, "report-editor")

    # The reviewer sees who holds the lock.
    rpage = await (
        await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    ).new_page()
    await login(rpage, app_url, users["reviewer"], PASSWORD)
    await rpage.goto(f"{app_url}/exams/{exam_id}/report")
    assert h.names["author"] in await rpage.locator("[data-testid=lock-info]").inner_text()
    assert await rpage.locator("#r-findings").get_attribute("readonly") is not None
    await shot(rpage, "report-locked-by-another")

    page.on("dialog", lambda d: d.accept())
    await page.click("#report-submit")
    await page.wait_for_selector("#report-state:has-text('Initial diagnosis')")
    # The reviewer's page follows live: the lock is gone, the review is offered.
    await rpage.wait_for_selector("#review", timeout=15000)
    await rpage.fill("#return-reason", "请补充纵隔描述")
    await rpage.click("#report-return")
    await rpage.wait_for_selector("#report-state:has-text('Returned')")

    await page.wait_for_selector("[data-testid=returned-reason]", timeout=15000)
    assert "请补充纵隔描述" in await page.locator("[data-testid=returned-reason]").inner_text()
    await page.click("#report-edit")
    await page.wait_for_selector("#r-findings:not([readonly])")
    await page.locator("#r-findings").press("Control+End")
    await page.keyboard.type("\n纵隔未见肿大淋巴结。")
    await page.click("#report-submit")
    await page.wait_for_selector("#report-state:has-text('Initial diagnosis')")
    assert "纵隔未见肿大淋巴结。" in (await report(exam_id))["findings"]

    # Versions and their difference.
    await page.select_option("#v-older", index=2)
    await page.click("#v-compare")
    await page.wait_for_selector("#diff .add")
    assert "纵隔未见肿大淋巴结。" in await page.locator("#diff .add").last.inner_text()
    await shot(page, "report-versions-diff")
    await rpage.close()


async def test_review_on_a_phone(browser, app_url, new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    users = await usernames(h)
    exam_id = await make_exam(h.id)
    saved = (
        await h.author.put(
            f"/api/exams/{exam_id}/report",
            json={
                "version": 0,
                "title": "腹部超声",
                "findings": "肝脏大小形态正常，实质回声均匀。\n胆囊壁光滑。",
                "impression": "肝胆未见明显异常。",
            },
        )
    ).json()
    assert (
        await h.author.post(
            f"/api/exams/{exam_id}/report/submit", json={"version": saved["version"]}
        )
    ).status_code == 200
    ctx = await browser.new_context(
        locale="zh-CN", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = await ctx.new_page()
    await login(page, app_url, users["reviewer"], PASSWORD)
    await page.goto(f"{app_url}/exams/{exam_id}/report")
    await page.wait_for_selector("#report-approve")
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways on a phone ({width}px)"
    await shot(page, "report-review-phone")
    page.on("dialog", lambda d: d.accept())
    await page.click("#report-approve")
    await page.wait_for_selector("#report-state.reviewed")
    row = await report(exam_id)
    assert (row["state"], row["reviewer"]) == ("reviewed", h.reviewer_id)
    assert await ExamReportVersion.count().where(ExamReportVersion.report == row["id"]) == 3
    await page.goto(f"{app_url}/exams/{exam_id}")
    await page.wait_for_selector("[data-testid=report-panel] #open-report")
    await shot(page, "report-panel-phone")
    await ctx.close()


async def test_the_hospital_admin_allows_self_review(context, app_url, new_api, uniq) -> None:
    h = await make_hospital(new_api, uniq)
    users = await usernames(h)
    page = await context.new_page()
    await login(page, app_url, users["admin"], PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage")
    box = page.locator("#self-review-form input[name=self_review_allowed]")
    assert not await box.is_checked()
    await box.check()
    async with page.expect_navigation(wait_until="load", timeout=30_000):  # saved, reloaded
        await page.click("#self-review-form button[type=submit]")
    await page.wait_for_selector("#self-review-form input[name=self_review_allowed]:checked")
    got = (await h.admin.get(f"/api/manage/hospitals/{h.id}")).json()
    assert got["self_review_allowed"] is True
    await shot(page, "report-self-review-setting")
