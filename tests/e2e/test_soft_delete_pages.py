"""Soft delete and restore seen in real headless Chromium (SPEC 8.11): while a doctor's
examination list is open, the hospital admin deletes one of its examinations on the data
maintenance page; the row and its count leave the doctor's list without a reload, its page is
"not found" and the search no longer finds it; the admin restores it from the deleted list and
it is back in the open list, and its page opens."""

from __future__ import annotations

import pytest

from store.tables import Examination, Study
from tests.e2e.conftest import login, shot
from tests.fixtures.exams import make_exam, make_place
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.e2e
LIVE = 20_000  # the event table tail, then a re-fetch: slow on a loaded 2-core CI


async def listed(page) -> list[str]:  # type: ignore[no-untyped-def]
    return await page.locator("table.x-list tbody tr").evaluate_all(
        "trs => trs.map(t => t.dataset.id)"
    )


async def total(page) -> str:  # type: ignore[no-untyped-def]
    return (await page.locator("[data-testid=counts] a[data-status=''] b").inner_text()).strip()


async def test_the_list_loses_a_deleted_examination_and_gets_it_back_restored(
    browser, app_url, new_api, uniq
) -> None:
    place = await make_place(new_api, uniq)
    kept = await make_exam(place.hospital_id, name="WANG^FANG=王芳", date="20260110")
    gone = await make_exam(place.hospital_id, name="LI^LEI=李雷", date="20260112")
    exam = await Examination.select(Examination.study).where(Examination.id == gone).first()
    study = await Study.select().where(Study.id == exam["study"]).first()

    doctor_ctx = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    admin_ctx = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    try:
        doctor = await doctor_ctx.new_page()
        await login(doctor, app_url, place.doctor_name, PASSWORD)
        await doctor.goto(f"{app_url}/exams")
        await doctor.wait_for_selector("#live-state[data-connected]")
        assert await listed(doctor) == [str(gone), str(kept)]
        assert await total(doctor) == "2"

        admin = await admin_ctx.new_page()
        admin.on("dialog", lambda dialog: dialog.accept())
        await login(admin, app_url, place.admin_name, PASSWORD, admin=True)
        await admin.goto(f"{app_url}/manage/data")
        await admin.fill("input[name=q]", study["patient_id"])
        await admin.click("#find button[type=submit]")
        row = admin.locator(f"#found-studies tr[data-study='{study['id']}']")
        await row.locator("summary").click()
        await row.locator("input[name=reason]").fill("Sent to the wrong patient's folder")
        await row.locator(".delete-form button[type=submit]").click()
        deleted = admin.locator(f"#deleted-studies tr[data-study='{study['id']}']")
        await deleted.wait_for()

        # the doctor's open list hears of it: the row and its count go, no reload
        await doctor.wait_for_selector(f"tr[data-id='{gone}']", state="detached", timeout=LIVE)
        assert await listed(doctor) == [str(kept)]
        assert await total(doctor) == "1"
        await shot(doctor, "exams-list-after-delete")
        opened = await doctor.goto(f"{app_url}/exams/{gone}")
        assert opened is not None and opened.status == 404
        await doctor.goto(f"{app_url}/exams?q=li")
        assert await listed(doctor) == []

        await doctor.goto(f"{app_url}/exams")
        await doctor.wait_for_selector("#live-state[data-connected]")
        await deleted.locator("button.restore").click()
        await deleted.wait_for(state="detached")
        await doctor.wait_for_selector(f"tr[data-id='{gone}']", timeout=LIVE)  # live again
        assert await listed(doctor) == [str(gone), str(kept)]
        assert await total(doctor) == "2"
        await shot(doctor, "exams-list-after-restore")
        opened = await doctor.goto(f"{app_url}/exams/{gone}")
        assert opened is not None and opened.status == 200
    finally:
        await doctor_ctx.close()
        await admin_ctx.close()
