"""Issue 12, finding 5, in real Chromium: a login with a crafted ``next=`` stays on the site.

The crafted targets point at 127.0.0.2 (another origin, still loopback), and every request
that is not to the app is aborted and recorded, so nothing leaves the machine either way.
"""

from __future__ import annotations

import pytest

from tests.e2e.conftest import login
from tests.fixtures.hospitals import PASSWORD, make_doctor

pytestmark = pytest.mark.e2e

CRAFTED = [
    "/%09/127.0.0.2:9/",  # the tab is dropped by the browser: //127.0.0.2:9/
    "/%0a/127.0.0.2:9/",
    "/%5C127.0.0.2:9/",  # a backslash reads as a slash
    "//127.0.0.2:9/",
    "/%2F127.0.0.2:9/",
]


@pytest.mark.parametrize("target", CRAFTED)
async def test_a_login_with_a_crafted_next_stays_on_the_site(
    context, app_url, uniq, target
) -> None:
    username = await make_doctor(uniq)
    off_site: list[str] = []

    async def guard(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.url.startswith(app_url):
            await route.continue_()
        else:
            off_site.append(route.request.url)
            await route.abort()

    await context.route("**/*", guard)
    page = await context.new_page()
    await login(page, app_url, username, PASSWORD, query=f"?next={target}")
    await page.wait_for_url(f"{app_url}/")
    await page.locator("[data-testid=who]").wait_for()
    assert off_site == []


async def test_a_login_with_a_path_of_the_site_goes_there(context, app_url, uniq) -> None:
    username = await make_doctor(uniq)
    page = await context.new_page()
    await login(page, app_url, username, PASSWORD, query="?next=%2Faccount%2Fpassword")
    await page.wait_for_url(f"{app_url}/account/password")
