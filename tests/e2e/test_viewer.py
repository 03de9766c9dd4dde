"""The OHIF viewer served under /viewer: the sub-path rewrites, its app-config.js, the login
in front of it, and OHIF itself in real headless Chromium drawing studies that went through
the real ingest function, fetched from our /dicomweb with the user's session."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout

from api.viewer.controllers import viewer_url
from api.viewer.ohif import DIST
from tests.e2e.conftest import login, shot
from tests.e2e.test_study_pages import (
    Place,
    imaging_place,
)
from tests.fixtures.hospitals import PASSWORD

pytestmark = pytest.mark.e2e

# Non-black pixels of each of OHIF's viewport canvases (cornerstone copies its WebGL render
# there), in viewport order.
DRAWN_PIXELS = """() => Array.from(document.querySelectorAll('canvas.cornerstone-canvas'))
  .map(c => {
    if (!c.width) return 0;
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 30) n++;
    return n;
  })"""


@pytest.fixture(scope="module")
async def place(demo) -> Place:
    return await imaging_place("OHIF-", patients=1)


def test_ohif_is_installed_by_setup():
    assert (DIST / "index.html").is_file(), "make setup installs @ohif/app from ui/package.json"


async def test_the_viewer_needs_a_session(app_url):
    async with httpx.AsyncClient(base_url=app_url) as http:
        res = await http.get("/viewer/viewer?StudyInstanceUIDs=1.2.3")
    assert res.status_code in (302, 303)
    assert res.headers["location"] == "/login?next=%2Fviewer%2Fviewer%3FStudyInstanceUIDs%3D1.2.3"


async def test_served_under_the_sub_path(app_url, api, place: Place):
    await api.login(place.doctor, PASSWORD)
    bare = await api.get("/viewer")
    assert bare.status_code in (302, 303) and bare.headers["location"] == "/studies"
    short = await api.get("/viewer?StudyInstanceUIDs=1.2.3,1.2.4")
    assert short.headers["location"] == viewer_url(["1.2.3", "1.2.4"])
    index = await api.get("/viewer/viewer", headers={"accept": "text/html"})
    assert index.status_code == 200
    html = index.text
    assert not re.search(r'(src|href|content)="/(?!viewer/|/)', html), "a root path is left"
    assert 'window.PUBLIC_URL="/viewer/"' in html and 'PUBLIC_URL="/"' not in html
    bundle = re.search(r'src="(/viewer/app\.bundle\.[0-9a-f]+\.js)"', html)
    assert bundle is not None

    script = await api.get(bundle.group(1))
    assert script.status_code == 200
    assert script.headers["content-encoding"] == "gzip"  # httpx asked for it and inflated it
    assert '__webpack_require__.p = "/viewer/";' in script.text
    assert '__webpack_require__.p = "/";' not in script.text
    assert "immutable" in script.headers["cache-control"]
    again = await api.get(bundle.group(1), headers={"if-none-match": script.headers["etag"]})
    assert again.status_code == 304

    css = await api.get("/viewer/app.bundle.css")
    assert "url(/viewer/" in css.text and "url(/" not in css.text.replace("url(/viewer/", "")

    wasm = next(DIST.glob("*.wasm")).name
    res = await api.get(f"/viewer/{wasm}")
    assert res.status_code == 200 and res.headers["content-type"] == "application/wasm"
    assert res.content == (DIST / wasm).read_bytes()

    config = await api.get("/viewer/app-config.js")
    assert config.status_code == 200
    assert '"routerBasename": "/viewer"' in config.text
    assert 'window.location.origin + "/dicomweb"' in config.text
    assert config.text.count('"namespace"') == 1, "one data source, ours"

    for bad in ("/viewer/nothing-here.js", "/viewer/..%2F..%2Fpackage.json", "/viewer/%2e%2e/x.js"):
        assert (await api.get(bad)).status_code == 404, bad


CANVAS_SUM = """() => {
  const c = document.querySelector('canvas.cornerstone-canvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let sum = 0;
  for (let i = 0; i < d.length; i += 4) sum += d[i];
  return sum;
}"""


async def open_and_wait_for_pixels(  # type: ignore[no-untyped-def]
    page, url: str, viewports: int = 1, timeout_s: float = 90
) -> float:
    """Seconds from navigation until ``viewports`` canvases each show an image."""
    started = time.monotonic()
    await page.goto(url)
    await page.wait_for_selector("canvas.cornerstone-canvas", timeout=timeout_s * 1000)
    await page.wait_for_function(
        f"() => (({DRAWN_PIXELS})()).filter(n => n > 1000).length >= {viewports}",
        timeout=timeout_s * 1000,
    )
    return time.monotonic() - started


async def test_ohif_draws_a_study_and_compares_two(app_url, context, place: Place):
    page = await context.new_page()
    page.set_default_timeout(90_000)  # OHIF's first boot on two shared cores
    dicomweb: list[tuple[str, str]] = []
    failed: list[tuple[int, str]] = []
    errors: list[str] = []
    page.on(
        "request", lambda r: dicomweb.append((r.method, r.url)) if "/dicomweb" in r.url else None
    )
    page.on(
        "response",
        lambda r: failed.append((r.status, r.url)) if r.status >= 400 else None,
    )
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    await login(page, app_url, place.doctor, PASSWORD)
    ct = place.by_modality("CT")
    first = await open_and_wait_for_pixels(
        page, f"{app_url}/viewer/viewer?StudyInstanceUIDs={ct.uid}"
    )
    await shot(page, "ohif-ct")
    paths = [url.removeprefix(app_url) for _, url in dicomweb]
    assert any(
        p.startswith(f"/dicomweb/studies/{ct.uid}/series/") and "/metadata" in p for p in paths
    )
    assert any("/frames/" in p for p in paths), "pixels came through WADO-RS frames"
    assert not [f for f in failed if "/dicomweb" in f[1] or "/viewer" in f[1]], failed

    hide = page.locator("[data-cy=confirm-and-hide-button]")  # "investigational use" note
    if await hide.count():
        await hide.click()

    # window/level (OHIF's primary-button tool): dragging changes the drawn pixels (a drag
    # made while OHIF still binds its tools can be lost: up to three tries)
    before = await page.evaluate(CANVAS_SUM)
    box = await page.locator("canvas.cornerstone-canvas").first.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    for attempt in range(3):
        await page.mouse.move(x, y)
        await page.mouse.down()
        await page.mouse.move(x + 120, y + 80, steps=8)
        await page.mouse.up()
        try:
            await page.wait_for_function(f"() => ({CANVAS_SUM})() !== {before}", timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise

    # a length measurement: two clicks with OHIF's Length tool, labelled in millimetres
    # (from the Pixel Spacing our metadata carries)
    await page.click("[data-cy=Length]")
    await page.mouse.click(x - 90, y)
    await page.mouse.click(x + 90, y)
    await page.wait_for_function(
        "() => /[0-9]+([.][0-9]+)? mm/.test("
        "document.querySelector('[data-cy=viewport-grid]').textContent)"
    )
    await shot(page, "ohif-ct-length")
    await page.click("[data-cy=WindowLevel]")

    # scroll to another slice: the viewport shows the next slice and draws again
    await page.mouse.wheel(0, 120)
    await page.wait_for_function(f"() => (({DRAWN_PIXELS})())[0] > 1000")
    await shot(page, "ohif-ct-window-level")

    # a second load reuses the cached, rewritten viewer
    page2 = await context.new_page()
    again = await open_and_wait_for_pixels(
        page2, f"{app_url}/viewer/viewer?StudyInstanceUIDs={ct.uid}"
    )
    await page2.close()

    # two studies side by side, opened the way the study list opens them
    others = [uid for uid, s in place.studies.items() if uid != ct.uid]
    dicomweb.clear()
    await open_and_wait_for_pixels(page, app_url + viewer_url([ct.uid, others[0]]), viewports=2)
    series_requested = {
        p.split("/")[3]
        for p in (url.removeprefix(app_url) for _, url in dicomweb)
        if re.match(r"^/dicomweb/studies/[0-9.]+/series", p)
    }
    assert {ct.uid, others[0]} <= series_requested, series_requested
    await shot(page, "ohif-compare")
    print(f"OHIF first image: {first:.2f} s (first load), {again:.2f} s (cached viewer)")
    print("other failed requests:", failed)
    serious = [e for e in errors if "/dicomweb" in e or "TypeError" in e]
    assert not serious, serious
