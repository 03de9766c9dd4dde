"""The consultation's cloud examinations, the folded process diagram and the meeting
provider, in real Chromium: the applicant finds the patient's examinations by ID number in
the apply form and ticks two, the invited expert of another hospital opens their report and
images from the room and nothing else of the patient; an attach from a stale search is told
the examination is there already; an examination its hospital's admin deletes leaves the
room and its images, and comes back restored; at 390 px the process diagram is
folded behind "Process" and fits the screen; with no meeting provider the room says so."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import pytest

from flows.consultation import MEETING_TEMPLATE_ENV, create_meeting
from store.tables import Examination, Study
from tests.conftest import Api
from tests.e2e.conftest import login, phone_context, shot
from tests.fixtures.consultations import create, started_case
from tests.fixtures.exams import make_exam
from tests.fixtures.hospitals import DEMO_PASSWORD, as_user, department, hospital_id, user_id

pytestmark = pytest.mark.e2e


async def _three_exams(id_number: str) -> list[dict]:
    city = await hospital_id("CITY")
    ids = [await make_exam(city, name="SUN^LI=孙丽", modalities=m) for m in ("CT", "MR", "DX")]
    await Examination.update({Examination.patient_id_number: id_number}).where(
        Examination.id.is_in(ids)
    )
    return list(
        await Examination.select(Examination.id, Examination.study)
        .where(Examination.id.is_in(ids))
        .order_by(Examination.id)
    )


async def test_attach_in_the_form_and_the_expert_opens_exactly_those(
    browser, context, app_url, uniq
) -> None:
    id_number = ("3201" + uuid.uuid4().hex[:14]).upper()
    first, second, third = await _three_exams(id_number)
    page = await context.new_page()
    await login(page, app_url, "dr.li", DEMO_PASSWORD)
    await page.goto(f"{app_url}/consultations")
    await page.click("#new-card summary")
    await page.fill("#c-topic", uniq("Cloud exams 云端检查 "))
    when = (datetime.now() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    await page.fill("#c-time", when)
    await page.fill("#p-id", id_number)
    await page.click("#exam-find")
    hits = page.locator("#exam-results .hit[data-exam]")
    await hits.nth(2).wait_for()
    assert await hits.count() == 3
    for exam in (first, second):
        await page.check(f'#exam-results .hit[data-exam="{exam["id"]}"] input[type=checkbox]')
    await page.fill("#pick-q", "Liu Yang")
    expert = page.locator("#pick-results .hit[data-kind=doctor]").first
    await expert.locator("button").click()
    await shot(page, "consultation-new-exams")
    await page.click("#c-submit")
    await page.wait_for_url(lambda url: "/consultations/" in url and url.rstrip("/")[-1].isdigit())
    cid = int(page.url.rstrip("/").rsplit("/", 1)[1])
    listed = page.locator("#exams li[data-exam]")
    assert await listed.evaluate_all("items => items.map(i => Number(i.dataset.exam))") == [
        first["id"],
        second["id"],
    ]
    images = page.locator(f'#exams li[data-exam="{first["id"]}"] [data-testid=open-images]')
    assert (await images.get_attribute("href") or "").startswith(
        "/viewer/viewer?StudyInstanceUIDs="
    )
    await shot(page, "consultation-room-exams")

    # The invited expert of West opens the report and the images of the attached ones only.
    other = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    try:
        liu = await other.new_page()
        await login(liu, app_url, "dr.liu", DEMO_PASSWORD)
        await liu.goto(f"{app_url}/consultations/{cid}")
        row = liu.locator(f'#exams li[data-exam="{second["id"]}"]')
        await row.locator("[data-testid=open-report]").click()
        await liu.wait_for_url(f"{app_url}/exams/{second['id']}/report")
        assert "CT" in await liu.content() or "MR" in await liu.content()
        for exam, status in ((first, 200), (second, 200), (third, 404)):
            report = await liu.goto(f"{app_url}/exams/{exam['id']}/report")
            mobile = await liu.goto(f"{app_url}/studies/{exam['study']}/mobile")
            assert report is not None and mobile is not None
            assert (report.status, mobile.status) == (status, status), exam
        await shot(liu, "consultation-expert-no-other-exam")
    finally:
        await other.close()

    # The applicant attaches the third from the room; it is listed after the others.
    await page.click("#exam-find")
    attach = page.locator(f'#exam-results .hit[data-exam="{third["id"]}"] button')
    await attach.click()
    await page.locator(f'#exams li[data-exam="{third["id"]}"]').wait_for()
    assert await page.locator("#exams li[data-exam]").count() == 3


async def _delete_or_restore(admin: Api, study_id: int, action: str) -> None:
    row = await Study.select(Study.version).where(Study.id == study_id).first()
    assert row is not None
    res = await admin.post(
        f"/api/archive/studies/{study_id}/{action}",
        json={"version": row["version"], "reason": "wrong patient's folder"},
    )
    assert res.status_code == 200, res.text


async def test_a_stale_attach_is_told_and_a_deleted_exam_leaves_the_room(
    browser, context, app_url, new_api, uniq
) -> None:
    id_number = ("3202" + uuid.uuid4().hex[:14]).upper()
    first, second, _ = await _three_exams(id_number)
    li = await as_user(new_api, "dr.li")
    west = await department("WEST", "Radiology")
    made = await create(
        li,
        [{"department_id": west, "expert_id": await user_id("dr.liu")}],
        uniq("Stale 过期 "),
        examination_ids=[first["id"]],
        patient={"name": "孙丽", "id_number": id_number},
    )
    room = f"{app_url}/consultations/{made['id']}"
    # two tabs of the applicant search the room at once; the first attaches the second exam
    tabs = [await context.new_page(), await context.new_page()]
    await login(tabs[0], app_url, "dr.li", DEMO_PASSWORD)
    for tab in tabs:
        await tab.goto(room)
        await tab.click("#exam-find")
        await tab.locator(f'#exam-results .hit[data-exam="{second["id"]}"] button').wait_for()
    await tabs[0].click(f'#exam-results .hit[data-exam="{second["id"]}"] button')
    await tabs[0].locator(f'#exams li[data-exam="{second["id"]}"]').wait_for()
    # the alert is accepted by a handler set before the click: an alert left open while the
    # click waits for navigations would block both
    told: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def accept(dialog) -> None:
        if not told.done():
            told.set_result(dialog.message)
        await dialog.accept()

    tabs[1].once("dialog", accept)
    await tabs[1].click(f'#exam-results .hit[data-exam="{second["id"]}"] button')
    message = await asyncio.wait_for(told, 30)
    assert message == f"Examination {second['id']} is attached to this consultation already."
    await tabs[1].reload()
    listed = tabs[1].locator("#exams li[data-exam]")
    assert await listed.evaluate_all("items => items.map(i => Number(i.dataset.exam))") == [
        first["id"],
        second["id"],
    ]

    # City's admin deletes the second exam's study: gone from the expert's room and images
    admin = await as_user(new_api, "admin.city")
    other = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
    try:
        liu = await other.new_page()
        await login(liu, app_url, "dr.liu", DEMO_PASSWORD)
        await _delete_or_restore(admin, second["study"], "delete")
        await liu.goto(room)
        shown = liu.locator("#exams li[data-exam]")
        assert await shown.evaluate_all("items => items.map(i => Number(i.dataset.exam))") == [
            first["id"]
        ]
        await shot(liu, "consultation-exam-deleted-zh")
        mobile = await liu.goto(f"{app_url}/studies/{second['study']}/mobile")
        assert mobile is not None and mobile.status == 404
        await _delete_or_restore(admin, second["study"], "restore")
        await liu.goto(room)
        assert await shown.count() == 2
        mobile = await liu.goto(f"{app_url}/studies/{second['study']}/mobile")
        assert mobile is not None and mobile.status == 200
    finally:
        await other.close()


async def test_the_process_diagram_is_folded_and_fits_a_phone(browser, app_url, uniq) -> None:
    api = Api(app_url)
    try:
        await api.login("dr.li", DEMO_PASSWORD)
        west = await department("WEST", "Radiology")
        made = await create(api, [{"department_id": west, "mandatory": True}], uniq("Fold "))
    finally:
        await api.aclose()
    for lang in ("en", "zh"):
        phone = await phone_context(browser, locale="en-US" if lang == "en" else "zh-CN")
        try:
            await phone.add_cookies([{"name": "lang", "value": lang, "url": app_url}])
            page = await phone.new_page()
            await login(page, app_url, "dr.li", DEMO_PASSWORD)
            await page.goto(f"{app_url}/consultations/{made['id']}")
            card = page.locator("#process-card")
            await card.wait_for()
            assert not await card.evaluate("d => d.open"), "closed by default on a phone"
            assert (await card.bounding_box() or {"height": 999})["height"] < 120
            label = await card.locator("summary").inner_text()
            assert label.strip() == ("Process" if lang == "en" else "流程")
            await card.locator("summary").click()
            svg = page.locator("#diagram svg")
            await svg.wait_for()
            box = await svg.bounding_box()
            assert box is not None and box["width"] <= 390 and box["height"] <= 0.8 * 844, box
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the room is {width}px wide at phone size"
            await shot(page, f"consultation-process-phone-{lang}")
        finally:
            await phone.close()


async def test_without_a_meeting_provider_the_room_says_so(
    context, app_url, new_api, uniq, monkeypatch
) -> None:
    _, _, cid = await started_case(new_api, uniq)
    page = await context.new_page()
    await login(page, app_url, "dr.li", DEMO_PASSWORD)
    await page.goto(f"{app_url}/consultations/{cid}")
    assert await page.locator("#process-card").evaluate("d => d.open")  # open on a wide screen
    note = page.locator("#meeting-unconfigured")
    await note.wait_for()
    assert "no meeting provider is configured" in await note.inner_text()
    assert await page.locator("#meeting-link").count() == 0
    await shot(page, "consultation-no-meeting-provider")
    # once the administrator chose one, the link arrives in the open room
    monkeypatch.setenv(
        MEETING_TEMPLATE_ENV, "https://meet.hospital.test/aimis-{consultation_id}-{token}"
    )
    await create_meeting(cid)
    link = page.locator("#meeting-link")
    await link.wait_for(timeout=5000)
    assert (await link.get_attribute("href") or "").startswith("https://meet.hospital.test/")
