"""The public pages pass axe-core's WCAG 2.1 AA checks (no serious or critical finding)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.browser.axe import serious_violations
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PUBLIC_PAGES = [
    "/",
    "/?lang=es",
    "/signs",
    "/report",
    "/report?lang=es",
    "/followup",
    "/help",
    "/help?lang=es",
]


async def test_the_public_pages_have_no_serious_accessibility_violations(
    browser: Browser, server: ServerProcess
) -> None:
    context = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    failures: dict[str, list[object]] = {}
    for path in PUBLIC_PAGES:
        response = await page.goto(server.base_url + path)
        assert response is not None
        assert response.status == 200, path
        found = await serious_violations(page)
        if found:
            failures[path] = found
    # A submitted report's pages too: the receipt and the follow-up view.
    await page.goto(server.base_url + "/report")
    await page.fill("#what", "A woman at the nail salon sleeps there and is never paid.")
    await page.click("button[type=submit]")
    await page.wait_for_url("**/report/done/**")
    found = await serious_violations(page)
    if found:
        failures["/report/done"] = found
    await context.close()
    assert failures == {}
