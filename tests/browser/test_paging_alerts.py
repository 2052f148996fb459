"""The paging alert in a real browser: it arrives live, sounds once the dispatcher has
touched the page (WebAudio, counted here), stays silent when muted, and is accessible."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from hotline import keys
from hotline.tables import pages, tips
from tests.browser.axe import serious_violations
from tests.browser.test_dashboard import _add_user, _sign_in_first_time
from tests.conftest import database_rows
from tests.server import ServerProcess

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Counts the oscillators the page starts, so a test can hear the sound without speakers.
COUNT_TONES = """
(() => {
  window.__tones = 0;
  const Real = window.AudioContext;
  window.AudioContext = class extends Real {
    createOscillator() { window.__tones += 1; return super.createOscillator(); }
  };
})();
"""


def _page_a_critical_tip(data_dir: Path) -> str:
    """An active chain, written as the paging job leaves it after the first page."""
    tip_id = uuid.uuid4()
    now = datetime.now(UTC)
    sealed = keys.load_sealer(data_dir / "keys").seal(b"words", tip_id=tip_id, field="body")
    reference = f"PG{tip_id.hex[:8].upper()}"
    database_rows(
        data_dir,
        tips.insert().values(
            id=tip_id,
            reference=reference,
            channel="web",
            lang="en",
            created_at=now,
            updated_at=now,
            status="new",
            assessed=True,
            urgency="critical",
            priority=0,
            body_sealed=sealed,
            page_state="active",
            dispatched_at=now,
        ),
        pages.insert().values(
            id=uuid.uuid4(),
            tip_id=tip_id,
            step=0,
            layer="primary",
            user_id=None,
            code="4821",
            status="sent",
            created_at=now,
            sent_at=now,
        ),
    )
    return reference


async def _tones(page: Page) -> int:
    return int(await page.evaluate("window.__tones"))


async def test_a_critical_page_arrives_live_sounds_after_a_click_and_not_when_muted(
    browser: Browser, server: ServerProcess, data_dir: Path, artifacts: Path
) -> None:
    await _add_user(data_dir, "alert-dispatcher", "dispatcher")
    # bypass_csp: axe is injected as an inline script (the nonce is checked elsewhere).
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)
    await context.add_init_script(COUNT_TONES)
    page = await context.new_page()
    await _sign_in_first_time(page, server.base_url, "alert-dispatcher")
    notice = page.locator("#alert-sound-state")
    assert "Click anywhere" in await notice.inner_text()
    assert await page.locator("#alerts").count() == 0
    # The banner: nobody is on call.
    assert await page.locator("#banner-nobody-on-call").count() == 1

    await page.click("h1")  # the one interaction browsers ask for
    assert "Sound is on" in await notice.inner_text()
    reference = _page_a_critical_tip(data_dir)
    await page.wait_for_selector(f"#alerts >> text={reference}", timeout=15_000)
    await page.wait_for_function("window.__tones > 0", timeout=5_000)
    heard = await _tones(page)
    await page.screenshot(path=str(artifacts / "dashboard-alert.png"), full_page=True)
    found = await serious_violations(page)
    assert found == []

    await page.click("#alert-mute")
    assert await page.get_attribute("#alert-mute", "aria-pressed") == "true"
    assert await page.evaluate("localStorage.getItem('hotline.alerts.muted')") == "1"
    second = _page_a_critical_tip(data_dir)
    await page.wait_for_selector(f"#alerts >> text={second}", timeout=15_000)
    assert await _tones(page) == heard, "muted: no sound"

    # Acknowledging, without any script's help, takes the alert away.
    await page.click(f"#alerts tr:has-text('{reference}') button")
    await page.wait_for_url("**/dashboard/")
    assert await page.locator(f"#alerts >> text={reference}").count() == 0
    assert await page.locator(f"#alerts >> text={second}").count() == 1
    await context.close()
