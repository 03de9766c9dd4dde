"""Real headless Chromium (Debian's, never a downloaded browser) driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "tests" / "screenshots"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        await browser.close()


@pytest.fixture
async def context(browser) -> AsyncIterator:  # type: ignore[no-untyped-def]
    ctx = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    yield ctx
    await ctx.close()


@pytest.fixture
async def phone(browser) -> AsyncIterator:  # type: ignore[no-untyped-def]
    ctx = await browser.new_context(
        locale="en-US",
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile",
    )
    yield ctx
    await ctx.close()


async def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def login(page, base: str, username: str, password: str, admin: bool = False) -> None:  # type: ignore[no-untyped-def]
    await page.goto(f"{base}{'/admin/login' if admin else '/login'}")
    await page.fill("#identifier", username)
    await page.fill("#password", password)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url)
