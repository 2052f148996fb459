"""A reporter in a real browser: JavaScript off, nothing stored, nothing from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, Request

from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]


async def test_a_reporter_with_javascript_off_reports_saves_the_receipt_and_follows_up(
    browser: Browser, server: ServerProcess, artifacts: Path
) -> None:
    context = await browser.new_context(
        java_script_enabled=False, viewport={"width": 360, "height": 740}
    )
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = await context.new_page()
    await page.goto(server.base_url + "/report")
    await page.screenshot(path=str(artifacts / "public-report-form.png"), full_page=True)
    await page.fill("#what", "Two teenagers are kept in the back room of the car wash.")
    await page.fill("#where", "Car wash on 5th Avenue")
    await page.check("input[name=minors][value=yes]")
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/report/done/"))
    text = await page.inner_text("body")
    receipt = re.search(r"\d{4} \d{4} \d{4} \d{4}", text)
    assert receipt, text
    await page.screenshot(path=str(artifacts / "public-receipt.png"), full_page=True)

    await page.check("input[name=saved]")
    await page.click("form[action='/report/saved'] button")
    await page.wait_for_url(re.compile(r"/report/saved"))

    await page.goto(server.base_url + "/followup")
    await page.fill("input[name=receipt]", receipt.group(0))
    await page.click("button[type=submit]")
    await page.fill("textarea[name=text]", "The van is white.")
    await page.click("form[action*='/followup/add'] button")
    assert "added" in (await page.inner_text("body")).lower()

    assert await context.cookies() == []
    assert all(url.startswith(server.base_url) for url in requested), requested
    await context.close()


async def test_the_quick_exit_replaces_the_history_entry_when_javascript_runs(
    browser: Browser, server: ServerProcess
) -> None:
    context = await browser.new_context()
    neutral: list[Request] = []

    async def fulfil(route, request):  # type: ignore[no-untyped-def]
        neutral.append(request)
        await route.fulfill(
            status=200, body="<html><title>Neutral</title>Weather</html>", content_type="text/html"
        )

    await context.route("https://www.wikipedia.org/**", fulfil)
    page = await context.new_page()
    await page.goto(server.base_url + "/")
    await page.goto(server.base_url + "/report")
    length_before = await page.evaluate("history.length")
    await page.click("#quick-exit")
    await page.wait_for_url("https://www.wikipedia.org/**")
    assert neutral
    assert await page.evaluate("history.length") == length_before  # replaced, not pushed
    await page.go_back()
    assert "/report" not in page.url  # the report form is no longer one step back
    await context.close()
