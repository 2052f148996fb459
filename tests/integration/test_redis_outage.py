"""Redis is never on the reporter's path, and every tip is dispatched exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from hotline.settings import Settings
from hotline.tables import tip_events, tips
from tests.conftest import free_port, make_settings
from tests.helpers import submit
from tests.server import PrivateRedis
from web.app import create_app


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    yield server
    server.stop()


async def test_with_redis_down_reporters_get_receipts_and_each_tip_is_dispatched_once_after(
    data_dir: Path, private_redis: PrivateRedis, make_worker: Any
) -> None:
    settings: Settings = make_settings(
        data_dir, redis_url=private_redis.url, key_passphrase="test passphrase"
    )
    app = create_app(settings, role="all")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            answers = [await submit(client, f"tip {n} while redis is down") for n in range(8)]
            elapsed = loop.time() - started
        assert [a.status_code for a in answers] == [303] * 8
        assert elapsed < 5, "a Redis outage must not hold up reporters"
        relay = app.state.relay
        assert relay.enqueued == 0

        private_redis.start()
        relay.offer([])  # nudge; the relay also retries on its own backoff
        deadline = loop.time() + 30
        while relay.enqueued < 8:
            assert loop.time() < deadline, "the relay enqueued the tips once Redis was back"
            await asyncio.sleep(0.1)
        # Offering the same tips again while their jobs wait adds no job.
        async with app.state.engine.connect() as conn:
            ids = [row.id for row in await conn.execute(sa.select(tips.c.id))]
        relay.offer(ids)
        await asyncio.sleep(0.3)

        for _round in range(2):  # a second worker run finds nothing to do twice
            await make_worker(settings).main()
        async with app.state.engine.connect() as conn:
            dispatched = (
                await conn.execute(
                    sa.select(tip_events.c.tip_id, sa.func.count())
                    .where(tip_events.c.kind == "dispatched")
                    .group_by(tip_events.c.tip_id)
                )
            ).all()
            undispatched = (
                await conn.execute(
                    sa.select(sa.func.count())
                    .select_from(tips)
                    .where(tips.c.dispatched_at.is_(None))
                )
            ).scalar_one()
    assert len(dispatched) == 8
    assert all(count == 1 for _tip, count in dispatched)
    assert undispatched == 0
