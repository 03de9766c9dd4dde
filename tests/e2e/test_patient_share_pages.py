"""Share links in real headless Chromium on 390×844 touch phones (issue 15 point 6): the
patient makes a link of her visible examination (the generated password shown once), a
second browser opens it with the password and sees the reviewed report and the images, the
patient revokes it from her links page (which lists the opening), and the recipient's reload
says the link was revoked."""

# ruff: noqa: F811  (the shared fixture is imported, then requested by name)

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from store.tables import AuditLog
from tests.e2e.conftest import fits_the_phone, for_the_docs, patient_login, phone_context, shot
from tests.e2e.test_viewer import DRAWN_PIXELS
from tests.fixtures.exams import make_place, study_with_images
from tests.fixtures.patients import make_person, match_patient
from tests.fixtures.reports import reviewed_report
from tests.integration.test_patient_shares import make_link, shared  # noqa: F401

pytestmark = pytest.mark.e2e

WORDS = {
    "zh": {
        "locale": "zh-CN",
        "ready": "链接已生成",
        "revoked": "已被患者撤销",
        "opened": "打开次数：1",
    },
    "en": {
        "locale": "en-US",
        "ready": "The link is ready",
        "revoked": "revoked by the patient",
        "opened": "openings: 1",
    },
}


async def visible_exam(new_api: Any, uniq: Any, tmp: Path) -> tuple[dict, int]:
    place = await make_place(new_api, uniq)
    study = await study_with_images(place.hospital_id, tmp)
    person = await make_person("王小明")
    await match_patient(person["id"], place.hospital_id, study["exam_id"])
    await reviewed_report(
        place.hospital_id,
        study["exam_id"],
        findings="双肺纹理清晰 FINDINGS-OK",
        impression="未见明显异常 IMPRESSION-OK",
    )
    return person, study["exam_id"]


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_share_open_revoke(
    browser, app_url: str, new_api: Any, uniq: Any, tmp_path: Path, lang: str
) -> None:  # type: ignore[no-untyped-def]
    words = WORDS[lang]
    person, exam_id = await visible_exam(new_api, uniq, tmp_path)
    ctx = await phone_context(browser, locale=words["locale"])
    page = await ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    await page.goto(f"{app_url}/patient/login")
    await patient_login(page, person["phone"].removeprefix("86"))
    await page.wait_for_url(lambda url: "/login" not in url)

    await page.goto(f"{app_url}/patient/shares/new?examination={exam_id}")
    await page.select_option("#days", "1")
    await fits_the_phone(page)
    await shot(page, f"patient-share-new-phone-{lang}")
    await page.click("#share-form button[type=submit]")
    await page.locator(f"#share-made:has-text('{words['ready']}')").wait_for()
    url = await page.input_value("#share-url")
    password = await page.input_value("#share-made-password")
    assert "/s/" in url and len(password) == 8
    await shot(page, f"patient-share-made-phone-{lang}")

    other = await phone_context(browser, locale=words["locale"])
    doctor = await other.new_page()
    await doctor.goto(url)
    await doctor.fill("#open-password", "wrong-password")
    await doctor.click("#open-form button[type=submit]")
    await doctor.locator("#open-form [data-msg]").wait_for()
    await doctor.fill("#open-password", password)
    await doctor.click("#open-form button[type=submit]")
    await doctor.locator("#share-report:has-text('IMPRESSION-OK')").wait_for()
    await doctor.wait_for_function(
        "() => { const i = document.querySelector('#share-frame');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    thumbs = doctor.locator(".share-thumbs img")
    assert await thumbs.count() > 0
    await thumbs.first.scroll_into_view_if_needed()
    await doctor.wait_for_function(
        "() => [...document.querySelectorAll('.share-thumbs img')].slice(0, 1)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    await fits_the_phone(doctor)
    view_shot = await shot(doctor, f"patient-share-view-phone-{lang}")
    if lang == "zh":
        for_the_docs(view_shot, "patient-share-phone.png")

    await page.goto(f"{app_url}/patient/shares")
    row = page.locator("#shares li[data-state=active]").first
    await row.locator(f"text={words['opened']}").wait_for()
    assert "127.0.*.*" in await row.text_content()
    await fits_the_phone(page)
    await shot(page, f"patient-share-list-phone-{lang}")
    await row.locator("button").click()
    await page.locator("#shares li[data-state=revoked]").first.wait_for()

    response = await doctor.reload()
    assert response is not None and response.status == 410
    await doctor.locator(f"#share-gone:has-text('{words['revoked']}')").wait_for()
    await shot(doctor, f"patient-share-revoked-phone-{lang}")
    await other.close()
    await ctx.close()


async def test_share_opens_in_ohif_on_a_desktop(context, app_url: str, shared: dict) -> None:  # type: ignore[no-untyped-def]
    """The recipient gives the password, then opens the study in the full OHIF viewer: it
    reads the link's own DICOMweb root (``/s/<token>/dicomweb``) with the link's cookie
    and draws the CT (pixels read back from its canvas, as tests/e2e/test_viewer.py does)."""
    study = shared["study"]
    link = (await make_link(shared["patient"], study["exam_id"], password="desk-top"))["url"]

    page = await context.new_page()
    page.set_default_timeout(90_000)  # OHIF's first boot on two shared cores
    urls: list[str] = []
    failed: list[tuple[int, str]] = []
    page.on("request", lambda r: urls.append(r.url.removeprefix(app_url)))
    page.on("response", lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None)
    await page.goto(f"{app_url}{link}")
    await page.fill("#open-password", "desk-top")
    await page.click("#open-form button[type=submit]")
    await page.locator("#share-ohif").wait_for()
    assert (await page.text_content("#share-dicomweb") or "").endswith(f"{link}/dicomweb")
    await page.click("#share-ohif")
    await page.wait_for_url(f"**{link}/viewer/viewer?StudyInstanceUIDs=*")
    await page.wait_for_selector("canvas.cornerstone-canvas")
    await page.wait_for_function(f"() => (({DRAWN_PIXELS})()).some(n => n > 1000)")
    await shot(page, "patient-share-ohif-desktop")
    assert any(u.startswith(f"{link}/dicomweb/studies/{study['study_uid']}/series") for u in urls)
    assert any(u.startswith(f"{link}/dicomweb/") and "/frames/" in u for u in urls)
    assert not any(u.startswith("/dicomweb") for u in urls), "only the link's root is read"
    assert not [f for f in failed if "/dicomweb" in f[1] or "/viewer" in f[1]], failed
    reads = await AuditLog.select(AuditLog.detail).where(
        AuditLog.action == "patient_share.dicomweb", AuditLog.outcome == "success"
    )
    assert any("dicomweb.frames" in r["detail"] for r in reads)
