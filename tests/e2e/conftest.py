"""Real headless Chromium (Debian's, never a downloaded browser) driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.fixtures.patients import code_for

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SHOTS = Path(__file__).resolve().parents[2] / "tests" / "screenshots"
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


# Every page of every browser context reports Content-Security-Policy violations here: the
# `securitypolicyviolation` event (pages) and Chromium's console error (workers, too).
CSP_VIOLATIONS: list[str] = []
_REPORT_VIOLATIONS = """document.addEventListener("securitypolicyviolation", (e) => {
  window.__aimisCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} `
    + `at ${e.sourceFile || e.documentURI}:${e.lineNumber} (${e.sample || ""})`);
});"""


async def watch_csp(ctx) -> None:  # type: ignore[no-untyped-def]
    def on_console(msg) -> None:  # type: ignore[no-untyped-def]
        if "Content Security Policy" in msg.text or "Content-Security-Policy" in msg.text:
            CSP_VIOLATIONS.append(f"console: {msg.text}")

    await ctx.expose_binding(
        "__aimisCspViolation",
        lambda source, text: CSP_VIOLATIONS.append(f"{source['page'].url}: {text}"),
    )
    await ctx.add_init_script(_REPORT_VIOLATIONS)
    ctx.on("console", on_console)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        new_context = browser.new_context

        async def watched_context(*args, **kwargs):  # type: ignore[no-untyped-def]
            ctx = await new_context(*args, **kwargs)
            await watch_csp(ctx)
            return ctx

        browser.new_context = watched_context  # type: ignore[method-assign]  # every context
        yield browser
        await browser.close()


@pytest.fixture(autouse=True)
def no_csp_violation() -> Iterator[None]:
    """Every browser test fails when a page or worker broke the Content-Security-Policy."""
    CSP_VIOLATIONS.clear()
    yield
    assert not CSP_VIOLATIONS, "Content-Security-Policy violations:\n" + "\n".join(CSP_VIOLATIONS)


@pytest.fixture
async def context(browser) -> AsyncIterator:  # type: ignore[no-untyped-def]
    ctx = await browser.new_context(locale="en-US", viewport={"width": 1280, "height": 860})
    yield ctx
    await ctx.close()


async def phone_context(  # type: ignore[no-untyped-def]
    browser, locale: str = "en-US", width: int = 390, height: int = 844
):
    """A browser context that is a touch phone (the caller closes it)."""
    return await browser.new_context(
        locale=locale,
        viewport={"width": width, "height": height},
        is_mobile=True,
        has_touch=True,
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile",
    )


@pytest.fixture
async def phone(browser) -> AsyncIterator:  # type: ignore[no-untyped-def]
    ctx = await phone_context(browser)
    yield ctx
    await ctx.close()


async def shot(page, name: str) -> Path:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def for_the_docs(path: Path, name: str) -> None:
    """Copy the screenshot ``path`` to ``docs/screenshots/<name>``."""
    DOCS_SHOTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, DOCS_SHOTS / name)


async def fits_the_phone(page, width: int = 390) -> None:  # type: ignore[no-untyped-def]
    """The page is no wider than the phone's screen (nothing to scroll sideways)."""
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide on a {width} px phone"


async def patient_login(page, phone: str) -> None:  # type: ignore[no-untyped-def]
    """On the patient login page: have the code texted to ``phone`` (``13800000000`` form)
    and log in with it (the caller waits for the page it expects next)."""
    await page.fill("#phone", phone)
    await page.click("#send-code")
    await page.wait_for_function("() => document.querySelector('#send-code').disabled")
    await page.fill("#code", await code_for(phone))
    await page.click("#patient-login button[type=submit]")


async def login(  # type: ignore[no-untyped-def]
    page, base: str, username: str, password: str, admin: bool = False, query: str = ""
) -> None:
    """Log in through the login form (``query``, e.g. ``?next=…``, added to its address)."""
    await page.goto(f"{base}{'/admin/login' if admin else '/login'}{query}")
    await page.fill("#identifier", username)
    await page.fill("#password", password)
    await page.click("#login-form button[type=submit]")
    await page.wait_for_url(lambda url: "/login" not in url)
