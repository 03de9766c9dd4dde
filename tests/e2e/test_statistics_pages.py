"""Statistics in real headless Chromium (SPEC 6): the director of a hospital opens the
statistics of a range by day, clicks the bar of a day's examinations and lands on the
examination list with exactly that day's rows, clicks the day's remote-diagnosis bar and
lands on its requests; back on the page he downloads the CSV and it holds the rows of the
range; the page fits a phone."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from store.tables import DiagnosisRequest, Examination
from store.uow import now
from tests.e2e.conftest import fits_the_phone, login, phone_context, shot
from tests.fixtures.hospitals import ALL_MODULES, PASSWORD, Staff, make_hospital

pytestmark = pytest.mark.e2e

DAY = datetime(2025, 5, 6, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
RANGE = "/statistics/?start=2025-05-01&end=2025-05-10&step=day"


async def test_director_clicks_a_bar_to_its_rows_and_downloads_them(
    app_url, context, browser, uniq, tmp_path
) -> None:
    made = await make_hospital(
        None,
        uniq,
        prefix="SP-",
        name="Statistics Page {code}",
        level="leading",
        modules=ALL_MODULES,
        demo_alliance=True,
        staff={"director": Staff(role="Senior radiologist", login=False)},
    )
    t = now()
    await Examination.insert(
        *[
            Examination(
                hospital=made.id,
                patient_name=f"Bar Patient {i}",
                accession_number=f"BAR{i}",
                device_type="CT",
                exam_time=DAY + timedelta(days=i // 3, minutes=i),
                created_at=t,
                updated_at=t,
            )
            for i in range(5)
        ]
    )
    sender = await make_hospital(None, uniq, prefix="SQ-", name="Sender {code}")
    await Examination.insert(
        Examination(hospital=sender.id, exam_time=DAY, created_at=t, updated_at=t)
    )
    sent = await Examination.select(Examination.id).where(Examination.hospital == sender.id)
    await DiagnosisRequest.insert(
        *[
            DiagnosisRequest(
                examination=sent[0]["id"],
                hospital=sender.id,
                target_hospital=made.id,
                requested_by=0,
                created_at=DAY + timedelta(minutes=i),
                updated_at=t,
            )
            for i in range(2)
        ]
    )
    page = await context.new_page()
    await login(page, app_url, made["director"].username, PASSWORD)

    async def click_bar(series: int, value: float) -> None:
        await page.goto(app_url + RANGE)
        await page.wait_for_function("window.aimisCharts && window.aimisCharts['stat-bars']")
        await shot(page, "statistics-desktop")
        x, y = await page.evaluate(
            """([series, value]) => {
              const el = document.getElementById('stat-bars');
              const [x, y] = window.aimisCharts['stat-bars'].convertToPixel(
                {seriesIndex: series}, ['2025-05-06', value]);
              const box = el.getBoundingClientRect();
              return [box.left + x, box.top + y];
            }""",
            [series, value],
        )
        await page.mouse.click(x, y)

    # the remote diagnoses' bar stands on the 3 examinations: its middle is at 4
    await click_bar(1, 4)
    await page.wait_for_url(lambda url: "/statistics/cases" in url and "kind=remote" in url)
    assert await page.locator("#cases tr[data-case]").count() == 2
    assert await page.locator("#cases").get_by_text(sender.name).count() == 2
    await shot(page, "statistics-cases")

    await click_bar(0, 1)
    await page.wait_for_url(lambda url: "/exams" in url and "date_from=2025-05-06" in url)
    rows = page.locator("text=/Bar Patient \\d/")
    await rows.first.wait_for()
    shown = sorted(set(await rows.all_inner_texts()))
    assert shown == ["Bar Patient 0", "Bar Patient 1", "Bar Patient 2"]

    await page.goto(app_url + RANGE)
    async with page.expect_download() as info:
        await page.click("#download-csv")
    download = await info.value
    saved = tmp_path / "rows.csv"
    await download.save_as(saved)
    text = saved.read_bytes().decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert sorted(r[3] for r in lines[1:]) == [f"BAR{i}" for i in range(5)]

    phone = await phone_context(browser)
    small = await phone.new_page()
    await login(small, app_url, made["director"].username, PASSWORD)
    await small.goto(app_url + RANGE)
    await small.wait_for_function("window.aimisCharts && window.aimisCharts['stat-trend']")
    await fits_the_phone(small)
    await shot(small, "statistics-phone")
    await phone.close()
