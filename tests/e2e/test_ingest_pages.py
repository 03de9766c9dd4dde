"""Cloud-migration pages in real headless Chromium against the real app (SPEC 8.10, 9.1):
a hospital admin uploads files and a zip, lands on the run, and watches it go from
"Received" to "Done" live while the migration steps run; reads every file's outcome and the
history; finds the billed rows in the migration log; manages DICOM nodes. Chinese and phone
layouts."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from pydicom import dcmread

from api.ingest.steps import create_run, ingest_file
from api.ingest.upload import import_path
from flows.migration import migrate_inline
from imaging.synth import Sizes, synth
from store.tables import DicomNode, Hospital, MigrationItem, MigrationLog, MigrationRun
from store.uow import Ctx
from tests.e2e.conftest import login, shot
from tests.fixtures.hospitals import DEMO_PASSWORD as PASSWORD

pytestmark = pytest.mark.e2e


async def test_upload_then_watch_the_run_finish_live(app_url, context, tmp_path: Path) -> None:
    files = synth(tmp_path / "s", patients=1, sizes=Sizes.small())
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in files[4:]:
            zf.write(p, p.relative_to(tmp_path))
    junk = tmp_path / "notes.txt"
    junk.write_text("not an image")

    page = await context.new_page()
    await login(page, app_url, "admin.west", PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/migrations")
    assert await page.locator("#upload-button").is_disabled()
    await page.set_input_files("#pick-files", [str(p) for p in files[:4]] + [str(junk)])
    await page.set_input_files("#pick-zip", str(archive))
    assert re.match(r"6 file\(s\)", await page.inner_text("#chosen"))
    await shot(page, "ingest-upload-chosen")
    await page.click("#upload-button")
    await page.wait_for_url(re.compile(r"/manage/migrations/\d+$"), timeout=90000)  # under load
    run_id = int(page.url.rsplit("/", 1)[1])
    assert await page.inner_text("[data-testid=run-state]") == "Received"
    assert await page.locator("#item-table tbody tr").count() == 5 + len(files[4:])
    await shot(page, "ingest-run-received")

    # the dispatcher's flow does this in production; here the same steps run in-process
    assert await migrate_inline(run_id) == "notified"
    await page.wait_for_function(
        "() => document.querySelector('[data-testid=run-state]').textContent === 'Done'",
        timeout=15000,
    )
    assert await page.get_attribute("[data-progress]", "aria-valuenow") == "100"
    steps = await page.locator("#history [data-step]").evaluate_all(
        "els => els.map(e => e.dataset.step)"
    )
    assert steps == [
        "receive",
        "verify",
        "store",
        "index",
        "make_thumbnails",
        "bill",
        "match",
        "notify",
    ]
    refused = page.locator("#item-table tr[data-status=refused]")
    assert await refused.count() == 1
    assert "not-dicom" in await refused.inner_text() and "notes.txt" in await refused.inner_text()
    await shot(page, "ingest-run-done")

    await page.select_option("select[name=status]", "refused")
    async with page.expect_navigation(url=re.compile(r"status=refused"), timeout=60000):
        await page.click("#items button[type=submit]")  # under load: a minute
    assert await page.locator("#item-table tbody tr").count() == 1

    await page.goto(f"{app_url}/manage/migration-log")
    billed = await MigrationLog.count().where(MigrationLog.migration == run_id)
    assert billed == 3
    rows = page.locator("#log-table a", has_text=f"#{run_id}")
    assert await rows.count() == billed
    await shot(page, "ingest-log")
    async with page.expect_download() as download:
        await page.click("#csv")
    saved = await (await download.value).path()
    text = Path(saved).read_text(encoding="utf-8-sig")  # noqa: ASYNC240
    assert text.startswith("Time 时间") and f",{run_id}," in text


async def test_runs_list_shows_a_new_run_and_its_progress_live(
    app_url, context, tmp_path: Path
) -> None:
    page = await context.new_page()
    await login(page, app_url, "admin.east", PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/migrations")
    await page.wait_for_timeout(800)  # subscribed
    folder = tmp_path / "in"
    synth(folder, patients=1, sizes=Sizes.small())
    hid = (await Hospital.select(Hospital.id).where(Hospital.code == "EAST").first())["id"]
    run_id = await import_path(Ctx(), hid, folder, queue=False)
    await page.wait_for_selector(f"tr[data-run='{run_id}']", timeout=15000)
    await migrate_inline(run_id)
    await page.wait_for_function(
        f"() => document.querySelector(\"[data-progress='{run_id}']\")"
        ".getAttribute('aria-valuenow') === '100'",
        timeout=15000,
    )
    assert await page.inner_text(f"[data-testid=state-{run_id}]") == "Done"
    await shot(page, "ingest-runs-live")


async def test_dicom_nodes_page(app_url, context, phone, uniq) -> None:
    page = await context.new_page()
    await login(page, app_url, "admin.city", PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/dicom-nodes")
    assert "AE title AIMIS" in await page.inner_text("[data-testid=receiver]")
    title = uniq("CT")[:16].upper()
    await page.fill("#n-ae", title)
    await page.fill("#n-host", "10.0.0.21")
    await page.fill("#n-desc", "CT room 1")
    await page.click("#node-form button[type=submit]")
    await page.wait_for_selector(f"tr[data-node='{title}']")
    await shot(page, "ingest-nodes")
    await page.click(f"tr[data-node='{title}'] button:has-text('Disable')")
    await page.wait_for_selector(f"tr[data-node='{title}'] .state-failed")
    node = await DicomNode.select().where(DicomNode.ae_title == title).first()
    assert node["enabled"] is False and node["host"] == "10.0.0.21"
    page.on("dialog", lambda d: d.accept())
    await page.click(f"tr[data-node='{title}'] button:has-text('Remove')")
    await page.wait_for_selector(f"tr[data-node='{title}']", state="detached")
    # the removal reloads the page: its deferred app.js may not have run yet
    await page.wait_for_function("() => window.aimis !== undefined")
    bad = await page.evaluate(
        "aimis.api('POST', '/api/ingest/nodes', {ae_title: 'BAD\\\\TITLE'}).catch(e => e.message)"
    )
    assert "16 printable ASCII" in bad

    # without an address the admin must say "any address" explicitly (issue 12)
    anywhere = uniq("US")[:16].upper()
    await page.fill("#n-ae", anywhere)
    await page.click("#node-form button[type=submit]")
    await page.wait_for_selector("#node-form [data-msg].error")
    assert "tick 'any address'" in await page.inner_text("#node-form [data-msg]")
    assert not await DicomNode.exists().where(DicomNode.ae_title == anywhere)
    await page.check("#n-any")
    await page.click("#node-form button[type=submit]")
    await page.wait_for_selector(f"tr[data-node='{anywhere}']")
    cell = f"tr[data-node='{anywhere}'] [data-testid=node-address]"
    assert await page.inner_text(cell) == "any address"
    node = await DicomNode.select().where(DicomNode.ae_title == anywhere).first()
    assert (node["host"], node["any_address"]) == ("", True)

    small = await phone.new_page()
    await login(small, app_url, "admin.city", PASSWORD, admin=True)
    await small.goto(f"{app_url}/lang/zh")
    await small.goto(f"{app_url}/manage/migrations")
    assert "云胶片迁移" in await small.inner_text("h1")
    await shot(small, "ingest-runs-phone-zh")
    run = (
        await MigrationRun.select(MigrationRun.id)
        .where(MigrationRun.source_detail == "demo studies")
        .first()
    )
    await small.goto(f"{app_url}/manage/migrations/{run['id']}")
    assert "完成" in await small.inner_text("[data-testid=run-state]")
    await shot(small, "ingest-run-phone-zh")


async def test_a_folder_upload_keeps_the_relative_names(app_url, context, tmp_path: Path) -> None:
    folder = tmp_path / "exam-folder"
    written = synth(folder, patients=1, sizes=Sizes.small())
    page = await context.new_page()
    await login(page, app_url, "admin.west", PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/migrations")
    await page.set_input_files("#pick-folder", str(folder))
    assert (await page.inner_text("#chosen")).startswith(f"{len(written)} file(s)")
    await page.click("#upload-button")
    await page.wait_for_url(re.compile(r"/manage/migrations/\d+$"), timeout=90000)  # under load
    run_id = int(page.url.rsplit("/", 1)[1])
    names = await MigrationItem.select(MigrationItem.file_name).where(
        MigrationItem.migration == run_id
    )
    expected = {f"exam-folder/{p.relative_to(folder)}" for p in written}
    assert {n["file_name"] for n in names} == expected


async def test_the_list_and_the_run_page_name_outcomes_and_revisions_alike(
    app_url, context, tmp_path: Path
) -> None:
    """Issue 14 (A, B): an instance sent again under another file meta header is a
    duplicate; a changed one is revision 2 on the run page; the runs list and the page name
    refused files in the same word."""
    [first] = synth(tmp_path / "v", patients=1, sizes=Sizes.small())[:1]
    ds = dcmread(first)
    ds.file_meta.ImplementationVersionName = "OTHER_WRITER"
    header = tmp_path / "header.dcm"
    ds.save_as(header, enforce_file_format=True)
    ds.ImageComments = "corrected"
    changed = tmp_path / "changed.dcm"
    ds.save_as(changed, enforce_file_format=True)
    west = await Hospital.select(Hospital.id).where(Hospital.code == "WEST").first()
    run_id = await create_run(Ctx(), west["id"], "import", "revisions")
    for path in (first, header, changed):
        await ingest_file(run_id, path, file_name=path.name)
    await ingest_file(run_id, b"no image", file_name="notes.txt")

    page = await context.new_page()
    await login(page, app_url, "admin.west", PASSWORD, admin=True)
    await page.goto(f"{app_url}/manage/migrations")
    counts = " ".join((await page.inner_text(f"[data-counts='{run_id}']")).split())
    assert counts == "Stored 1 · Duplicate 1 · New version 1 · Refused 1"
    await page.click(f"#run-table a[href='/manage/migrations/{run_id}']")
    await page.wait_for_url(re.compile(rf"/manage/migrations/{run_id}$"))
    summary = " ".join((await page.inner_text("[data-testid=counts]")).split())
    assert "Stored: 1 Duplicate: 1 New version: 1 Refused: 1 Failed: 0" in summary
    rows = page.locator("#item-table tbody tr")
    texts = [" ".join(t.split()) for t in await rows.all_inner_texts()]
    assert "Stored Revision 1" in texts[0]
    assert "Duplicate" in texts[1] and "only the file meta header differs" in texts[1]
    assert "New version Revision 2" in texts[2]
    assert "Refused" in texts[3] and "Revision" not in texts[3]
    await shot(page, "ingest-run-revisions")
