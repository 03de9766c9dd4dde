"""The study list and the mobile viewer in real headless Chromium against the real app, on
studies that went through the real ingest function (synthetic DICOM, imaging/synth.py)."""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from pydicom import dcmread

from api.ingest.steps import create_run, ingest_file
from imaging.synth import Sizes, synth
from store.tables import AuditLog
from store.uow import Ctx
from tests.conftest import unique
from tests.e2e.conftest import login, shot
from tests.fixtures.hospitals import PASSWORD, Staff, make_hospital

pytestmark = pytest.mark.e2e


@dataclass
class Study:
    uid: str
    patient_id: str
    patient_name: str
    date: str  # YYYYMMDD
    modality: str
    images: int  # frames of all its instances


@dataclass
class Place:
    hospital_id: int
    admin: str
    doctor: str
    studies: dict[str, Study] = field(default_factory=dict)

    def by_modality(self, modality: str) -> Study:
        return next(s for s in self.studies.values() if s.modality == modality)


async def imaging_place(prefix: str, patients: int) -> Place:
    """A fresh hospital of the demo alliance, its admin and a doctor, and ``patients``
    synthetic patients' studies ingested into it."""
    made = await make_hospital(
        None,
        unique,
        prefix=prefix,
        name="Imaging {code} 影像医院",
        demo_alliance=True,
        department=None,
        staff={
            "admin": Staff(
                admin=True, prefix="img.admin.", display_name="Imaging hospital_admin", login=False
            ),
            "doctor": Staff(prefix="img.doc.", display_name="Imaging doctor", login=False),
        },
    )
    hospital_id = made.id
    place = Place(hospital_id, made["admin"].username, made["doctor"].username)
    paths = synth(
        Path(tempfile.mkdtemp(prefix="aimis-viewer-")), patients=patients, sizes=Sizes.small()
    )
    run_id = await create_run(Ctx(), hospital_id, "import", "viewer tests")
    for path in paths:
        result = await ingest_file(run_id, path, file_name=path.name)
        assert result.ok, (path, result)
        ds = dcmread(path, stop_before_pixels=True)
        uid = str(ds.StudyInstanceUID)
        study = place.studies.setdefault(
            uid,
            Study(
                uid, str(ds.PatientID), str(ds.PatientName), str(ds.StudyDate), str(ds.Modality), 0
            ),
        )
        study.images += int(ds.get("NumberOfFrames", 1) or 1)
    return place


@pytest.fixture(scope="module")
async def home(demo) -> Place:
    return await imaging_place("IMG-", patients=2)


@pytest.fixture(scope="module")
async def other(demo) -> Place:
    return await imaging_place("IMGX-", patients=1)


async def rows(page) -> list[str]:  # type: ignore[no-untyped-def]
    return await page.locator("#study-table tbody tr[data-uid]").evaluate_all(
        "trs => trs.map(tr => tr.dataset.uid)"
    )


async def test_study_list_filters_and_compare(app_url, context, home: Place, other: Place):
    page = await context.new_page()
    await login(page, app_url, home.admin, PASSWORD, admin=True)
    await page.click("header nav summary:has-text('Imaging')")  # the grouped menu
    await page.click("header nav a[href='/studies']")
    await page.wait_for_selector("#study-table")
    listed = await rows(page)
    assert sorted(listed) == sorted(home.studies), "exactly this hospital's studies"
    assert not set(listed) & set(other.studies), "another hospital's studies are not listed"
    dates = [home.studies[u].date for u in listed]
    assert dates == sorted(dates, reverse=True), "newest examination first"
    await shot(page, "studies-list")

    ct = home.by_modality("CT")
    await page.fill("#f-pid", ct.patient_id)
    await page.select_option("#f-modality", "CT")
    await page.click("#study-filter button[type=submit]")
    await page.wait_for_url(re.compile(r"patient_id="))
    assert await rows(page) == [ct.uid]

    # a name as people type it: part of the ideographic group, or a latin prefix
    ideographic = ct.patient_name.split("=")[1].replace("^", "")[-1]
    await page.goto(f"{app_url}/studies?patient_name={ideographic}")
    wanted = {u for u, s in home.studies.items() if ideographic in s.patient_name}
    assert set(await rows(page)) == wanted and ct.uid in wanted

    day = f"{ct.date[:4]}-{ct.date[4:6]}-{ct.date[6:]}"
    await page.goto(f"{app_url}/studies?date_from={day}&date_to={day}")
    assert set(await rows(page)) == {u for u, s in home.studies.items() if s.date == ct.date}

    await page.goto(f"{app_url}/studies?date_from=2026-02-01&date_to=2026-01-01")
    assert "after" in (await page.text_content("#study-problem") or "")

    await page.goto(f"{app_url}/studies")
    assert await page.is_disabled("#compare")
    chosen = listed[:2]
    for uid in chosen:
        await page.check(f"tr[data-uid='{uid}'] input[name=uid]")
    assert await page.text_content("#compare-count") == "2"
    await shot(page, "studies-compare-chosen")
    await page.click("#compare")
    await page.wait_for_url(re.compile(r"/viewer/viewer\?StudyInstanceUIDs="))
    opened = parse_qs(urlparse(page.url).query)["StudyInstanceUIDs"][0].split(",")
    assert opened == chosen

    audits = await AuditLog.select(AuditLog.action, AuditLog.detail).where(
        AuditLog.username == home.admin, AuditLog.action == "study.list"
    )
    assert any(f"patient_id={ct.patient_id}" in a["detail"] for a in audits)


