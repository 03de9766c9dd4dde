"""The touch viewer on a 390×844 touch phone in real headless Chromium against the real app:
"Open images" leads there on a phone, swipe, pinch zoom, CT window presets, series first, and
the thumbnail-or-original choice without ``navigator.connection`` (as on iPhones), where the
first downloads are timed over a really slow (throttled) or a fast loopback network."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import login
from tests.e2e.test_study_pages import Place, Study, imaging_place
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.e2e

DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
NO_CONNECTION = "Object.defineProperty(Navigator.prototype, 'connection', {get: () => undefined});"


@pytest.fixture(scope="module")
async def home(demo) -> Place:
    return await imaging_place("TV-", patients=1)


async def touch(cdp, kind: str, points: list[tuple[float, float]]) -> None:  # type: ignore[no-untyped-def]
    await cdp.send(
        "Input.dispatchTouchEvent",
        {
            "type": kind,
            "touchPoints": [{"x": x, "y": y, "id": n} for n, (x, y) in enumerate(points)],
        },
    )


async def ct_list(page, app_url: str, place: Place, logged_in: bool = False) -> Study:  # type: ignore[no-untyped-def]
    """The doctor's study list showing the place's CT (logging in first unless done)."""
    ct = place.by_modality("CT")
    if not logged_in:
        await login(page, app_url, place.doctor, PASSWORD)
    await page.goto(f"{app_url}/studies?patient_id={ct.patient_id}&modality=CT")
    return ct


async def open_ct(page, app_url: str, place: Place) -> None:  # type: ignore[no-untyped-def]
    ct = await ct_list(page, app_url, place)
    # the list's "Open in viewer" (OHIF) becomes the touch viewer on a phone-sized screen
    await page.click(f"tr[data-uid='{ct.uid}'] a.open-viewer")
    await page.wait_for_url("**/studies/*/mobile")
    await page.wait_for_function("() => document.getElementById('mv-image').naturalWidth > 0")


async def test_phone_opens_the_touch_viewer_swipe_pinch_and_presets(app_url, phone, home: Place):
    await phone.add_init_script(NO_CONNECTION)
    page = await phone.new_page()
    cdp = await phone.new_cdp_session(page)
    await open_ct(page, app_url, home)
    ct = home.by_modality("CT")
    # loopback is fast: measured, then originals. The first byte's wait counts (a slow first
    # byte is a slow network to a phone), and it includes the server rendering a thumbnail
    # for the first time: on a loaded CI machine that can pass a second. So the measured
    # visit is the second one, with the study's thumbnails rendered by the first.
    await page.wait_for_selector("#mobile-viewer:not([data-network=measuring])")
    await page.reload()
    await page.wait_for_function("() => document.getElementById('mv-image').naturalWidth > 0")
    await page.wait_for_selector("#mobile-viewer:not([data-network=measuring])")
    measured = await page.evaluate("() => ({...document.getElementById('mobile-viewer').dataset})")
    assert (measured["network"], measured["networkSource"]) == ("fast", "measured"), measured
    assert int(await page.get_attribute("#mobile-viewer", "data-measured-kbps") or 0) >= 1500
    await page.wait_for_function(
        "() => (() => { const i = document.getElementById('mv-image');"
        " return i.dataset.kind === 'original' && i.complete && i.naturalWidth > 0; })()"
    )
    # series first: a strip of series thumbnails above the image
    assert await page.locator(".mv-series-thumb").count() >= 1
    assert await page.locator(".mv-series-thumb[aria-current=true]").count() == 1
    assert await page.text_content("#mv-counter") == f"1 / {ct.images}"

    box = await page.locator("#mv-stage").bounding_box()
    assert box is not None
    cx, cy, w = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2, box["width"]
    # swipe left: the next image
    await touch(cdp, "touchStart", [(cx + w * 0.3, cy)])
    await touch(cdp, "touchMove", [(cx, cy)])
    await touch(cdp, "touchMove", [(cx - w * 0.3, cy)])
    await touch(cdp, "touchEnd", [])
    await page.wait_for_function(
        "() => document.getElementById('mv-counter').textContent.startsWith('2 /')"
    )
    assert "/frames/1/rendered" in (await page.get_attribute("#mv-image", "src") or "")

    # pinch out: the image scales up; a swipe while zoomed pans instead of moving on
    await touch(cdp, "touchStart", [(cx - 30, cy), (cx + 30, cy)])
    for step in range(1, 6):
        await touch(cdp, "touchMove", [(cx - 30 - step * 20, cy), (cx + 30 + step * 20, cy)])
    await touch(cdp, "touchEnd", [])
    scale = float(await page.get_attribute("#mv-image", "data-scale") or 1)
    assert scale > 2, scale
    assert "scale(" in (await page.get_attribute("#mv-image", "style") or "")
    await touch(cdp, "touchStart", [(cx + 60, cy)])
    await touch(cdp, "touchMove", [(cx - 60, cy)])
    await touch(cdp, "touchEnd", [])
    assert (await page.text_content("#mv-counter") or "").startswith("2 /")
    assert float(await page.get_attribute("#mv-image", "data-pan-x") or 0) < 0

    # a lung preset: the rendered frame is asked for with the lung window, and it draws
    async with page.expect_response(lambda r: "window=-600,1500" in r.url) as lung:
        await page.click(".mv-preset[data-preset=lung]")
    response = await lung.value
    assert response.status == 200 and "/rendered?window=-600,1500" in response.url
    await page.wait_for_function(
        "() => document.getElementById('mv-image').src.includes('window=-600,1500')"
        " && document.getElementById('mv-image').complete"
    )
    assert await page.get_attribute(".mv-preset[data-preset=lung]", "aria-pressed") == "true"
    # a double tap fits the image again
    for _ in range(2):
        await touch(cdp, "touchStart", [(cx, cy)])
        await touch(cdp, "touchEnd", [])
    assert await page.get_attribute("#mv-image", "data-scale") == "1"
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(DOCS_SHOTS / "phone-viewer.png"), full_page=True)


async def test_without_navigator_connection_slow_first_downloads_choose_thumbnails(
    app_url, phone, home: Place
):
    await phone.add_init_script(NO_CONNECTION)
    page = await phone.new_page()
    cdp = await phone.new_cdp_session(page)
    await login(page, app_url, home.doctor, PASSWORD)
    await cdp.send("Network.enable")
    # a slow network for real (Chromium throttles the loopback HTTP); no navigator.connection
    slow = {"latency": 400, "downloadThroughput": 51200, "uploadThroughput": 25600}
    await cdp.send("Network.emulateNetworkConditions", {"offline": False, **slow})
    assert await page.evaluate("() => navigator.connection") is None
    ct = await ct_list(page, app_url, home, logged_in=True)
    await page.click(f"tr[data-uid='{ct.uid}'] a.open-viewer")
    await page.wait_for_url("**/studies/*/mobile")
    await page.wait_for_selector(
        "#mobile-viewer[data-network=mobile][data-network-source=measured]", timeout=30_000
    )
    assert int(await page.get_attribute("#mobile-viewer", "data-measured-kbps") or 0) < 1500
    assert await page.get_attribute("#mv-image", "data-kind") == "thumbnail"
    assert await page.is_visible("#mv-original"), "View original is always offered"
    await page.click("#mv-original")
    await page.wait_for_function(
        "() => document.getElementById('mv-image').src.includes('/rendered')", timeout=30_000
    )


async def test_the_measurement_rule(app_url, phone, home: Place):
    """The rule itself, as the page runs it: body bytes over transfer time, and the quickest
    first byte (the server's rendering time is not the network's)."""
    page = await phone.new_page()
    ct = await ct_list(page, app_url, home)
    await page.click(f"tr[data-uid='{ct.uid}'] a.open-mobile")
    await page.wait_for_function("() => window.AimisNetwork")
    choose = "s => { const v = AimisNetwork.fromSamples(s); return v && v.choice; }"
    assert await page.evaluate(choose, [{"bytes": 9000, "ms": 9, "wait": 5}]) is None  # too few
    slow = [{"bytes": 9000, "ms": 180, "wait": 400}, {"bytes": 9000, "ms": 190, "wait": 420}]
    fast = [{"bytes": 60000, "ms": 40, "wait": 900}, {"bytes": 9000, "ms": 0, "wait": 30}]
    assert await page.evaluate(choose, slow) == "mobile"
    assert await page.evaluate(choose, fast) == "fast"  # one slow render is not a slow network
    far = [{"bytes": 400000, "ms": 90, "wait": 1300}, {"bytes": 400000, "ms": 80, "wait": 1200}]
    assert await page.evaluate(choose, far) == "mobile"
    assert await page.evaluate("() => AimisNetwork.fromConnection({effectiveType: '4g'})") == "fast"
    assert await page.evaluate("() => AimisNetwork.fromConnection({type: 'cellular'})") == "mobile"


async def test_desktop_keeps_ohif(app_url, context, home: Place):
    page = await context.new_page()
    ct = await ct_list(page, app_url, home)
    await page.click(f"tr[data-uid='{ct.uid}'] a.open-viewer")
    await page.wait_for_url("**/viewer/viewer?StudyInstanceUIDs=*")
    res = await page.goto(f"{app_url}/studies/phone?uid={ct.uid}")
    assert res is not None and res.url.endswith("/mobile")
    assert await page.is_visible("#mv-full")
    res = await page.goto(f"{app_url}/studies/phone?uid=1.2.3.999")
    assert res is not None and res.status == 404
