"""A printed report's QR code scanned on a 390×844 phone (issue 15 point 8), in real
headless Chromium: the code's URL sends her to the login, her code logs her in, and she
lands on that examination in her archive — matched by the scan, her verified name agreeing.
A damaged code is a page that says so."""

from __future__ import annotations

import re

import pytest

from api.patient_archive import qr
from store.tables import Examination, PatientMatch
from tests.e2e.conftest import fits_the_phone, patient_login, phone_context, shot
from tests.fixtures.exams import make_exam, make_place
from tests.fixtures.patients import make_person, new_phone
from tests.integration.test_cloud_film import set_default

pytestmark = pytest.mark.e2e


async def test_she_scans_the_code_logs_in_and_lands_on_the_examination(  # type: ignore[no-untyped-def]
    browser, app_url: str, new_api, uniq
) -> None:
    place = await make_place(new_api, uniq)
    await set_default(place.admin, visible_when="at_once")
    exam_id = await make_exam(place.hospital_id, name="TANG^WEI=唐薇")
    exam = await Examination.select().where(Examination.id == exam_id).first()
    assert exam is not None
    phone = new_phone()
    person = await make_person("唐薇", phone=f"86{phone}")
    token = qr.make_token(exam_id)

    ctx = await phone_context(browser, locale="zh-CN")
    page = await ctx.new_page()
    await page.goto(f"{app_url}{qr.PATH}{token[:-2]}xx")  # a damaged code
    await page.wait_for_selector("#qr-refused")
    assert "二维码" in (await page.text_content("#qr-refused") or "")
    await fits_the_phone(page)
    await shot(page, "patient-qr-refused-phone")

    await page.goto(f"{app_url}{qr.PATH}{token}")
    await page.wait_for_url(re.compile(r"/patient/login\?next=/patient/qr/"))
    await patient_login(page, phone)
    await page.wait_for_url(f"**/patient/examinations/{exam_id}")
    await page.wait_for_selector("#exam-head")
    assert "唐薇" in (await page.text_content("#exam-head") or "")
    await fits_the_phone(page)
    await shot(page, "patient-qr-landed-phone")
    [match] = await PatientMatch.select(PatientMatch.person, PatientMatch.how).where(
        PatientMatch.examination == exam_id, PatientMatch.unmatched_at.is_null()
    )
    assert match == {"person": person["id"], "how": "qr"}
    await ctx.close()