async def test_study_list_in_chinese_on_a_phone(app_url, phone, home: Place):
    page = await phone.new_page()
    page.set_default_timeout(60_000)  # rendering waits for two shared cores
    await login(page, app_url, home.admin, PASSWORD, admin=True)
    await page.goto(f"{app_url}/lang/zh")
    await page.goto(f"{app_url}/studies")
    assert "影像检查列表" in (await page.text_content("h1") or "")
    assert len(await rows(page)) == len(home.studies)
    await shot(page, "studies-list-phone-zh")
    ct = home.by_modality("CT")
    await page.click(f"tr[data-uid='{ct.uid}'] a.open-mobile")
    await page.wait_for_function("() => document.getElementById('mv-image')?.naturalWidth > 0")
    assert await page.text_content("#mv-kind") in ("原图", "缩略图")
    assert "左右滑动" in (await page.text_content("#mobile-viewer") or "")
    await shot(page, "mobile-viewer-phone-zh")


async def test_open_refuses_bad_requests(app_url, api, home: Place):
    await api.login(home.admin, PASSWORD, admin=True)
    res = await api.get("/studies/open?uid=1.2.3&uid=x'><script>", headers={"accept": "text/html"})
    assert res.status_code == 400 and "not a Study Instance UID" in res.text
    many = "&".join(f"uid=1.2.{n}" for n in range(5))
    assert (await api.get(f"/studies/open?{many}")).status_code == 400
    assert (await api.get("/studies/open")).status_code == 400
    res = await api.get("/studies/open?uid=1.2.3&uid=1.2.4")
    assert res.status_code in (301, 302, 303, 307)
    assert res.headers["location"] == (
        "/viewer/viewer?StudyInstanceUIDs=1.2.3,1.2.4&hangingProtocolId=@ohif/hpCompare"
    )


