"""A remote ward round in real Chromium, one walk: WEST's ward doctor applies (topic, time,
the patient's examinations found by ID number, two experts found by pinyin initials), the
round is in the list and searchable, the room shows patient, examinations (image and report
links) and the participants; started, the record is written (the experts' opinions over the
API, the conclusion in the page), the round is finished and its record prints as a PDF; on
a 390 px phone the room fits the screen."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from store.tables import Examination
from store.zones import hospital_zone
from tests.e2e.conftest import fits_the_phone, login, phone_context, shot
from tests.fixtures.exams import make_exam
from tests.fixtures.hospitals import DEMO_PASSWORD, as_user, hospital_id

pytestmark = pytest.mark.e2e


async def test_apply_list_room_record_print(browser, context, app_url, new_api, uniq) -> None:
    id_number = ("4501" + uuid.uuid4().hex[:14]).upper()
    west = await hospital_id("WEST")
    exams = [await make_exam(west, name="ZHOU^QI=周琪", modalities=m) for m in ("CT", "MR")]
    await Examination.update({Examination.patient_id_number: id_number}).where(
        Examination.id.is_in(exams)
    )
    topic = uniq("查房 Ward round ")
    page = await context.new_page()
    await login(page, app_url, "dr.zhao", DEMO_PASSWORD)
    await page.goto(f"{app_url}/ward-rounds")
    await page.click("#new-card summary")
    await page.fill("#w-topic", topic)
    zone = await hospital_zone(west)  # the form's time is the hospital's clock
    when = (datetime.now(zone) + timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    await page.fill("#w-time", when)
    await page.fill("#w-summary", "双下肢水肿，请上级医院专家查房。")
    await page.fill("#p-name", "周琪")
    await page.fill("#p-id", id_number)
    await page.click("#exam-find")
    hits = page.locator("#exam-results .hit[data-exam]")
    await hits.nth(1).wait_for()
    for exam in exams:
        await page.check(f'#exam-results .hit[data-exam="{exam}"] input[type=checkbox]')
    for initials, name in (("ww", "Wang Wei"), ("ln", "Li Na")):
        await page.fill("#expert-q", initials)
        hit = page.locator("#expert-results .hit[data-kind=doctor]", has_text=name)
        await hit.locator("button").click()
    assert await page.locator("#experts .invite-row").count() == 2
    await shot(page, "ward-round-apply")
    await page.click("#w-submit")
    await page.wait_for_url(lambda url: "/ward-rounds/" in url)
    wid = int(page.url.rstrip("/").split("/")[-1])
    # the room: information, patient, examinations with images and report, participants
    assert await page.locator("#exams li[data-exam]").count() == 2
    assert await page.locator("#exams [data-testid=open-images]").count() == 2
    assert await page.locator("#exams [data-testid=open-report]").count() == 2
    assert id_number in await page.locator("#patient").inner_text()
    people = await page.locator("#participants").inner_text()
    assert "Wang Wei" in people and "Li Na" in people
    # the list, searched by expert (pinyin) and topic
    await page.goto(f"{app_url}/ward-rounds?expert=ww&q={topic}")
    assert await page.locator(f'#rounds tr[data-id="{wid}"]').count() == 1
    await page.goto(f"{app_url}/ward-rounds?expert=zzz&q={topic}")
    assert await page.locator(f'#rounds tr[data-id="{wid}"]').count() == 0
    # start, the experts' opinions, the conclusion, finish, print
    await page.goto(f"{app_url}/ward-rounds/{wid}")
    await page.click("#action-start")
    await page.locator("#conclusion-form").wait_for()
    for username, opinion in (("dr.wang", "考虑心源性水肿。"), ("dr.li", "建议心脏超声。")):
        expert = await as_user(new_api, username)
        rv = (await expert.get(f"/api/ward-rounds/{wid}")).json()["record_version"]
        res = await expert.put(
            f"/api/ward-rounds/{wid}/record", json={"record_version": rv, "opinion": opinion}
        )
        assert res.status_code == 200, res.text
    await page.reload()
    assert "建议心脏超声" in await page.locator("#record").inner_text()
    await page.fill("#conclusion-form textarea", "完善心脏超声，利尿治疗。")
    await page.click("#conclusion-form button[type=submit]")
    await page.locator("#action-finish").wait_for()
    await page.click("#action-finish")
    await page.locator("#room[data-state=finished]").wait_for()
    await shot(page, "ward-round-room-finished")
    href = await page.locator("#print").get_attribute("href")
    pdf = await page.request.get(f"{app_url}{href}")
    assert pdf.status == 200 and (await pdf.body()).startswith(b"%PDF")
    # the room on a phone
    phone = await phone_context(browser)
    try:
        small = await phone.new_page()
        await login(small, app_url, "dr.wang", DEMO_PASSWORD)
        await small.goto(f"{app_url}/ward-rounds/{wid}")
        await small.locator("#record").wait_for()
        await fits_the_phone(small)
        await shot(small, "ward-round-room-phone")
    finally:
        await phone.close()
