"""The patient's archive in real headless Chromium on a 390×844 touch phone, in Chinese and in
English (issue 15, points 3 and 5): log in with her code, prove an examination (a wrong
number refused first), see it in "My examinations", open it: the reviewed report, the first
image drawn from the patient-scoped image routes, a swipe to the next image."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.tables import Examination
from tests.e2e.conftest import fits_the_phone, for_the_docs, patient_login, phone_context, shot
from tests.e2e.test_touch_viewer import touch
from tests.fixtures.exams import make_place, study_with_images
from tests.fixtures.patients import make_person, new_phone
from tests.fixtures.reports import reviewed_report
from tests.integration.test_cloud_film import set_default

pytestmark = pytest.mark.e2e

WORDS = {
    "zh": {"locale": "zh-CN", "title": "我的检查", "ready": "报告已出", "impression": "诊断意见"},
    "en": {
        "locale": "en-US",
        "title": "My examinations",
        "ready": "Report ready",
        "impression": "Impression",
    },
}
IMPRESSION = "心肺膈未见明显异常。"


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_her_examination_on_her_phone(  # type: ignore[no-untyped-def]
    browser, app_url: str, new_api, uniq, tmp_path: Path, lang: str
) -> None:
    words = WORDS[lang]
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="after_review")
    study = await study_with_images(place.hospital_id, tmp_path)
    exam = await Examination.select().where(Examination.id == study["exam_id"]).first()
    assert exam is not None
    await reviewed_report(
        place.hospital_id,
        exam["id"],
        title="胸部CT平扫报告",
        findings="双肺纹理清晰，未见实变影。",
        impression=IMPRESSION,
    )
    phone = new_phone()
    await make_person(str(exam["patient_name"]).split(" ", 1)[0], phone=f"86{phone}")

    ctx = await phone_context(browser, locale=words["locale"])
    page = await ctx.new_page()
    cdp = await ctx.new_cdp_session(page)
    await page.goto(f"{app_url}/patient/examinations")
    assert "/patient/login" in page.url
    await patient_login(page, phone)
    await page.wait_for_url("**/patient/examinations")
    await page.wait_for_selector("#no-exams")
    await page.click("#add-exam")
    await page.wait_for_url("**/patient/examinations/add")
    # a wrong number: refused, in her language, nothing added
    await page.fill("#accession_number", "NO-SUCH-1")
    await page.click("#proof-form button[type=submit]")
    error = page.locator("#proof-form [data-msg]")
    await error.wait_for()
    assert exam["patient_name"].split(" ", 1)[0] in (await error.text_content() or "")
    await fits_the_phone(page)
    await shot(page, f"patient-archive-refused-phone-{lang}")
    await page.fill("#accession_number", exam["accession_number"])
    await page.click("#proof-form button[type=submit]")
    await page.wait_for_url("**/patient/examinations")
    row = page.locator(f"#exams li[data-exam='{exam['id']}']")
    await row.wait_for()
    assert words["ready"] in (await row.text_content() or "")
    await fits_the_phone(page)
    await shot(page, f"patient-archive-list-phone-{lang}")

    await row.locator("a").click()
    await page.wait_for_url(f"**/patient/examinations/{exam['id']}")
    assert IMPRESSION in (await page.text_content("#impression") or "")
    assert words["impression"] in (await page.text_content("#report") or "")
    await page.wait_for_function(
        "() => { const i = document.getElementById('mv-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    src = await page.get_attribute("#mv-image", "src") or ""
    assert src.startswith("blob:") or f"/api/patient/archive/{exam['id']}/wado/" in src
    first_thumb = page.locator(".mv-thumb img").first
    await page.wait_for_function("() => document.querySelector('.mv-thumb img').naturalWidth > 0")
    assert f"/api/patient/archive/{exam['id']}/wado/" in (
        await first_thumb.get_attribute("src") or ""
    )
    total = await page.locator(".mv-thumb").count()
    assert total >= 2
    assert await page.text_content("#mv-counter") == f"1 / {total}"
    await fits_the_phone(page)
    viewer_shot = await shot(page, f"patient-archive-phone-{lang}")
    if lang == "zh":
        for_the_docs(viewer_shot, "patient-archive-phone.png")

    await page.locator("#mv-stage").scroll_into_view_if_needed()
    box = await page.locator("#mv-stage").bounding_box()
    assert box is not None
    cx, cy, w = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"]
    # her finger swipes right to left: the next image
    for kind, at in (("touchStart", 0.3), ("touchMove", 0.0), ("touchMove", -0.3)):
        await touch(cdp, kind, [(cx + w * at, cy)])
    await touch(cdp, "touchEnd", [])
    await page.wait_for_selector("#mv-counter:text-matches('^2 /')")
    await page.wait_for_function(
        "() => { const i = document.getElementById('mv-image');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    await shot(page, f"patient-archive-swiped-phone-{lang}")
    # another examination id: the page says not found, nothing of it shown
    await page.goto(f"{app_url}/patient/examinations/{exam['id'] + 100000}")
    await page.wait_for_selector("#missing")
    await ctx.close()
