"""Opening an arq pool is cancel-safe: an app stopped mid-connect leaves no socket open."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis

from hotline.queue import open_pool, redis_settings
from tests.conftest import REDIS_URL


async def _our_connections(redis: aioredis.Redis) -> int:
    database = str(redis_settings(REDIS_URL).database)
    return sum(1 for client in await redis.client_list() if client.get("db") == database)


async def test_a_pool_cancelled_at_any_point_while_it_connects_leaves_no_connection_open(
    redis: aioredis.Redis,
) -> None:
    await redis.ping()
    before = await _our_connections(redis)
    for steps in range(12):  # cancel after 0, 1, … turns of the loop: somewhere mid-connect
        opening = asyncio.create_task(open_pool(redis_settings(REDIS_URL)))
        for _ in range(steps):
            await asyncio.sleep(0)
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            pool = await opening
            await pool.aclose()  # it had connected before the cancel arrived
        await asyncio.sleep(0.05)  # let Redis see any close
        assert await _our_connections(redis) == before, f"left open after {steps} turns"