async def test_mobile_viewer_thumbnails_first_on_a_mobile_network(app_url, phone, home: Place):
    ct = home.by_modality("CT")
    page = await phone.new_page()
    cdp = await phone.new_cdp_session(page)
    await cdp.send("Network.enable")
    # a 3G-class connection: Chromium reports it as navigator.connection.effectiveType
    await cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 300,
            "downloadThroughput": 750 * 1024 / 8,
            "uploadThroughput": 250 * 1024 / 8,
            "connectionType": "cellular3g",
        },
    )
    await login(page, app_url, home.doctor, PASSWORD)
    await page.goto(f"{app_url}/studies?patient_id={ct.patient_id}&modality=CT")
    # doctors reach the list by address (the examination list will link it)
    await page.click(f"tr[data-uid='{ct.uid}'] a.open-mobile")
    await page.wait_for_selector("#mobile-viewer[data-network=mobile]")
    image = page.locator("#mv-image")
    await page.wait_for_function("() => document.getElementById('mv-image')?.naturalWidth > 0")
    assert (await image.get_attribute("src") or "").endswith("/thumbnail")
    assert await page.text_content("#mv-counter") == f"1 / {ct.images}"
    await page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.mv-thumb img')).slice(0, 3)"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    await shot(page, "mobile-viewer-thumbnail")

    await page.click("#mv-original")
    await page.wait_for_function(
        "() => (() => { const i = document.getElementById('mv-image');"
        " return i.dataset.kind === 'original' && i.complete && i.naturalWidth > 0; })()"
    )
    src = await image.get_attribute("src") or ""
    assert "/frames/1/rendered" in src
    assert await page.is_hidden("#mv-original")

    # swipe left with a real touch sequence: the next image
    box = await page.locator("#mv-stage").bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    for kind, x in (
        ("touchStart", box["x"] + box["width"] * 0.8),
        ("touchMove", box["x"] + box["width"] * 0.5),
        ("touchEnd", box["x"] + box["width"] * 0.2),
    ):
        points = [] if kind == "touchEnd" else [{"x": x, "y": y}]
        await cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": points})
    await page.wait_for_function(
        "() => document.getElementById('mv-counter').textContent.startsWith('2 /')"
    )
    assert (await image.get_attribute("src") or "").endswith("/thumbnail"), (
        "the next image starts as a thumbnail again on a mobile network"
    )
    await shot(page, "mobile-viewer-swiped")

    res = await page.goto(f"{app_url}/studies/0/mobile")
    assert res is not None and res.status == 404


async def test_mobile_viewer_loads_originals_on_a_fast_network(app_url, phone, home: Place):
    mr = home.by_modality("MR")
    page = await phone.new_page()
    await login(page, app_url, home.doctor, PASSWORD)
    await page.goto(f"{app_url}/studies?patient_id={mr.patient_id}&modality=MR")
    await page.click(f"tr[data-uid='{mr.uid}'] a.open-mobile")
    await page.wait_for_selector("#mobile-viewer[data-network=fast]")
    await page.wait_for_function(
        "() => (() => { const i = document.getElementById('mv-image');"
        " return i.dataset.kind === 'original' && i.complete && i.naturalWidth > 0; })()"
    )
    assert await page.is_hidden("#mv-original")
    await page.click("#mv-next")
    assert (await page.text_content("#mv-counter") or "").startswith("2 /")
    await shot(page, "mobile-viewer-original")

    # an ultrasound clip: one instance, every frame an image
    us = home.by_modality("US")
    assert us.images > 1
    await page.goto(f"{app_url}/studies?patient_id={us.patient_id}&modality=US")
    await page.click(f"tr[data-uid='{us.uid}'] a.open-mobile")
    await page.wait_for_selector("#mobile-viewer[data-network=fast]")
    assert await page.text_content("#mv-counter") == f"1 / {us.images}"
    await page.keyboard.press("ArrowRight")
    await page.wait_for_function(
        "() => (() => { const i = document.getElementById('mv-image');"
        " return /frames\\/2\\/rendered$/.test(i.src) && i.complete && i.naturalWidth > 0; })()"
    )
    await page.wait_for_function(
        "() => Array.from(document.querySelectorAll('.mv-thumb img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    await shot(page, "mobile-viewer-clip")


async def test_another_hospitals_study_is_not_found(app_url, api, home: Place, other: Place):
    from store.tables import Study as StudyRow

    foreign_uid = next(iter(other.studies))
    row = await StudyRow.select(StudyRow.id).where(StudyRow.study_uid == foreign_uid).first()
    assert row is not None
    await api.login(home.doctor, PASSWORD)
    res = await api.get(f"/studies/{row['id']}/mobile", headers={"accept": "text/html"})
    assert res.status_code == 404
    denied = await AuditLog.select(AuditLog.detail).where(
        AuditLog.username == home.doctor, AuditLog.outcome == "denied"
    )
    assert any(f"No study with id {row['id']} " in d["detail"] for d in denied)
    own = home.by_modality("CT").uid
    own_row = await StudyRow.select(StudyRow.id).where(StudyRow.study_uid == own).first()
    assert own_row is not None
    assert (await api.get(f"/studies/{own_row['id']}/mobile")).status_code == 200
    viewed = await AuditLog.select(AuditLog.target_id).where(
        AuditLog.username == home.doctor, AuditLog.action == "study.view"
    )
    assert str(own_row["id"]) in {v["target_id"] for v in viewed}
