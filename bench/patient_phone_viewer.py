"""A patient's phone on a throttled mobile network: from tapping an examination in her
archive to the first thumbnail on screen, and to the first original CT slice (issue 15).

The real app (``bench.aimis_app``: migrated SQLite, ``aimis demo`` with its synthetic CT
studies, ``aimis serve`` on loopback); the demo patient 13900000001 logs in with the code
the app sent (read back from its outbox, as the tests do). Headless Debian Chromium through
Playwright, a 390×844 touch phone, and CDP ``Network.emulateNetworkConditions``: 1.6 Mbit/s
down, 750 kbit/s up, 150 ms latency (a "fast 3G" phone; ``connectionType`` cellular, so
``navigator.connection`` says so and the viewer starts with thumbnails).

Each run is a new browser context (an empty cache): the archive list is opened (not
timed), then the examination is tapped; timed from the tap:
- **thumbnail**: the first picture of the examination on screen (a series thumbnail of
  the strip, or the first frame's thumbnail on the stage), decoded (``naturalWidth`` > 0);
- **original**: "View original" tapped as soon as it shows, until the stage holds the first
  slice's original (``/rendered``), decoded.
Aim: thumbnail ≤ 1.5 s, original ≤ 3 s. ``--runs`` (default 5) and the median and worst
are printed; ``--warm`` adds runs with the browser's cache kept (a second look).

    uv run --frozen python -m bench.patient_phone_viewer [--runs 5] [--warm 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.aimis_app import Aimis
from imaging.synth import Sizes

PHONE = "13900000001"
# The demo's own studies are small (64² CT, for quick tests): a realistic CT is added
# (512², 40 slices, through the ingest path) at City and matched to the demo patient;
# the other modalities stay small, they are not measured.
SIZES = Sizes(512, 40, 48, 3, (160, 128), (120, 100), (200, 160), (96, 128), 4)
DOWN_BPS, UP_BPS, LATENCY_MS = 1_600_000, 750_000, 150
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FIRST_PICTURE = """() => [
  ...document.querySelectorAll('#mv-series-strip img, #mv-image, #mv-strip img'),
].some(i => i.complete && i.naturalWidth > 0 && i.getBoundingClientRect().top < innerHeight)"""
# What the page downloaded, in order: path, bytes over the wire, start and end (ms after
# the page's navigation started), for the profile of one run.
RESOURCES = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  return [nav, ...performance.getEntriesByType('resource')].map(e => ({
    path: new URL(e.name).pathname.slice(-70), bytes: e.transferSize || e.encodedBodySize,
    start: Math.round(e.startTime), end: Math.round(e.responseEnd),
  }));
}"""
ORIGINAL = """() => {
  const i = document.querySelector('#mv-image');
  return i && i.dataset.kind === 'original' && i.src.includes('/rendered')
    && i.complete && i.naturalWidth > 0;
}"""


async def add_ct(folder: Path) -> int:
    """In the app's environment (``Aimis.cli("-m", …)``): a 512² CT at City, visible to
    the demo patient herself; its examination id."""
    from datetime import timedelta

    from pydicom import dcmread

    from api.ingest.steps import create_run, ingest_file
    from imaging.synth import synth
    from store.db import close_pool, start_pool, transaction
    from store.examinations import examination_from_study
    from store.tables import Hospital, PatientMatch, PatientPerson
    from store.uow import Ctx, now

    await start_pool()
    try:
        city: Any = await Hospital.select(Hospital.id).where(Hospital.code == "CITY").first()
        paths = synth(folder, patients=1, seed=1500, sizes=SIZES)
        ct = [p for p in paths if dcmread(p, stop_before_pixels=True).Modality == "CT"]
        run_id = await create_run(Ctx(), city["id"], "import", "phone benchmark")
        results = [await ingest_file(run_id, p) for p in ct]
        assert all(r.ok for r in results), [r.reason for r in results]
        study_id = results[0].study_id
        assert study_id is not None
        exam_id = await examination_from_study(study_id)
        person: Any = (
            await PatientPerson.select(PatientPerson.id)
            .where(
                PatientPerson.account.phone == f"86{PHONE}",
                PatientPerson.relationship == "self",
            )
            .first()
        )
        at = now()
        async with transaction():
            await PatientMatch.insert(
                PatientMatch(
                    hospital=city["id"],
                    person=person["id"],
                    examination=exam_id,
                    how="manual",
                    matched_at=at,
                    visible_at=at - timedelta(hours=1),
                )
            )
        return exam_id
    finally:
        await close_pool()


