"""The relay: moves committed, undispatched tips into arq jobs, off the reporter's path.

It is woken right after each group commit with the ids just written, and backed by a
periodic sweep over the database for anything it missed (a crash between commit and
enqueue, Redis down, another process's tips). Redis being down or slow delays paging;
it never slows a reporter and never loses a tip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import sqlalchemy as sa
from arq.connections import ArqRedis, RedisSettings
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import logs
from hotline.queue import enqueue_dispatch, open_pool
from hotline.tables import tips

log = logs.get_logger(__name__)

SWEEP_LIMIT = 1000
MAX_BACKOFF_S = 10.0
# Under load, gather the ids of several commits into one Redis round trip.
FLUSH_EVERY_S = 0.02


class Relay:
    """Offer tip ids; they reach arq as soon as Redis takes them."""

    def __init__(
        self,
        engine: AsyncEngine,
        redis_settings: RedisSettings | None,
        *,
        sweep_interval: float,
        sweep_grace: float,
    ) -> None:
        self._engine = engine
        self._redis_settings = redis_settings
        self._sweep_interval = sweep_interval
        self._sweep_grace = sweep_grace
        self._pending: set[UUID] = set()
        self._wake = asyncio.Event()
        self._redis: ArqRedis | None = None
        self._task: asyncio.Task[None] | None = None
        self.enqueued = 0

    def offer(self, tip_ids: Sequence[UUID]) -> None:
        """Called after a commit: never blocks, never fails."""
        self._pending.update(tip_ids)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def start(self) -> None:
        if self._redis_settings is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="hotline-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def _run(self) -> None:
        backoff = 0.5
        loop = asyncio.get_running_loop()
        next_sweep = loop.time()  # sweep once at start: tips left by a previous run
        grace = 0.0  # at start nothing of ours is in flight: take every undispatched tip
        while True:
            timeout = max(0.0, next_sweep - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                if loop.time() >= next_sweep:
                    await self._sweep(grace)
                    next_sweep = loop.time() + self._sweep_interval
                    grace = self._sweep_grace
                if await self._flush():
                    await asyncio.sleep(FLUSH_EVERY_S)
            except (OSError, RedisError, TimeoutError, SQLAlchemyError) as exc:
                log.warning("relay_deferred", status=type(exc).__name__, count=self.pending)
                await self._drop_redis()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                if self._pending:
                    self._wake.set()
                continue
            backoff = 0.5

    async def _flush(self) -> bool:
        flushed = False
        while self._pending:
            batch = list(self._pending)[:500]
            redis = await self._connect()
            self.enqueued += await enqueue_dispatch(redis, batch)
            self._pending.difference_update(batch)
            flushed = True
        return flushed

    async def _sweep(self, grace: float) -> None:
        cutoff = datetime.now(UTC) - timedelta(seconds=grace)
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                sa.select(tips.c.id)
                .where(tips.c.dispatched_at.is_(None), tips.c.created_at <= cutoff)
                .order_by(tips.c.created_at)
                .limit(SWEEP_LIMIT)
            )
            found = [row.id for row in rows]
        if found:
            log.info("relay_sweep_found", count=len(found))
            self._pending.update(found)

    async def _connect(self) -> ArqRedis:
        if self._redis is None:
            assert self._redis_settings is not None  # noqa: S101 - start() checked it
            self._redis = await open_pool(self._redis_settings)
        return self._redis

    async def _drop_redis(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(OSError, RedisError):
                await self._redis.aclose()
            self._redis = None
