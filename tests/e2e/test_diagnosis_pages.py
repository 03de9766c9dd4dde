"""Remote diagnosis in real Chromium, with two browsers: the requesting doctor sends an
examination from its page, the diagnosing hospital's doctor finds it in /diagnosis and in
the examination list and accepts it, and the requester's examination page shows the
acceptance live, without a reload. Screenshots desktop and phone-sized (360×740)."""

from __future__ import annotations

import pytest

from store.tables import DiagnosisRequest
from tests.e2e.conftest import login, phone_context, shot
from tests.fixtures.diagnosis import (
    make_site,
)
from tests.fixtures.exams import (
    make_exam,
)
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.e2e


async def test_request_accept_and_live_update(browser, context, app_url, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    exam_id = await make_exam(lower.hospital_id, name="WANG^WU=王五")
    private = await make_exam(lower.hospital_id, name="ZHAO^LIU=赵六")

    # The requester sends the examination from its page.
    page = await context.new_page()
    await login(page, app_url, lower.users["doctor"], PASSWORD)
    await page.goto(f"{app_url}/exams/{exam_id}")
    form = page.locator("[data-testid=dx-send-form]")
    await form.wait_for()
    await page.select_option("#dx-target", str(leading.hospital_id))
    await page.fill("#dx-info", "咳嗽两周，胸片见右下肺阴影。Cough for two weeks.")
    await page.select_option("#dx-priority", "urgent")
    await shot(page, "diagnosis-panel-send")
    await page.click("[data-testid=dx-send]")
    await page.locator("#dx-panel[data-state=requested]").wait_for()
    await page.locator("[data-testid=dx-cancel]").wait_for()
    await page.locator("#panel-diagnosis[data-connected]").wait_for()
    row = await DiagnosisRequest.select().where(DiagnosisRequest.examination == exam_id).first()
    assert row["priority"] == 1 and row["target_hospital"] == leading.hospital_id
    assert row["clinical_info"].startswith("咳嗽两周")

    other = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    try:
        second = await other.new_page()
        await login(second, app_url, leading.users["doctor"], PASSWORD)
        # the shared examination is in the target's list, the requester's other one is not
        await second.goto(f"{app_url}/exams")
        await second.locator(f'tr[data-href="/exams/{exam_id}"]').wait_for()
        assert await second.locator(f'tr[data-href="/exams/{private}"]').count() == 0
        await second.goto(f"{app_url}/diagnosis")
        card = second.locator(f'[data-testid=dx-card][data-exam="{exam_id}"]')
        await card.wait_for()
        assert "Urgent" in await card.inner_text()
        await shot(second, "diagnosis-incoming")
        await page.wait_for_function(  # until accepted, nobody reports (the report panel)
            "() => document.getElementById('panel-report').textContent.includes('waits for')"
        )
        before = await page.evaluate("document.body.dataset.dxRefreshed || '0'")
        await card.locator("[data-testid=dx-accept]").click()
        await second.locator(
            f'[data-testid=dx-card][data-exam="{exam_id}"] [data-testid=dx-state]',
            has_text="Accepted",
        ).wait_for()
        # the requester's page shows it live: no reload, the panel re-fetched
        await page.locator("#dx-panel[data-state=accepted]").wait_for(timeout=20_000)
        after = await page.evaluate("document.body.dataset.dxRefreshed || '0'")
        assert int(after) > int(before)
        assert await page.locator("[data-testid=dx-cancel]").count() == 0
        # the report panel follows too: it no longer says the request waits for acceptance
        await page.wait_for_function(
            "() => !document.getElementById('panel-report').textContent.includes('waits for')",
            timeout=20_000,
        )
        timeline = await page.locator("[data-testid=dx-timeline]").inner_text()
        assert "Requested" in timeline and "Accepted" in timeline
        await shot(page, "diagnosis-panel-accepted")
    finally:
        await other.close()


async def test_diagnosis_list_on_a_phone(browser, app_url, uniq) -> None:
    lower, leading = await make_site(uniq), await make_site(uniq, level="leading")
    phone = await phone_context(browser, locale="zh-CN", width=360, height=740)
    sender = None
    try:
        # two requests, one urgent: the urgent one comes first
        # the requester works in a browser of its own (a context shares one session cookie)
        sender = await (await browser.new_context(locale="zh-CN")).new_page()
        await login(sender, app_url, lower.users["doctor"], PASSWORD)

        async def send(urgent: bool) -> int:
            exam_id = await make_exam(lower.hospital_id, name="LI^SI=李四")
            res = await sender.request.post(
                f"{app_url}/api/diagnosis-requests",
                data={
                    "examination_id": exam_id,
                    "target_hospital_id": leading.hospital_id,
                    "clinical_info": "头痛三天 headache",
                    "urgent": urgent,
                },
                headers={"x-csrftoken": await csrf(sender)},
            )
            assert res.status == 201, await res.text()
            return exam_id

        ids = [await send(False), await send(True)]
        page = await phone.new_page()
        await login(page, app_url, leading.users["doctor"], PASSWORD)
        await page.goto(f"{app_url}/diagnosis")
        cards = page.locator("[data-testid=dx-card]")
        await cards.first.wait_for()
        assert await cards.first.get_attribute("data-exam") == str(ids[1])
        assert "远程诊断申请" in await page.locator("h1").inner_text()
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the page is {width}px wide on a 360px phone"
        await shot(page, "diagnosis-phone")
        # a new request arrives while the list is open: it shows without a reload
        await page.locator("#live-state[data-connected]").wait_for()
        late = await send(False)
        await page.locator(f'[data-testid=dx-card][data-exam="{late}"]').wait_for(timeout=20_000)
        assert int(await page.evaluate("document.body.dataset.refreshed || '0'")) >= 1
    finally:
        await phone.close()
        if sender is not None:
            await sender.context.close()


async def csrf(page) -> str:  # type: ignore[no-untyped-def]
    cookies = await page.context.cookies()
    return next((c["value"] for c in cookies if c["name"] == "csrftoken"), "")