def login_cookies(app: Aimis) -> list[Any]:
    """The demo patient's session, as the login page would get it."""
    with httpx.Client(base_url=app.url, timeout=30) as http:
        http.get("/patient/login")
        csrf = {"x-csrftoken": http.cookies.get("csrftoken") or ""}
        res = http.post("/api/patient/code", json={"phone": PHONE}, headers=csrf)
        assert res.status_code == 202, res.text
        with sqlite3.connect(app.data_dir / "aimis.sqlite") as db:
            (code_id,) = db.execute(
                "SELECT id FROM patient_code WHERE phone = ? ORDER BY id DESC LIMIT 1",
                (f"86{PHONE}",),
            ).fetchone()
            (payload,) = db.execute(
                "SELECT payload FROM outbox WHERE idempotency_key = ?",
                (f"patient-code-{code_id}",),
            ).fetchone()
        code = json.loads(payload)["code"]
        res = http.post("/api/patient/login", json={"phone": PHONE, "code": code}, headers=csrf)
        assert res.status_code == 200, res.text
        return [{"name": c.name, "value": c.value or "", "url": app.url} for c in http.cookies.jar]


async def throttle(context: Any, page: Any) -> None:
    cdp = await context.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": LATENCY_MS,
            "downloadThroughput": DOWN_BPS / 8,
            "uploadThroughput": UP_BPS / 8,
            "connectionType": "cellular3g",
        },
    )


async def one_run(context: Any, app: Aimis, exam_id: int) -> dict[str, Any]:
    page = await context.new_page()
    await throttle(context, page)
    page.set_default_timeout(60_000)
    await page.goto(f"{app.url}/patient/examinations")
    link = page.locator(f"a[href='/patient/examinations/{exam_id}']")
    await link.wait_for()
    started = time.monotonic()
    await link.tap()
    await page.wait_for_function(FIRST_PICTURE, polling="raf")
    thumbnail = time.monotonic() - started
    button = page.locator("#mv-original")
    await page.locator("#mv-image[data-kind]").wait_for(state="attached")  # the viewer ran
    kind = await page.get_attribute("#mv-image", "data-kind")
    if kind != "original":
        await button.wait_for(state="visible")
        await button.tap()
    await page.wait_for_function(ORIGINAL, polling="raf")
    original = time.monotonic() - started
    network = await page.get_attribute("#mobile-viewer", "data-network")
    resources = await page.evaluate(RESOURCES)
    await page.close()
    return {
        "thumbnail": thumbnail,
        "original": original,
        "network": network or "",
        "resources": resources,
    }


def summary(name: str, values: list[float], aim: float) -> str:
    med, worst = statistics.median(values), max(values)
    verdict = "met" if med <= aim else "MISSED"
    runs = ", ".join(f"{v:.2f}" for v in values)
    return f"{name:<10} median {med:.2f} s, worst {worst:.2f} s (aim ≤ {aim} s: {verdict}) [{runs}]"


async def measure(app: Aimis, exam_id: int, runs: int, warm: int) -> None:
    from playwright.async_api import async_playwright

    cookies = login_cookies(app)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        phone: dict[str, Any] = {
            "viewport": {"width": 390, "height": 844},
            "is_mobile": True,
            "has_touch": True,
            "device_scale_factor": 3,
            "locale": "zh-CN",
        }
        cold: list[dict[str, Any]] = []
        for _ in range(runs):
            context = await browser.new_context(**phone)
            await context.add_cookies(cookies)
            cold.append(await one_run(context, app, exam_id))
            await context.close()
        hot: list[dict[str, Any]] = []
        if warm:
            context = await browser.new_context(**phone)
            await context.add_cookies(cookies)
            await one_run(context, app, exam_id)  # fills the cache
            for _ in range(warm):
                hot.append(await one_run(context, app, exam_id))
            await context.close()
        await browser.close()
    print(
        f"phone 390x844, {DOWN_BPS / 1e6:.1f} Mbit/s down, {UP_BPS / 1e3:.0f} kbit/s up, "
        f"{LATENCY_MS} ms latency; viewer network: {cold[0]['network']}"
    )
    print("cold cache (a new browser context each run):")
    print("  " + summary("thumbnail", [r["thumbnail"] for r in cold], 1.5))
    print("  " + summary("original", [r["original"] for r in cold], 3.0))
    print("the first cold run's downloads (ms after the tapped page's navigation started):")
    for r in cold[0]["resources"]:
        print(f"  {r['start']:>5}–{r['end']:>5} ms {r['bytes']:>7} B  {r['path']}")
    if hot:
        print("warm cache (the same examination again):")
        print("  " + summary("thumbnail", [r["thumbnail"] for r in hot], 1.5))
        print("  " + summary("original", [r["original"] for r in hot], 3.0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warm", type=int, default=2)
    parser.add_argument("--add-ct", help=argparse.SUPPRESS)  # the step run in the app's env
    args = parser.parse_args()
    if args.add_ct:
        print(f"exam {asyncio.run(add_ct(Path(args.add_ct)))}")
        return
    with tempfile.TemporaryDirectory(prefix="aimis-phone-") as tmp:
        app = Aimis(Path(tmp) / "data")
        with app:
            out = app.cli("-m", "bench.patient_phone_viewer", "--add-ct", f"{tmp}/ct")
            exam_id = int(out.strip().rsplit(" ", 1)[-1])
            asyncio.run(measure(app, exam_id, args.runs, args.warm))


if __name__ == "__main__":
    main()
