"""The pages run under the Content-Security-Policy in real Chromium (issue 12, finding 7).

Every browser test checks it already (tests/e2e/conftest.py fails a test on any violation,
from a page or a worker); these show that the check sees one, and that what an injected
script or a frame would need is refused."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import CSP_VIOLATIONS, login

pytestmark = pytest.mark.e2e


async def test_an_injected_script_is_refused_and_reported(context, app_url, demo) -> None:
    page = await context.new_page()
    await login(page, app_url, "dr.wang", demo["password"])
    await page.wait_for_function("() => window.aimis !== undefined")  # the page's own scripts ran
    ran = await page.evaluate(
        """() => new Promise((done) => {
          document.addEventListener("securitypolicyviolation", () => done(window.__injected === 1));
          const s = document.createElement("script");
          s.textContent = "window.__injected = 1";
          document.body.appendChild(s);
        })"""
    )
    assert ran is False
    await page.wait_for_timeout(200)
    assert any("script-src" in v for v in CSP_VIOLATIONS), CSP_VIOLATIONS
    CSP_VIOLATIONS.clear()  # seen: this test's own violation is not a failure


async def test_an_inline_handler_is_refused(context, app_url) -> None:
    page = await context.new_page()
    await page.goto(f"{app_url}/login")
    await page.evaluate(
        """() => { const b = document.createElement("img");
          b.setAttribute("onerror", "window.__handler = 1"); b.src = "/nothing.png";
          document.body.appendChild(b); }"""
    )
    await page.wait_for_timeout(500)
    assert await page.evaluate("() => window.__handler") is None
    assert any("script-src" in v for v in CSP_VIOLATIONS), CSP_VIOLATIONS
    CSP_VIOLATIONS.clear()
