"""Stored script never runs, by the vectors tests/browser/test_dashboard.py does not plant:
an SMS tip's body, a dispatcher's note, and a referral service's name and details (shown on
the dashboard and, when public, on the public help page).

As in the web-form test there, the dashboard's CSP is bypassed on purpose: escaping alone
must stop every payload.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page

from tests.abuse.conftest import CookieKeeper, sign_in_first_time, stored_tip_ids
from tests.browser.conftest import browser, chromium  # noqa: F401 - fixtures used here
from tests.browser.test_dashboard import PASSWORD, PAYLOADS, _add_user, _sign_in_first_time
from tests.conftest import (
    SMS_PUBLIC_URL,
    TWILIO_ACCOUNT_SID,
    TWILIO_FROM,
    TWILIO_TOKEN,
    free_port,
)
from tests.dashboard_helpers import csrf_of
from tests.fuzz.reliability import record_figures
from tests.server import ServerProcess
from tests.sms_helpers import inbound_params, sign

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def sms_server(data_dir: Path, redis: aioredis.Redis, twilio_api: Any) -> Iterator[ServerProcess]:
    process = ServerProcess(
        data_dir,
        free_port(),
        "serve",
        "--role",
        "all",
        HOTLINE_PUBLIC_URL=SMS_PUBLIC_URL,
        HOTLINE_TWILIO_ACCOUNT_SID=TWILIO_ACCOUNT_SID,
        HOTLINE_TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        HOTLINE_TWILIO_FROM=TWILIO_FROM,
        HOTLINE_TWILIO_API_URL=twilio_api.url,
    )
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


async def plant(server: ServerProcess, data_dir: Path) -> None:
    """Every payload as an SMS body, as a note on a tip, and in a referral service."""
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        for n, payload in enumerate(PAYLOADS):
            params = inbound_params(payload, sender=f"+1415555{n:04d}")
            answer = await client.post(
                "/sms/twilio",
                data=params,
                headers={"X-Twilio-Signature": sign("/sms/twilio", params)},
            )
            assert answer.status_code == 200, answer.status_code
        admin = CookieKeeper(client)
        await sign_in_first_time(admin, "xss-admin", PASSWORD)
        ids = await stored_tip_ids(data_dir)
        assert len(ids) == len(PAYLOADS)
        for tip_id, payload in zip(ids, PAYLOADS, strict=True):
            page = await admin.get(f"/dashboard/tips/{tip_id}")
            note = await admin.post(
                f"/dashboard/tips/{tip_id}/notes", data={"csrf": csrf_of(page), "text": payload}
            )
            assert note.status_code == 303, note.status_code
        for n, payload in enumerate(PAYLOADS):
            form = await admin.get("/dashboard/referrals/new")
            made = await admin.post(
                "/dashboard/referrals/new",
                data={
                    "csrf": csrf_of(form),
                    "kind": "shelter",
                    "name": f"{payload[:100]} {n}",
                    "region": payload[:100],
                    "languages": "en",
                    "hours": payload[:100],
                    "contact": payload[:100],
                    "description": payload,
                    "public": "on",
                    "active": "on",
                },
            )
            assert made.status_code == 303, made.status_code


async def unharmed(page: Page, where: str) -> None:
    await page.wait_for_load_state("load")
    assert await page.evaluate("window.__pwned === undefined"), where
    found = await page.evaluate("document.querySelectorAll('main script, main iframe').length")
    assert found == 0, where


async def test_script_in_sms_bodies_notes_and_referral_services_never_runs(
    browser: Browser,  # noqa: F811 - the fixture imported above
    sms_server: ServerProcess,
    data_dir: Path,
) -> None:
    await _add_user(data_dir, "xss-admin", "admin")
    await _add_user(data_dir, "xss-reader", "dispatcher")
    await plant(sms_server, data_dir)

    context = await browser.new_context(bypass_csp=True)
    dialogs: list[str] = []
    page = await context.new_page()
    page.on(
        "dialog",
        lambda dialog: (dialogs.append(dialog.message), asyncio.ensure_future(dialog.dismiss())),
    )
    await _sign_in_first_time(page, sms_server.base_url, "xss-reader")
    await unharmed(page, "queue")
    visited = 1
    texts = []
    for tip_id in await stored_tip_ids(data_dir):
        await page.goto(f"{sms_server.base_url}/dashboard/tips/{tip_id}")
        await unharmed(page, tip_id)
        texts.append(await page.inner_text("main"))
        visited += 1
    for payload in PAYLOADS:  # shown as text: once as the message, once as the note
        assert sum(text.count(payload) for text in texts) >= 2, payload
    for path in ("/dashboard/referrals", "/help", "/help?lang=es"):
        await page.goto(sms_server.base_url + path)
        await unharmed(page, path)
        visited += 1
    shown = await page.inner_text("main")
    assert PAYLOADS[0][:20] in shown  # the payloads are there, as text
    assert dialogs == []
    await context.close()
    record_figures(
        "abuse",
        "stored_script",
        payloads=len(PAYLOADS),
        vectors=["sms_body", "note", "referral_service"],
        pages_visited=visited,
    )
