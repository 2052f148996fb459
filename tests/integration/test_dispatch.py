"""The dispatch job is idempotent: the database decides, not Redis."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline.queue import enqueue_dispatch
from hotline.tables import tip_events, tips
from tests.helpers import submit
from web.app import HotlineApp


async def test_a_tip_enqueued_again_after_its_job_ran_is_not_dispatched_twice(
    app: HotlineApp, client: httpx.AsyncClient, redis: aioredis.Redis, make_worker: Any
) -> None:
    assert (await submit(client, "Workers locked in the factory at night")).status_code == 303
    deadline = asyncio.get_running_loop().time() + 10
    while app.state.relay.enqueued < 1:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    worker = make_worker()
    await worker.main()
    async with app.state.engine.connect() as conn:
        tip_id = (await conn.execute(sa.select(tips.c.id))).scalar_one()
    from arq.connections import create_pool

    from hotline.queue import redis_settings

    pool = await create_pool(redis_settings(app.state.public.settings.redis_url))
    assert await enqueue_dispatch(pool, [tip_id, tip_id]) == 1  # keep_result=0: may run again
    await pool.aclose()
    second = make_worker()
    await second.main()
    async with app.state.engine.connect() as conn:
        count = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(tip_events)
                .where(tip_events.c.kind == "dispatched")
            )
        ).scalar_one()
    assert count == 1
    assert second.jobs_complete == 1  # only the duplicate dispatch (the first also paged)
