"""Quality control in real Chromium, one walk (SPEC 7, issue 17): the QC manager creates a
task in the form and draws its sample (the ``qc-sample`` flow's step, run here as the
dispatcher would); the evaluator opens his case, grades each series, scores both reports,
rates RADPEER 3a and saves; the arbitrator decides beside it; the statistics page draws the
chart and a bar clicked lists its cases; on a 390 px phone the case page fits the screen."""

from __future__ import annotations

import pytest

from api.quality.sampling import draw_sample
from store.tables import QcTask
from tests.e2e.conftest import fits_the_phone, login, phone_context, shot
from tests.fixtures.hospitals import PASSWORD
from tests.fixtures.quality import cases, evaluation, qc_site, reported_exams, series_of

pytestmark = pytest.mark.e2e


async def test_create_sample_evaluate_arbitrate_statistics(
    browser, context, app_url, new_api, uniq
) -> None:
    site = await qc_site(new_api, uniq)
    await reported_exams(site, 3, series=2)
    name = uniq("CT chest QC ")
    page = await context.new_page()
    await login(page, app_url, site["manager"].username, PASSWORD)
    await page.goto(f"{app_url}/quality")
    await page.fill("#q-name", name)
    await page.fill("#q-from", "2026-11-01")
    await page.fill("#q-to", "2026-11-30")
    await page.fill("#q-type", "CT")
    await page.fill("#q-body", "CHEST")
    await page.check(f'#q-departments input[value="{site.department_id}"]')
    await page.fill("#q-size", "2")
    await page.check(f'#q-evaluators input[value="{site["ev1"].id}"]')
    await page.select_option("#q-arbitrator", str(site["arbiter"].id))
    await page.check("#q-blind")
    await shot(page, "quality-new-task")
    await page.click("#q-create")
    await page.wait_for_url(lambda url: "/quality/" in url and url.rstrip("/")[-1].isdigit())
    task_id = int(page.url.rstrip("/").split("/")[-1])
    await page.click("#start-sampling")
    await page.locator("#qc-task[data-state=sampling]").wait_for()
    drawn = await draw_sample(task_id)  # the dispatcher's flow step, in this process
    assert (drawn.population, drawn.sampled) == (3, 2)
    # the open page follows by itself (the live channel's qc_task event reloads it)
    await page.locator("#qc-task[data-state=evaluating]").wait_for()
    assert await page.locator("#qc-cases a[href^='/quality/cases/']").count() == 2
    assert "2" in await page.locator("#task-sample").inner_text()
    await shot(page, "quality-task-evaluating")
    first, second = await cases(task_id)

    # the evaluator: blind, grades, scores, RADPEER 3a
    evaluator = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    try:
        ev = await evaluator.new_page()
        await login(ev, app_url, site["ev1"].username, PASSWORD)
        await ev.goto(f"{app_url}/quality/cases/{first['id']}")
        assert await ev.locator("#initial-doctor").count() == 0  # blind
        assert await ev.locator("#open-viewer").count() == 1
        rows = ev.locator("#qc-evaluate .series-grade")
        assert await rows.count() == 2
        await rows.nth(0).locator("select.grade").select_option("excellent")
        await rows.nth(1).locator("select.grade").select_option("reject")
        await rows.nth(1).locator("input.reasons").fill("motion artefact")
        await ev.fill("#e-initial", "70")
        await ev.fill("#e-initial-c", "nodule not described")
        await ev.fill("#e-review", "75")
        await ev.select_option("#e-radpeer", "3a")
        await ev.fill("#e-radpeer-c", "missed 6 mm nodule")
        await shot(ev, "quality-case-evaluate")
        await ev.click("#e-save")
        await ev.locator("#case-state.arbitration").wait_for()
        assert "3a" in await ev.locator("#radpeer").inner_text()
    finally:
        await evaluator.close()
    res = await site["ev1"].client.post(
        f"/api/quality/cases/{second['id']}/evaluation",
        json=evaluation(second, await series_of(second["id"]), "1"),
    )
    assert res.status_code == 200, res.text

    # the arbitrator decides; the evaluator's 3a stays beside his decision
    arbiter = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    try:
        ar = await arbiter.new_page()
        await login(ar, app_url, site["arbiter"].username, PASSWORD)
        await ar.goto(f"{app_url}/quality/cases/{first['id']}")
        await ar.select_option("#a-radpeer", "2b")
        await ar.fill("#a-comment", "clinically minor")
        await ar.click("#a-save")
        await ar.locator("#arbitration").wait_for()
        assert "2b" in await ar.locator("#arbitration").inner_text()
        assert "3a" in await ar.locator("#radpeer").inner_text()
        await shot(ar, "quality-case-arbitrated")
    finally:
        await arbiter.close()
    row = await QcTask.select(QcTask.state).where(QcTask.id == task_id).first()
    assert row is not None and row["state"] == "completed"

    # statistics: the chart, a bar clicked lists its cases (drawn at once for less motion)
    await page.emulate_media(reduced_motion="reduce")
    await page.goto(f"{app_url}/quality/statistics?by=device_type&task_id={task_id}")
    await page.locator("#qc-chart[data-ready] canvas").first.wait_for()
    await page.locator("#qc-trend canvas").first.wait_for()
    # CT's middle bar (its reject rate, 25 %) near its foot, where ECharts drew it
    x, y = await page.evaluate(
        """() => echarts.getInstanceByDom(document.getElementById('qc-chart'))
          .convertToPixel({seriesIndex: 1}, [0, 5])"""
    )
    box = await page.locator("#qc-chart").bounding_box()
    assert box is not None
    await page.mouse.click(box["x"] + x, box["y"] + y)
    await page.locator("#qc-drill:not([hidden])").wait_for()
    drilled = page.locator("#drill-rows tr")
    assert await drilled.count() == 2
    assert "3a → 2b" in await page.locator("#drill-rows").inner_text()
    await shot(page, "quality-statistics")

    # the case page on a phone
    phone = await phone_context(browser)
    try:
        small = await phone.new_page()
        await login(small, app_url, site["manager"].username, PASSWORD)
        await small.goto(f"{app_url}/quality/cases/{first['id']}")
        await small.locator("#qc-exam").wait_for()
        await fits_the_phone(small)
        await shot(small, "quality-case-phone")
    finally:
        await phone.close()
