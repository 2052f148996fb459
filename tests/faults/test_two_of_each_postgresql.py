"""Two public web processes and two workers on one PostgreSQL database and one Redis.

A load of reports spread over both web processes, a fifth of them critical with a staffed
rota and pager numbers, the real Twilio client against the stand-in: every tip is stored
and dispatched exactly once, and every step of every critical tip's chain pages its layer
exactly once, whichever worker ran it.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline import db
from hotline.settings import Settings
from hotline.tables import pages, tips
from tests.conftest import (
    POSTGRES_ADMIN_DSN,
    SMS_PUBLIC_URL,
    TWILIO_ACCOUNT_SID,
    TWILIO_FROM,
    TWILIO_TOKEN,
)
from tests.faults.support import (
    Load,
    dispatched_once,
    fetch,
    processes,
    record,
    stored,
    wait_until,
)
from tests.paging_helpers import CRITICAL, NUMBERS, paging_settings, staff_rota
from tests.twilio_standin import TwilioStandIn

pytestmark = pytest.mark.slow

REPORTS = 80
CRITICAL_EVERY = 5
WINDOW_MINUTES = 0.02  # 1.2 s between the layers of a chain
REFERENCE_IN_PAGE = re.compile(r"tip ([2-9A-Z]{5}-[2-9A-Z]{5})\.")
LAYER_OF_NUMBER = {number: layer for layer, number in NUMBERS.items()}


def reference_in(page: str) -> str:
    found = REFERENCE_IN_PAGE.search(page)
    assert found, "a page names its tip's reference"
    return found.group(1)


def text_for(n: int) -> str:
    if n % CRITICAL_EVERY == 0:
        return f"{CRITICAL}. Report number {n}."
    return f"I saw something at the market, report number {n}"


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database of this test's own."""
    name = f"hotline_faults_{secrets.token_hex(4)}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_settings(data_dir: Path, postgres_url: str, twilio_api: TwilioStandIn) -> Settings:
    escalation = {"critical": WINDOW_MINUTES, "high": WINDOW_MINUTES}
    settings = paging_settings(
        data_dir,
        twilio_api,
        database_url=postgres_url,
        escalation_rounds=1,
        escalation_minutes=escalation,
    )
    db.upgrade(settings)
    return settings


async def test_two_web_processes_and_two_workers_dispatch_each_tip_once_and_page_once(
    data_dir: Path,
    postgres_url: str,
    pg_settings: Settings,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
) -> None:
    url = pg_settings.resolved_database_url
    engine = db.create_engine(pg_settings)
    try:
        await staff_rota(pg_settings, engine)
    finally:
        await engine.dispose()
    env = {
        "HOTLINE_DATABASE_URL": postgres_url,
        "HOTLINE_PUBLIC_URL": SMS_PUBLIC_URL,
        "HOTLINE_TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "HOTLINE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "HOTLINE_TWILIO_FROM": TWILIO_FROM,
        "HOTLINE_TWILIO_API_URL": twilio_api.url,
        "HOTLINE_ESCALATION_ROUNDS": "1",
        "HOTLINE_ESCALATION_MINUTES": json.dumps(pg_settings.escalation_minutes),
        "HOTLINE_SWEEP_INTERVAL_SECONDS": "1",
        "HOTLINE_SWEEP_GRACE_SECONDS": "2",
    }
    with processes(data_dir) as started:
        for _ in range(2):
            started.worker(**env)
        webs = [started.web(ready=False, **env) for _ in range(2)]
        for web in webs:
            web.wait_ready()
        load = Load([web.base_url for web in webs], text_for=text_for)
        load.start()
        try:
            await load.until(REPORTS, within=60)
        finally:
            await load.stop()

        async def settled() -> bool:
            [(waiting,)] = await fetch(
                url,
                sa.select(sa.func.count())
                .select_from(tips)
                .where(sa.or_(tips.c.dispatched_at.is_(None), tips.c.page_state == "active")),
            )
            return int(waiting) == 0

        await wait_until(
            settled,
            within=60,
            what="every tip dispatched, every chain ended",
            explain=started.outputs,
        )
        assert all(process.process.poll() is None for process in started.started)
    found = await stored(url, data_dir / "keys")
    critical = {
        row.id: row.reference
        for row in await fetch(
            url, sa.select(tips.c.id, tips.c.reference).where(tips.c.urgency == "critical")
        )
    }
    page_rows = await fetch(url, sa.select(pages.c.tip_id, pages.c.layer, pages.c.status))

    lost = [text for text in load.acknowledged if text not in found.texts]
    assert lost == []
    assert found.unopened == 0
    assert dispatched_once(found) == found.tips
    assert sum(found.dispatch_events.values()) == found.tips
    wanted_critical = {found.texts[t] for t in load.acknowledged if t.startswith(CRITICAL)}
    assert set(critical) == wanted_critical
    # Each critical tip paged primary, backup and supervisor: one message each, no more.
    sends = Counter(
        (reference_in(r.form["Body"]), LAYER_OF_NUMBER[r.form["To"]]) for r in twilio_api.sent()
    )
    expected = {(ref, layer) for ref in critical.values() for layer in NUMBERS}
    assert set(sends) == expected
    assert set(sends.values()) == {1}, "no page sent twice"
    assert Counter(row.status for row in page_rows) == {"sent": 3 * len(critical)}
    record(
        "two_web_two_workers_postgresql",
        database="postgresql",
        web_processes=2,
        workers=2,
        acknowledged=len(load.acknowledged),
        stored=found.tips,
        lost=len(lost),
        dispatched_exactly_once=dispatched_once(found),
        critical_tips=len(critical),
        pages_sent=sum(sends.values()),
        duplicate_pages=sum(sends.values()) - len(sends),
        refused=sum(load.refused.values()),
    )
