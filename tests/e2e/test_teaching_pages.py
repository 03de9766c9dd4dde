"""Remote teaching in real Chromium (SPEC §5): a lecturer creates a course in the form and
publishes it in the classroom; a doctor of the range finds it in the list on a phone, enters
the classroom during its time and sees his personal center. A recording uploaded through the
widget becomes the course's; a learner plays it with a seek and the skip does not count."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from api.recordings import processing
from api.teaching import service as teaching
from store.tables import Course, Role
from store.uow import Ctx, actor_for, now
from store.zones import hospital_zone
from tests.e2e.conftest import fits_the_phone, login, phone_context, shot
from tests.fixtures.hospitals import PASSWORD, department, doctor_account, hospital_of

pytestmark = pytest.mark.e2e


async def test_create_list_classroom_and_personal_center(context, browser, app_url, uniq) -> None:
    east = await hospital_of("EAST")
    role = await Role.insert(
        Role(hospital=east["id"], name=uniq("Lecturer "), permissions=json.dumps(["teaching.host"]))
    ).returning(Role.id)
    host, _ = await doctor_account(uniq, "EAST", role_id=role[0]["id"])
    radiology = await department("EAST", "Radiology")
    learner, _ = await doctor_account(uniq, "EAST", department_id=radiology)
    local = datetime.now(await hospital_zone(east["id"]))
    topic = uniq("Chest CT course ")

    page = await context.new_page()
    await login(page, app_url, host, PASSWORD)
    await page.goto(f"{app_url}/teaching")
    await page.click("#new-card summary")
    await page.fill("#t-topic", topic)
    await page.fill("#t-start", (local - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#t-end", (local + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    await page.fill("#t-place", "Room 3")
    await page.fill("#t-url", "https://meet.example/chest")
    await page.check(f"input[name=department_ids][value='{radiology}']")
    await page.click("#new-course button[type=submit]")
    link = page.locator("#courses a", has_text=topic)
    await link.wait_for()
    await link.click()
    await page.locator("#course-topic", has_text=topic).wait_for()
    await page.click("#steps button[data-api$='/steps/publish']")
    await page.locator("#course-state", has_text="Published").wait_for()
    await shot(page, "teaching-classroom-lecturer")

    phone = await phone_context(browser, locale="zh-CN")
    try:
        await phone.add_cookies([{"name": "lang", "value": "zh", "url": app_url}])
        p = await phone.new_page()
        await login(p, app_url, learner, PASSWORD)
        await p.goto(f"{app_url}/teaching")
        row = p.locator("#courses a", has_text=topic)
        await row.wait_for()
        await fits_the_phone(p)
        await shot(p, "teaching-list-phone-zh")
        await row.click()
        enter = p.locator("#enter")
        await enter.wait_for()
        assert await enter.get_attribute("href") == "https://meet.example/chest"
        assert await p.locator("#steps").count() == 0  # a learner does not step the course
        assert "已发布" in await p.locator("#course-state").inner_text()
        await fits_the_phone(p)
        await p.goto(f"{app_url}/teaching/me")
        await p.locator("h1", has_text="我的记录").wait_for()
        await fits_the_phone(p)
        await shot(p, "teaching-me-phone-zh")
    finally:
        await phone.close()

    await page.goto(f"{app_url}/teaching/me")
    await page.locator("#courses a", has_text=topic).wait_for()  # my teaching records


@pytest.fixture(scope="module")
def lecture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty seconds of testsrc + a tone as H.264/AAC MP4, made by ffmpeg."""
    clip = tmp_path_factory.mktemp("lecture") / "lecture.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", "20", "-c:v", "libx264",
         "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
        check=True,
    )  # fmt: skip
    return clip


async def test_upload_recording_then_learner_watches_with_a_seek(
    context, browser, app_url, uniq, lecture
) -> None:
    """The lecturer uploads a clip through the widget on an ended course; it is processed
    (the e2e app has no dispatcher: the test runs the real processing steps, as the
    integration tests do) and the course becomes recording_available; a learner in range
    plays, seeks to the middle, plays on: the heartbeats count only what was played."""
    east = await hospital_of("EAST")
    role = await Role.insert(
        Role(hospital=east["id"], name=uniq("Lecturer "), permissions=json.dumps(["teaching.host"]))
    ).returning(Role.id)
    host, _ = await doctor_account(uniq, "EAST", role_id=role[0]["id"])
    radiology = await department("EAST", "Radiology")
    learner, _ = await doctor_account(uniq, "EAST", department_id=radiology)
    lecturer = Ctx(actor=await actor_for(host), ip="127.0.0.1")
    start = now()
    course_id = await teaching.create(
        lecturer,
        {
            "topic": uniq("Recorded course "),
            "starts_at": (start - timedelta(minutes=5)).isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(),
            "department_ids": [radiology],
        },
    )
    for trigger in ("publish", "start", "end"):
        version = await Course.select(Course.version).where(Course.id == course_id)
        await teaching.act(lecturer, course_id, trigger, version[0]["version"])

    page = await context.new_page()
    await login(page, app_url, host, PASSWORD)
    await page.goto(f"{app_url}/teaching/{course_id}")
    widget = page.locator("#recording-upload [data-recording-upload]")
    await widget.locator("input[type=file]").set_input_files(str(lecture))
    await widget.locator("[data-recording-start]").click()
    await page.locator("[data-recording-upload][data-recording-state=processing]").wait_for()
    rid = int(await widget.get_attribute("data-recording-id") or 0)
    assert await processing.process_inline(rid) == "ready"
    await page.locator("[data-recording-upload][data-recording-state=ready]").wait_for()
    await page.reload()
    await page.click("#steps button[data-api$='/steps/recording_ready']")
    await page.locator("#course-state", has_text="Recording available").wait_for()
    await page.locator("#recording video").wait_for()
    await shot(page, "teaching-recording-lecturer")

    watcher = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    try:
        p = await watcher.new_page()
        await login(p, app_url, learner, PASSWORD)
        await p.goto(f"{app_url}/teaching/{course_id}")
        assert (await p.locator("#learning-progress").inner_text()).strip() == "0.0"
        video = p.locator("#recording video")
        await video.evaluate("v => { v.muted = true; return v.play(); }")
        await p.wait_for_function(
            "() => document.querySelector('#recording video').currentTime > 2"
        )
        await video.evaluate("v => { v.currentTime = 10; }")  # skip 2..10
        await p.wait_for_function(
            "() => { const v = document.querySelector('#recording video');"
            " return !v.seeking && v.readyState >= 2 && v.currentTime >= 10; }"
        )
        await p.wait_for_function(
            "() => document.querySelector('#recording video').currentTime > 13"
        )
        state = await video.evaluate("v => [v.currentTime, v.readyState, v.paused]")
        assert 13 <= state[0] < 16 and state[1] >= 2 and not state[2], state
        await video.evaluate("v => v.pause()")
        await p.wait_for_function(
            "() => Number(document.getElementById('learning-progress').textContent) > 20"
        )
        await shot(p, "teaching-recording-learner")
        await p.goto(f"{app_url}/teaching/me")
        row = p.locator("#learning tr", has=p.locator(f"a[href='/teaching/{course_id}']"))
        progress = float((await row.locator("td").nth(4).inner_text()).strip(" %"))
        # the pause's heartbeat answered: 0..2 s and 10..13 s of 20 s were played (25 %);
        # had the skip counted it would be over 65 %
        assert 20 < progress < 50, progress
        await shot(p, "teaching-me-learning")
    finally:
        await watcher.close()
