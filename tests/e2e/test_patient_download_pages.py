"""The original images' download in real headless Chromium on a 390×844 touch phone, in
Chinese (issue 15 point 7, SPEC 10.6): she logs in with her code, opens her examination,
asks for the security code (read from its outbox row, as the login code is), enters a
wrong one (the tries left shown), then the right one, and downloads the zip: its headers,
and its DICOMDIR naming every stored instance."""

from __future__ import annotations

from pathlib import Path

import pytest

from store.tables import Examination, PatientDownload
from tests.e2e.conftest import fits_the_phone, patient_login, phone_context, shot
from tests.fixtures.downloads import check_zip, download_code
from tests.fixtures.exams import make_place, study_with_images
from tests.fixtures.patients import make_person, match_patient, new_phone
from tests.integration.test_cloud_film import set_default

pytestmark = pytest.mark.e2e


async def test_download_on_her_phone(  # type: ignore[no-untyped-def]
    browser, app_url: str, new_api, uniq, tmp_path: Path
) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, allow_download=True)
    study = await study_with_images(place.hospital_id, tmp_path / "study")
    exam = await Examination.select().where(Examination.id == study["exam_id"]).first()
    assert exam is not None
    phone = new_phone()
    person = await make_person(str(exam["patient_name"]).split(" ", 1)[0], phone=f"86{phone}")
    await match_patient(person["id"], place.hospital_id, exam["id"])

    ctx = await phone_context(browser, locale="zh-CN")
    page = await ctx.new_page()
    await page.goto(f"{app_url}/patient/examinations/{exam['id']}")
    assert "/patient/login" in page.url
    await patient_login(page, phone)
    await page.wait_for_url(f"**/patient/examinations/{exam['id']}")

    await page.wait_for_selector("#download-ask")
    assert "下载原始影像" in await page.inner_text("#download")
    await page.click("#download-ask")
    await page.wait_for_selector("#download-code-form:not([hidden])")
    assert "安全码已发送至" in await page.inner_text("#download-status")
    row = (
        await PatientDownload.select(PatientDownload.id)
        .where(PatientDownload.examination == exam["id"])
        .order_by(PatientDownload.id, ascending=False)
        .first()
    )
    assert row is not None
    code = await download_code(row["id"])
    await page.fill("#download-code", "000000" if code != "000000" else "111111")
    await page.click("#download-code-form button[type=submit]")
    await page.wait_for_selector("#download-status.error")
    assert "还可尝试 9 次" in await page.inner_text("#download-status")
    await page.fill("#download-code", code)
    await page.click("#download-code-form button[type=submit]")
    await page.wait_for_selector("#download-ready:not([hidden])")
    await fits_the_phone(page)
    await shot(page, "patient-download")

    href = await page.get_attribute("#download-link", "href")
    assert href and href.startswith("/api/patient/downloads/")
    res = await page.request.get(f"{app_url}{href}")
    assert res.status == 200
    assert res.headers["content-type"] == "application/zip"
    assert res.headers["content-disposition"].startswith('attachment; filename="AIMIS-')
    files = await check_zip(await res.body(), study["id"], tmp_path / "unzipped")
    assert files >= 2
    async with page.expect_download() as download:  # the tap saves it as the zip
        await page.click("#download-link")
    saved = await download.value
    assert saved.suggested_filename.startswith("AIMIS-")
    assert saved.suggested_filename.endswith(".zip")
    await ctx.close()
