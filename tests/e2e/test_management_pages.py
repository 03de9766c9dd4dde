"""Management platform pages in real headless Chromium against the real app (SPEC 8.1–8.3,
8.10): an admin logs in through the UI and does the main thing on every page."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest
from PIL import Image

from api.management.new_accounts import create_account
from kernel.domain import Kind
from store.tables import AuditLog, Hospital, Role, User
from store.uow import Ctx
from tests.e2e.conftest import login, shot
from tests.fixtures.hospitals import PASSWORD, Staff, make_hospital

pytestmark = pytest.mark.e2e

TEMPLATES = Path(__file__).resolve().parents[2] / "ui" / "templates" / "manage"


@dataclass
class Place:
    id: int
    code: str
    admin: str


@pytest.fixture
async def place(demo, uniq) -> Place:
    """A fresh hospital of the demo alliance with an admin who may log in straight away."""
    made = await make_hospital(
        None,
        uniq,
        prefix="UI-",
        name="Browser Hospital {code} 浏览器医院",
        demo_alliance=True,
        department=None,
        staff={"admin": Staff(admin=True, prefix="uiadmin.", display_name="UI Admin", login=False)},
    )
    return Place(made.id, made.code, made["admin"].username)


def accept_dialogs(page) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []

    async def accept(dialog) -> None:  # type: ignore[no-untyped-def]
        seen.append(dialog.message)
        await dialog.accept()

    page.on("dialog", accept)
    return seen


async def admin_page(context, app_url: str, place: Place, dialogs: bool = False) -> Any:  # type: ignore[no-untyped-def]
    """A new page logged in as the place's admin and, with ``dialogs``, the list the
    messages of its dialogs go to (each accepted): ``(page, messages)``."""
    page = await context.new_page()
    seen = accept_dialogs(page) if dialogs else []
    await login(page, app_url, place.admin, PASSWORD, admin=True)
    return page, seen


async def wait_until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def no_horizontal_scroll(page) -> None:  # type: ignore[no-untyped-def]
    width = await page.evaluate("document.documentElement.scrollWidth")
    viewport = await page.evaluate("window.innerWidth")
    assert width <= viewport + 1, f"page is {width}px wide in a {viewport}px window"


async def test_hospital_information_logo_and_qr(context, app_url, place, tmp_path) -> None:
    page, _ = await admin_page(context, app_url, place)
    assert page.url.endswith("/manage")
    await page.wait_for_selector("[data-testid=hospital-name]")
    assert "Browser Hospital" in await page.inner_text("[data-testid=hospital-name]")
    assert await page.inner_text("[data-testid=storage-used]") == "0 B"
    assert await page.is_visible("[data-testid=no-logo]")
    logo = tmp_path / "logo.png"
    Image.new("RGB", (120, 60), (11, 107, 203)).save(logo)
    await page.set_input_files("#logo-file", str(logo))
    await page.click("#logo-form button[type=submit]")
    await page.wait_for_selector("img[data-testid=logo]")
    # the element appears before its bytes arrive: wait for the decoded image, not the tag
    await page.wait_for_function(
        "() => { const i = document.querySelector('img[data-testid=logo]');"
        " return i && i.complete && i.naturalWidth > 0; }"
    )
    loaded = await page.eval_on_selector("img[data-testid=logo]", "img => img.naturalWidth")
    assert loaded == 120
    async with page.expect_download() as info:
        await page.click("#qr-download")
    download = await info.value
    assert download.suggested_filename == f"hospital-{place.code}-qr.png"
    saved = tmp_path / "qr.png"
    await download.save_as(saved)
    assert Image.open(saved).format == "PNG"
    await shot(page, "manage-hospital")
    # the QR's link opens the doctors' login page named after the hospital
    scanned = await context.new_page()
    await scanned.goto(f"{app_url}/login?hospital={place.code}")
    assert "Browser Hospital" in await scanned.inner_text("#hospital-brand")
    await shot(scanned, "login-from-hospital-qr")
    await scanned.goto(f"{app_url}/login?hospital=NO-SUCH-CODE")
    assert await scanned.locator("#hospital-brand").count() == 0


async def test_refused_logo_shows_the_reason(context, app_url, place, tmp_path) -> None:
    page, _ = await admin_page(context, app_url, place)
    fake = tmp_path / "logo.png"
    fake.write_text("not an image at all")
    await page.set_input_files("#logo-file", str(fake))
    await page.click("#logo-form button[type=submit]")
    message = page.locator("#logo-form [data-msg]")
    await message.wait_for()
    assert "PNG or JPEG" in await message.inner_text()
    row = await Hospital.select(Hospital.logo_file).where(Hospital.id == place.id).first()
    assert row["logo_file"] == ""


async def test_departments_create_edit_deactivate(context, app_url, place, uniq) -> None:
    page, _ = await admin_page(context, app_url, place, dialogs=True)
    await page.click("header nav summary:has-text('Management')")  # the grouped menu
    await page.click("header nav >> text=Departments")
    await page.wait_for_url("**/manage/departments")
    name = uniq("Radiology 放射科 ")
    await page.fill("#d-name", name)
    await page.fill("#d-phone", "0571-8888")
    await page.fill("#d-description", "CT, MR and X-ray")
    await page.click("#department-form button[type=submit]")
    row = page.locator(f"#departments tr[data-name='{name}']")
    await row.wait_for()
    assert "0571-8888" in await row.inner_text()
    await row.locator("summary").click()
    await row.locator("textarea[name=description]").fill("CT and MR only")
    async with page.expect_navigation():  # the form reloads the page
        await row.locator("details form button[type=submit]").click()
    row = page.locator(f"#departments tr[data-name='{name}']")
    await row.locator("div.muted", has_text="CT and MR only").wait_for()
    await row.get_by_role("button", name="Deactivate", exact=True).click()
    await row.get_by_role("button", name="Activate", exact=True).wait_for()
    assert "Inactive" in await row.inner_text()
    await shot(page, "manage-departments")


async def test_doctors_create_freeze_unfreeze_reset(context, app_url, place, uniq) -> None:
    page, dialogs = await admin_page(context, app_url, place, dialogs=True)
    await page.goto(f"{app_url}/manage/departments")
    await page.fill("#d-name", "Ultrasound 超声科")
    await page.click("#department-form button[type=submit]")
    await page.locator("#departments tr[data-name='Ultrasound 超声科']").wait_for()
    await page.goto(f"{app_url}/manage/doctors")
    username = uniq("dr.ui.")
    await page.fill("#n-username", username)
    await page.fill("#n-display", "Sun Li 孙立")
    await page.fill("#n-email", "sun@example.org")
    await page.select_option("#n-dept", label="Ultrasound 超声科")
    await page.select_option("#n-role", label="Radiologist")
    await page.click("#doctor-form button[type=submit]")
    secret = page.locator("[data-testid=temporary-password]")
    await secret.wait_for()
    temporary = await secret.inner_text()
    assert len(temporary) >= 12
    await shot(page, "manage-doctors-created")
    await page.click("[data-secret-box] button")
    row = page.locator(f"#doctors tr[data-username='{username}']")
    await row.wait_for()
    text = await row.inner_text()
    assert "Sun Li 孙立" in text and "Ultrasound 超声科" in text and "Radiologist" in text
    await row.get_by_role("button", name="Freeze", exact=True).click()
    await row.get_by_role("button", name="Unfreeze", exact=True).wait_for()
    assert "Frozen" in await row.locator("[data-testid=status]").inner_text()
    user = await User.select(User.frozen_reason).where(User.username == username).first()
    assert user["frozen_reason"] == "admin"
    await shot(page, "manage-doctors-frozen")
    await row.get_by_role("button", name="Unfreeze", exact=True).click()
    await row.get_by_role("button", name="Freeze", exact=True).wait_for()
    assert "Active" in await row.locator("[data-testid=status]").inner_text()
    await row.get_by_role("button", name="Reset password", exact=True).click()
    reset = row.locator("[data-testid=temporary-password]")
    await reset.wait_for()
    assert await reset.inner_text() != temporary
    assert any("Reset the password" in d for d in dialogs)
    await page.fill("#s-q", "孙立")
    await page.click("#doctor-search button[type=submit]")
    await page.wait_for_url(re.compile(r".*q=.*"))
    assert await page.locator("#doctors tbody tr").count() == 1
    assert "1" in await page.inner_text("[data-testid=doctor-total]")
    await shot(page, "manage-doctors")


async def test_roles_toggle_a_permission(context, app_url, place, uniq) -> None:
    page, dialogs = await admin_page(context, app_url, place, dialogs=True)
    await page.goto(f"{app_url}/manage/roles")
    name = uniq("Reviewer ")
    await page.fill("#n-role-name", name)
    await page.check("#role-form input[value='report.review']")
    await page.click("#role-form button[type=submit]")
    card = page.locator(f"section.role[data-role='{name}']")
    await card.wait_for()
    assert await card.locator("input[value='report.review']").is_checked()
    await card.locator("input[value='statistics.view']").check()
    await card.locator("input[value='report.review']").uncheck()
    async with page.expect_navigation():  # the form reloads the page
        await card.get_by_role("button", name="Save", exact=True).click()
    card = page.locator(f"section.role[data-role='{name}']")
    await card.wait_for()
    assert await card.locator("input[value='statistics.view']").is_checked()
    assert not await card.locator("input[value='report.review']").is_checked()
    row = await Role.select(Role.permissions, Role.version).where(
        Role.hospital == place.id, Role.name == name
    )
    assert msgspec.json.decode(row[0]["permissions"]) == ["statistics.view"]
    assert row[0]["version"] == 2
    await shot(page, "manage-roles")
    # a role someone has cannot be deleted: the page says why
    await create_account(
        Ctx(),
        username=uniq("dr.role."),
        password=PASSWORD,
        display_name="Holder",
        kind=Kind.doctor,
        alliance_id=None,
        hospital_id=place.id,
        role_id=(await Role.select(Role.id).where(Role.hospital == place.id, Role.name == name))[0][
            "id"
        ],
    )
    await card.get_by_role("button", name="Delete role", exact=True).click()
    await wait_until(lambda: any("still given to 1 user" in d for d in dialogs))
    assert await Role.exists().where(Role.hospital == place.id, Role.name == name)


async def test_stale_role_edit_shows_conflict(context, app_url, place) -> None:
    page, _ = await admin_page(context, app_url, place)
    await page.goto(f"{app_url}/manage/roles")
    card = page.locator("section.role[data-role='Clinician']")
    await Role.update({Role.version: Role.version + 1}).where(
        Role.hospital == place.id, Role.name == "Clinician"
    )  # someone else saved in the meantime
    await card.locator("input[value='share']").uncheck()
    await card.get_by_role("button", name="Save", exact=True).click()
    message = card.locator("[data-msg]")
    await message.wait_for()
    assert "Someone else changed this role" in await message.inner_text()


async def test_audit_filter_and_csv(context, app_url, place, tmp_path) -> None:
    page, _ = await admin_page(context, app_url, place)
    await page.goto(f"{app_url}/manage/departments")
    await page.fill("#d-name", "Pathology 病理科")
    await page.click("#department-form button[type=submit]")
    await page.locator("#departments tr[data-name='Pathology 病理科']").wait_for()
    await page.click("header nav summary:has-text('Logs')")  # the grouped menu
    await page.click("header nav >> text=Audit log")
    await page.wait_for_url("**/manage/audit")
    assert await page.locator("#audit-table tbody tr").count() >= 2
    await page.fill("#f-action", "department.create")
    await page.select_option("#f-outcome", "success")
    await page.click("#audit-filter button[type=submit]")
    await page.wait_for_url(re.compile(r".*action=department\.create.*"))
    rows = page.locator("#audit-table tbody tr")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('#audit-table tbody tr')].length === 1"
    )
    text = await rows.first.inner_text()
    assert "Create department" in text and "Pathology 病理科" in text and place.admin in text
    code = rows.first.locator("[data-code]")
    assert await code.get_attribute("data-code") == "department.create"  # its label's tooltip
    assert await page.evaluate("typeof window.htmx") == "object"
    async with page.expect_download() as info:
        await page.click("#audit-export")
    download = await info.value
    saved = tmp_path / "audit.csv"
    await download.save_as(saved)
    raw = saved.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(lines) == 2 and lines[1][2] == "department.create"
    assert lines[1][-1] == "Pathology 病理科"
    await shot(page, "manage-audit")
    exported = await AuditLog.select(AuditLog.id).where(
        AuditLog.username == place.admin, AuditLog.action == "audit.export"
    )
    assert exported


async def test_audit_paging_with_htmx(context, app_url, place, uniq) -> None:
    who = uniq("paged.")
    await AuditLog.insert(
        *[
            AuditLog(
                at=datetime.now(UTC),
                username=who,
                hospital_id=place.id,
                action="test.paging",
                target_id=str(i),
            )
            for i in range(60)
        ]
    )
    page, _ = await admin_page(context, app_url, place)
    await page.goto(f"{app_url}/manage/audit")
    await page.fill("#f-user", who)
    await page.click("#audit-filter button[type=submit]")
    await page.wait_for_url(re.compile(r".*user=paged.*"))
    rows = page.locator("#audit-table tbody tr")
    await page.wait_for_function(
        "() => document.querySelectorAll('#audit-table tbody tr').length === 50"
    )
    assert "test.paging" in await rows.first.inner_text()
    await page.click("#audit-older")
    await page.wait_for_url(re.compile(r".*before=\d+.*"))
    await page.wait_for_function(
        "() => document.querySelectorAll('#audit-table tbody tr').length === 10"
    )
    assert await page.locator("#audit-older").count() == 0
    await page.click("#audit-newer")
    await page.wait_for_url(re.compile(r".*after=\d+.*"))
    await page.wait_for_function(
        "() => document.querySelectorAll('#audit-table tbody tr').length === 50"
    )
    assert await page.locator("#audit-newer").count() == 0
    await page.reload()  # the pushed URL is a whole page of its own
    assert await rows.count() == 50
    assert await page.locator("#audit-filter").count() == 1


async def test_alliance_admin_hospitals(context, app_url, demo, uniq) -> None:
    page = await context.new_page()
    await login(page, app_url, "alliance.admin", demo["password"], admin=True)
    assert page.url.endswith("/manage/hospitals")
    assert await page.locator("#hospitals tr[data-code='CITY']").count() == 1
    # aggregates instead of patients (SPEC "Users"; issue 12): counts per hospital, and no
    # way into the examinations, studies or migrations in the menu
    city = page.locator("#hospitals tr[data-code='CITY']")
    assert int(await city.locator("[data-testid=studies]").inner_text()) >= 1
    assert int(await city.locator("[data-testid=examinations]").inner_text()) >= 1
    for link in ("/exams", "/studies", "/manage/migrations", "/manage/data"):
        assert not await page.locator(f"header a[href='{link}']").count(), link
    code = uniq("NEW-")
    await page.fill("#n-name", "New Town Clinic 新城诊所")
    await page.fill("#n-code", code)
    await page.select_option("#n-level", "lower")
    await page.uncheck("#hospital-create-form input[value='cloud_film']")
    await page.click("#hospital-create-form button[type=submit]")
    row = page.locator(f"#hospitals tr[data-code='{code}']")
    await row.wait_for()
    assert "Cloud film" not in await row.inner_text()
    assert "Remote diagnosis" in await row.inner_text()
    await shot(page, "manage-hospitals")
    await row.get_by_role("link", name="Manage").click()
    await page.wait_for_url(re.compile(r".*/manage/hospitals/\d+$"))
    await page.uncheck("#modules-form input[value='teaching']")
    async with page.expect_navigation():  # the form reloads the page
        await page.click("#modules-form button[type=submit]")
    await page.locator("#modules-form").wait_for()
    assert not await page.is_checked("#modules-form input[value='teaching']")
    hospital = await Hospital.select(Hospital.id, Hospital.modules).where(Hospital.code == code)
    assert "teaching" not in msgspec.json.decode(hospital[0]["modules"])
    await page.fill("#h-phone", "0571-1234567")
    await page.fill("#h-quota", "50")
    async with page.expect_navigation():  # the form reloads the page
        await page.click("#hospital-form button[type=submit]")
    await page.locator("[data-testid=storage]").get_by_text("50.0 GB").wait_for()
    admin = uniq("newadmin.")
    await page.fill("#a-username", admin)
    await page.fill("#a-display", "New Town Admin")
    await page.click("#admin-form button[type=submit]")
    await page.locator("[data-testid=temporary-password]").wait_for()
    await page.click("[data-secret-box] button")
    await page.locator("[data-testid=admins]").get_by_text(admin).wait_for()
    await shot(page, "manage-hospital-detail")
    # the alliance admin freezes the new hospital admin, then unfreezes him
    accept_dialogs(page)
    actions = page.locator(f"[data-testid='admin-actions-{admin}']")
    async with page.expect_navigation():
        await actions.get_by_role("button", name="Freeze").click()
    row = page.locator("[data-testid=admins] tr", has_text=admin)
    await row.get_by_text("Frozen").wait_for()
    frozen = await User.select(User.frozen).where(User.username == admin).first()
    assert frozen["frozen"] is True
    async with page.expect_navigation():
        await actions.get_by_role("button", name="Unfreeze").click()
    await row.get_by_text("Active").wait_for()


async def test_who_may_open_which_page(browser, app_url, demo, place) -> None:
    anonymous = await browser.new_context()
    page = await anonymous.new_page()
    await page.goto(f"{app_url}/manage/doctors")
    assert page.url.endswith("/admin/login?next=/manage/doctors")
    await anonymous.close()
    doctor = await browser.new_context()
    page = await doctor.new_page()
    await login(page, app_url, "dr.wang", demo["password"])
    await page.goto(f"{app_url}/manage/roles")
    assert "/admin/login?next=/manage/roles" in page.url
    await doctor.close()
    alliance = await browser.new_context(locale="en-US")
    page = await alliance.new_page()
    await login(page, app_url, "alliance.admin", demo["password"], admin=True)
    res = await page.goto(f"{app_url}/manage/doctors")
    assert res.status == 403
    assert "hospital administrators" in await page.inner_text("main")
    await shot(page, "manage-forbidden")
    res = await page.goto(f"{app_url}/exams")
    assert res is not None and res.status == 403
    assert "never a patient's data" in await page.inner_text("main")
    await shot(page, "alliance-no-patient-data")
    await alliance.close()
    hospital = await browser.new_context()
    page = await hospital.new_page()
    await login(page, app_url, place.admin, PASSWORD, admin=True)
    res = await page.goto(f"{app_url}/manage/hospitals")
    assert res.status == 403
    other = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
    res = await page.goto(f"{app_url}/manage/hospitals/{other['id']}")
    assert res.status == 403
    await hospital.close()


async def test_phone_size(phone, app_url, place, uniq) -> None:
    page = await phone.new_page()
    await login(page, app_url, place.admin, PASSWORD, admin=True)
    await no_horizontal_scroll(page)
    await shot(page, "manage-phone-hospital")
    await page.goto(f"{app_url}/manage/departments")
    await page.fill("#d-name", "Phone Dept 手机科室")
    await page.click("#department-form button[type=submit]")
    await page.locator("#departments tr[data-name='Phone Dept 手机科室']").wait_for()
    await page.goto(f"{app_url}/manage/doctors")
    await page.fill("#n-username", uniq("dr.phone."))
    await page.fill("#n-display", "Phone Doctor 手机医生")
    await page.fill("#n-password", PASSWORD)
    await page.click("#doctor-form button[type=submit]")
    await page.locator("[data-secret-box] button").click()
    await page.locator("#doctors tbody tr").first.wait_for()
    await no_horizontal_scroll(page)
    await shot(page, "manage-phone-doctors")
    await page.goto(f"{app_url}/manage/audit")
    await page.locator("#audit-table").wait_for()
    await no_horizontal_scroll(page)
    await shot(page, "manage-phone-audit")
    await page.goto(f"{app_url}/manage/roles")
    await no_horizontal_scroll(page)
    await shot(page, "manage-phone-roles")


async def test_pages_in_chinese(browser, app_url, place) -> None:
    ctx = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 860})
    page = await ctx.new_page()
    await login(page, app_url, place.admin, PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/doctors")
    body = await page.inner_text("main")
    assert "新建医生" in body and "New doctor" not in body
    await shot(page, "manage-doctors-zh")
    await page.goto(f"{app_url}/manage/roles")
    assert "书写报告" in await page.inner_text("main")
    await ctx.close()


def test_every_page_string_has_chinese() -> None:
    """Every ``_('…')`` of every template has its Chinese in the catalogue."""
    from kernel.i18n import translations
    from ui.management_pages import PERMISSION_LABELS

    zh = translations("zh")

    missing = set()
    for template in TEMPLATES.parent.rglob("*.html"):
        for text in re.findall(r"_\('((?:[^'\\]|\\.)*)'\)", template.read_text()):
            if zh.gettext(text) == text:
                missing.add(f"{template.relative_to(TEMPLATES.parent)}: {text}")
    missing |= {label for label in PERMISSION_LABELS.values() if zh.gettext(label) == label}
    assert not missing, sorted(missing)
