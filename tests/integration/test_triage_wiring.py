"""Triage wired into intake and the worker: clear verdicts, sealed words, hashed links."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

import triage
from hotline.settings import Settings
from hotline.tables import tip_entities, tips
from hotline.worker import reassess_open_tips, startup_context
from tests.conftest import stored_bytes
from tests.helpers import submit
from web.app import HotlineApp

CRITICAL = (
    "A 15 year old girl is locked in room 214 at the Starlight Motel right now, "
    "a man takes the money"
)


async def wait_enqueued(app: HotlineApp, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while app.state.relay.enqueued < count:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)


async def test_a_stored_tip_has_its_verdict_in_clear_and_none_of_the_words(
    app: HotlineApp, client: httpx.AsyncClient, settings: Settings
) -> None:
    expected = triage.assess(CRITICAL)
    assert (await submit(client, CRITICAL)).status_code == 303
    async with app.state.engine.connect() as conn:
        row = (await conn.execute(sa.select(tips))).one()
    assert row.assessed
    assert row.urgency == expected.urgency == "critical"
    assert row.category == expected.category
    assert row.minors is True
    assert row.rules_version == triage.rules_version()
    assert set(row.indicator_ids) == {i.rule_id for i in expected.indicators}
    database = stored_bytes(settings.data_dir)
    for start, end in (span for i in expected.indicators for span in i.spans):
        matched = CRITICAL[start:end]
        if len(matched) >= 4:
            assert matched.encode() not in database, f"{matched!r} stored in clear"
    # Whole phrases: single words such as "locked" also name columns in the schema.
    for words in ("Starlight", "locked in room", "takes the money"):
        assert words.encode() not in database


async def test_two_tips_with_one_phone_number_written_differently_share_an_entity_hash(
    app: HotlineApp, client: httpx.AsyncClient, make_worker: Any
) -> None:
    await submit(client, "The man who drives the girls answers at (555) 123-4567.")
    await submit(client, "Call +1 555 123 4567, they sell the workers' passports.")
    await submit(client, "Nothing to link here, just a question about the signs.")
    await wait_enqueued(app, 3)
    await make_worker().main()
    async with app.state.engine.connect() as conn:
        rows = (await conn.execute(sa.select(tip_entities))).all()
    phones = [r for r in rows if r.kind == "phone"]
    assert len(phones) == 2
    assert phones[0].digest == phones[1].digest
    assert phones[0].tip_id != phones[1].tip_id
    assert b"555" not in phones[0].digest


async def test_the_worker_reassesses_open_tips_under_new_rules(
    app: HotlineApp, client: httpx.AsyncClient, settings: Settings, data_dir: Path
) -> None:
    await submit(client, CRITICAL)
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.update(tips).values(rules_version="old-rules", urgency="low"))
    ctx: dict[str, Any] = {}
    await startup_context(ctx, settings)
    try:
        assert await reassess_open_tips(ctx) == 1
        assert await reassess_open_tips(ctx) == 0  # nothing left under other rules
    finally:
        await ctx["engine"].dispose()
    async with app.state.engine.connect() as conn:
        row = (await conn.execute(sa.select(tips))).one()
    assert (row.urgency, row.rules_version) == ("critical", triage.rules_version())
