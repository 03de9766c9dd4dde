"""Remote consultation in real Chromium, with two browsers: the applicant creates it through
the form, the reviewer finds it in the review list and agrees, and the applicant's room shows
the decision live, without a reload, within a second; then start, report, submit, print."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from flows.consultation import MEETING_TEMPLATE_ENV, create_meeting
from tests.e2e.conftest import login, shot
from tests.fixtures.consultations import (
    make_user,
)
from tests.fixtures.hospitals import DEMO_PASSWORD, PASSWORD, department

pytestmark = pytest.mark.e2e

MINI_PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def local_time_in(days: int) -> str:
    """A value for <input type=datetime-local> (the page reads it as hospital time)."""
    return (datetime.now() + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


async def test_consultation_across_two_browsers(
    browser, context, app_url, uniq, monkeypatch
) -> None:
    applicant, _ = await make_user(uniq, "CITY", "Cardiology", "Clinician")
    reviewer, _ = await make_user(uniq, "WEST", "Internal Medicine", "Senior radiologist")
    medicine = await department("WEST", "Internal Medicine")
    topic = uniq("Chest pain 胸痛会诊 ")

    # The applicant fills in the form, picking the department through the contact search.
    page = await context.new_page()
    await login(page, app_url, applicant, PASSWORD)
    await page.goto(f"{app_url}/")
    await page.click("a[data-module=consultation]")
    await page.wait_for_url(f"{app_url}/consultations")
    await page.click("#new-card summary")
    await page.fill("#c-topic", topic)
    await page.fill("#c-time", local_time_in(2))
    await page.fill("#c-summary", "反复胸痛三天，心电图 ST 段压低。")
    await page.fill("#p-name", "李四")
    await page.select_option("#p-sex", "female")
    await page.fill("#p-birth", "1958-07-02")
    await page.fill("#p-id", "110105195807021234")
    await page.fill("#p-his", "HIS-5521")
    await page.fill("#pick-q", "Internal Medicine")
    hit = page.locator(f'#pick-results .hit[data-kind=department][data-id="{medicine}"]')
    await hit.locator("button").click()
    row = page.locator(f'#invites .invite-row[data-department="{medicine}"]')
    await row.locator("input.mandatory").check()
    await page.set_input_files(
        "#c-files",
        files=[{"name": "心电图 ECG.pdf", "mimeType": "application/pdf", "buffer": MINI_PDF}],
    )
    await page.fill("#pick-q", "")
    await shot(page, "consultation-new")
    await page.click("#c-submit")
    await page.wait_for_url(lambda url: "/consultations/" in url and url.rstrip("/")[-1].isdigit())
    cid = int(page.url.rstrip("/").rsplit("/", 1)[1])
    assert await page.locator("[data-testid=state]").inner_text() == "Under review"
    assert await page.locator("[data-testid=id-number]").inner_text() == "110105195807021234"
    assert "心电图 ECG.pdf" in await page.locator("#files").inner_text()
    await page.locator("#live-state[data-connected]").wait_for()
    await page.locator("#diagram svg").wait_for()
    await shot(page, "consultation-room-applicant")

    # The reviewer, in a second browser, finds it in his review list and agrees and joins.
    other = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    try:
        second = await other.new_page()
        await login(second, app_url, reviewer, PASSWORD)
        await second.goto(f"{app_url}/consultations")
        listed = second.locator(f'#review-list tr[data-id="{cid}"]')
        assert topic in await listed.inner_text()
        await shot(second, "consultation-review-list")
        await listed.locator("a").click()
        await second.wait_for_url(f"{app_url}/consultations/{cid}")
        form = second.locator(f'#invites tr[data-department="{medicine}"] form.decision-form')
        await form.locator("select[name=decision]").select_option("agree_join")
        await shot(second, "consultation-room-reviewer")
        await page.evaluate("window.__notReloaded = true")
        await form.locator("button[type=submit]").click()

        # The applicant's room shows it live, without a reload (its latency is measured in
        # bench/transition_latency.py, not here: a loaded CI machine is no stopwatch).
        decision = page.locator(f'#invites tr[data-department="{medicine}"] [data-testid=decision]')
        await page.wait_for_function(
            "([sel, text]) => document.querySelector(sel)?.textContent.trim() === text",
            arg=[
                f'#invites tr[data-department="{medicine}"] [data-testid=decision]',
                "Agreed and joined",
            ],
            timeout=10000,
        )
        assert await page.evaluate("window.__notReloaded === true")
        assert await decision.inner_text() == "Agreed and joined"
        assert await page.locator("[data-testid=state]").inner_text() == "Scheduled"
        await page.locator("#timeline li[data-event=agree]").wait_for(timeout=2000)
        assert "Agreed and joined" in await page.locator("#timeline").inner_text()
        await second.locator("[data-testid=state]").filter(has_text="Scheduled").wait_for()

        # Start: this app has no meeting provider (the default); the dispatcher's has one.
        await page.click("#action-start")
        await page.locator("[data-testid=state]").filter(has_text="In progress").wait_for()
        await page.locator("#meeting-unconfigured").wait_for()
        monkeypatch.setenv(
            MEETING_TEMPLATE_ENV, "https://meet.hospital.test/aimis-{consultation_id}-{token}"
        )
        await create_meeting(cid)  # what the dispatcher runs, here in another process
        link = page.locator("#meeting-link")
        await link.wait_for(timeout=5000)  # appears without a reload
        assert (await link.get_attribute("href") or "").startswith(
            "https://meet.hospital.test/aimis-"
        )
        assert await link.get_attribute("target") == "_blank"

        # The report: edit (takes the lock), save, submit, print.
        await page.click("#report-edit")
        await page.locator("#report-text").wait_for()
        await second.locator("#report-locked").wait_for(timeout=2000)
        await page.fill(
            "#report-text", "会诊意见：急性冠脉综合征可能，建议冠脉造影。\nOpinion: angiography."
        )
        await shot(page, "consultation-report-editing")
        await page.click("#report-save")
        await page.locator("#report-view").filter(has_text="急性冠脉综合征").wait_for()
        await (
            second.locator("#report-view").filter(has_text="急性冠脉综合征").wait_for(timeout=2000)
        )
        page.once("dialog", lambda dialog: dialog.accept())
        await page.click("#report-submit")
        await page.locator("[data-testid=state]").filter(has_text="Finished").wait_for()
        pdf = await page.request.get(f"{app_url}/api/consultations/{cid}/report.pdf")
        assert pdf.ok and (await pdf.body()).startswith(b"%PDF")
        assert await page.locator("#report-pdf").is_visible()
        events = await page.locator("#timeline li").evaluate_all(
            "items => items.map(i => i.dataset.event)"
        )
        assert events == ["create", "attach", "agree", "start", "save_report", "submit_report"]
        await shot(page, "consultation-room-finished")
    finally:
        await other.close()


async def test_room_and_lists_at_phone_size(phone, app_url, uniq) -> None:
    from tests.conftest import Api
    from tests.fixtures.consultations import (
        create,
    )

    api = Api(app_url)
    try:
        await api.login("dr.li", DEMO_PASSWORD)
        west = await department("WEST", "Radiology")
        city = await department("CITY", "Cardiology")
        made = await create(
            api,
            [{"department_id": west, "mandatory": True}, {"department_id": city}],
            uniq("Phone 手机查看 "),
        )
    finally:
        await api.aclose()
    await phone.add_cookies([{"name": "lang", "value": "zh", "url": app_url}])
    page = await phone.new_page()
    await login(page, app_url, "dr.li", DEMO_PASSWORD)
    for path, name in ((f"/consultations/{made['id']}", "room"), ("/consultations", "list")):
        await page.goto(f"{app_url}{path}")
        await page.wait_for_load_state("networkidle")
        assert "远程会诊" in await page.title() or "会诊" in await page.content()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width}px wide at phone size"
        await shot(page, f"consultation-{name}-phone")


async def test_admin_consultation_log_page(context, app_url, uniq) -> None:
    page = await context.new_page()
    await login(page, app_url, "admin.city", DEMO_PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/consultations")
    await page.locator("#log-table").wait_for()
    assert await page.locator("#log-table tbody tr[data-id]").count() >= 1
    await shot(page, "consultation-log")
    doctor = await context.browser.new_context(locale="en-US")
    try:
        other = await doctor.new_page()
        await login(other, app_url, "dr.li", DEMO_PASSWORD)
        await other.goto(f"{app_url}/manage/consultations")
        assert "/admin/login" in other.url
    finally:
        await doctor.close()
