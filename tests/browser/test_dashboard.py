"""A night on the dashboard, in a real browser against the real server.

A reporter files a tip with JavaScript off; a dispatcher who signed in with a password
and a TOTP code sees it arrive in the queue without reloading, opens it (which leaves
an audit entry), and replies; the reporter reads the reply with the receipt code.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path

import pyotp
import pytest
import sqlalchemy as sa
from playwright.async_api import Browser, BrowserContext, Page

from hotline import db
from hotline.accounts import add_user
from hotline.tables import audit_log
from tests.browser.axe import serious_violations
from tests.conftest import database_rows, make_settings
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "a long night shift passphrase"
TIP = "Three young women sleep above the nail salon on Elm Street and say they owe the boss."
REPLY = "Thank you. Can you tell us which nights the van comes?"


async def _add_user(data_dir: Path, username: str, role: str) -> None:
    settings = make_settings(data_dir, key_passphrase="test passphrase")
    engine = db.create_engine(settings)
    try:
        await add_user(engine, username, PASSWORD, role)  # type: ignore[arg-type]
    finally:
        await engine.dispose()


def _audit_entries(data_dir: Path, action: str) -> list[tuple[str, uuid.UUID]]:
    rows = database_rows(
        data_dir,
        sa.select(audit_log.c.username, audit_log.c.tip_id).where(audit_log.c.action == action),
    )
    return [(username, tip_id) for username, tip_id in rows]


async def _sign_in_first_time(page: Page, base_url: str, username: str) -> None:
    """Password, then TOTP enrolment from the key shown on the page, then the queue."""
    await page.goto(base_url + "/dashboard/login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("main form button[type=submit]")
    await page.wait_for_url("**/dashboard/enrol")
    secret = (await page.inner_text("#totp-secret")).replace(" ", "")
    await page.fill("#code", pyotp.TOTP(secret).now())
    await page.click("main form button[type=submit]")
    await page.wait_for_selector("#recovery-codes")
    await page.click("text=go to the queue")
    await page.wait_for_url("**/dashboard/")


async def _queue_row_links(page: Page) -> list[str]:
    return await page.eval_on_selector_all(
        "#queue-rows a[href^='/dashboard/tips/']", "links => links.map(a => a.href)"
    )


async def test_a_dispatcher_sees_a_new_tip_live_opens_it_and_the_reporter_reads_the_reply(
    browser: Browser, server: ServerProcess, data_dir: Path, artifacts: Path
) -> None:
    await _add_user(data_dir, "night-dispatcher", "dispatcher")
    dispatcher_context = await browser.new_context(viewport={"width": 1280, "height": 900})
    board = await dispatcher_context.new_page()
    await _sign_in_first_time(board, server.base_url, "night-dispatcher")
    assert await _queue_row_links(board) == []
    # A mark in the page's memory: it survives only if the page is never reloaded.
    await board.evaluate("window.__stayedOnPage = true")

    reporter_context = await browser.new_context(java_script_enabled=False)
    reporter = await reporter_context.new_page()
    await reporter.goto(server.base_url + "/report")
    await reporter.fill("#what", TIP)
    await reporter.click("button[type=submit]")
    await reporter.wait_for_url(re.compile(r"/report/done/"))
    receipt = re.search(r"\d{4} \d{4} \d{4} \d{4}", await reporter.inner_text("body"))
    assert receipt

    await board.wait_for_selector("#queue-rows a[href^='/dashboard/tips/']", timeout=15_000)
    assert await board.evaluate("window.__stayedOnPage === true"), "the queue was reloaded"
    await board.screenshot(path=str(artifacts / "dashboard-queue.png"), full_page=True)
    assert TIP not in await board.inner_text("body"), "the queue shows no tip text"
    assert _audit_entries(data_dir, "view_tip") == []

    [tip_url] = await _queue_row_links(board)
    await board.goto(tip_url)
    assert "nail salon" in await board.inner_text("main")
    tip_id = tip_url.rsplit("/", 1)[1]
    assert _audit_entries(data_dir, "view_tip") == [("night-dispatcher", uuid.UUID(tip_id))]
    await board.screenshot(path=str(artifacts / "dashboard-tip.png"), full_page=True)

    await board.fill("textarea[name=text]#reply-text", REPLY)
    await board.click("form[action$='/reply'] button[type=submit]")
    await board.wait_for_load_state()
    assert REPLY in await board.inner_text("main")

    await reporter.goto(server.base_url + "/followup")
    await reporter.fill("input[name=receipt]", receipt.group(0))
    await reporter.click("button[type=submit]")
    assert REPLY in await reporter.inner_text("main")
    assert await reporter_context.cookies() == []
    await reporter_context.close()
    await dispatcher_context.close()


async def test_the_main_dashboard_pages_have_no_serious_accessibility_violations(
    browser: Browser, server: ServerProcess, data_dir: Path
) -> None:
    await _add_user(data_dir, "night-admin", "admin")
    context: BrowserContext = await browser.new_context(bypass_csp=True)
    page = await context.new_page()
    failures: dict[str, list[object]] = {}

    async def check(name: str) -> None:
        found = await serious_violations(page)
        if found:
            failures[name] = found

    await page.goto(server.base_url + "/dashboard/login")
    await check("login")
    await page.fill("#username", "night-admin")
    await page.fill("#password", PASSWORD)
    await page.click("main form button[type=submit]")
    await page.wait_for_url("**/dashboard/enrol")
    await check("enrol")
    secret = (await page.inner_text("#totp-secret")).replace(" ", "")
    await page.fill("#code", pyotp.TOTP(secret).now())
    await page.click("main form button[type=submit]")
    await page.wait_for_selector("#recovery-codes")
    await check("recovery codes")

    # A tip to look at, filed as a reporter would.
    await page.goto(server.base_url + "/report")
    await page.fill("#what", TIP)
    await page.click("button[type=submit]")
    await page.wait_for_url(re.compile(r"/report/done/"))

    for name, path in [
        ("queue", "/dashboard/"),
        ("referrals", "/dashboard/referrals"),
        ("new referral", "/dashboard/referrals/new"),
        ("statistics", "/dashboard/stats"),
        ("users", "/dashboard/users"),
    ]:
        response = await page.goto(server.base_url + path)
        assert response is not None
        assert response.status == 200, path
        await check(name)
    await page.goto(server.base_url + "/dashboard/")
    [tip_url] = await _queue_row_links(page)
    await page.goto(tip_url)
    await check("tip view")
    await page.goto(tip_url + "/export")
    await check("export")
    await context.close()
    assert failures == {}


# Script that must never run when a dispatcher reads a tip. Each one, if it ran, would
# set window.__pwned or open a dialog.
PAYLOADS = [
    "<script>window.__pwned = 1; alert(1)</script>",
    '<img src=x onerror="window.__pwned = 2; alert(2)">',
    '"><svg onload="window.__pwned = 3">',
    '\'><iframe srcdoc="<script>parent.__pwned = 4</script>"></iframe>',
    "</textarea><script>window.__pwned = 5</script>",
    '<a href="javascript:window.__pwned = 6">click</a> they took my passport',
    '{{ 7 * 7 }} {% raw %} ${7*7} <details open ontoggle="window.__pwned = 7">',
    '<math><mtext></mtext><mglyph><style><img src=x onerror="window.__pwned = 8">',
    "<body onload=window.__pwned=9> locked in the basement",
    '<meta http-equiv="refresh" content="0;url=javascript:window.__pwned=10">',
]


async def test_script_planted_in_tips_never_runs_in_the_dashboard(
    browser: Browser, server: ServerProcess, data_dir: Path
) -> None:
    await _add_user(data_dir, "xss-dispatcher", "dispatcher")
    reporter_context = await browser.new_context(java_script_enabled=False)
    reporter = await reporter_context.new_page()
    for payload in PAYLOADS:
        await reporter.goto(server.base_url + "/report")
        await reporter.fill("#what", payload)
        await reporter.fill("#where", payload[:200])
        await reporter.click("button[type=submit]")
        await reporter.wait_for_url(re.compile(r"/report/done/"))
    await reporter_context.close()

    # The CSP is switched off here on purpose: escaping alone must stop every payload.
    context = await browser.new_context(bypass_csp=True)
    dialogs: list[str] = []
    page = await context.new_page()
    page.on(
        "dialog",
        lambda dialog: (dialogs.append(dialog.message), asyncio.ensure_future(dialog.dismiss())),
    )
    await _sign_in_first_time(page, server.base_url, "xss-dispatcher")
    links = await _queue_row_links(page)
    assert len(links) == len(PAYLOADS)
    for link in links:
        await page.goto(link)
        await page.wait_for_load_state("load")
        assert await page.evaluate("window.__pwned === undefined"), link
        assert (
            await page.evaluate("document.querySelectorAll('main script, main iframe').length") == 0
        )
    await page.goto(server.base_url + "/dashboard/")
    assert await page.evaluate("window.__pwned === undefined")
    assert dialogs == []
    await context.close()
