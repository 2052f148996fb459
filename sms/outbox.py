"""Hands committed SMS message ids to arq jobs, off the webhook's path.

Like the core's relay: ``offer`` never blocks and never fails; a background task moves the
ids into jobs with deterministic ids (``sms-carrier:<message id>``), so offering one twice
is harmless. Redis being down delays the jobs; the worker's periodic sweep finds anything
that never reached Redis.

It also hands on the paging steps that a page's delivery report made due (``page:<tip>:
<step>``, brought forward if it already waits); a step lost here is restored by the
worker's escalation sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
from uuid import UUID

from arq.connections import ArqRedis, RedisSettings
from redis.exceptions import RedisError

from hotline import logs
from hotline.queue import (
    CLEAN_UP_AT_CARRIER,
    carrier_job_id,
    enqueue_many,
    enqueue_step,
    open_pool,
)

log = logs.get_logger(__name__)

MAX_PENDING = 10_000
MAX_BACKOFF_S = 10.0
FLUSH_EVERY_S = 0.02


class CarrierOutbox:
    """Offer message ids; each becomes a ``clean_up_at_carrier`` job. Offer page steps;
    each becomes (or brings forward) its ``page_step`` job."""

    def __init__(self, redis_settings: RedisSettings | None) -> None:
        self._redis_settings = redis_settings
        self._pending: set[UUID] = set()
        self._steps: dict[tuple[UUID, int], float] = {}
        self._wake = asyncio.Event()
        self._redis: ArqRedis | None = None
        self._task: asyncio.Task[None] | None = None

    def offer(self, message_id: UUID) -> None:
        if self._redis_settings is None or len(self._pending) >= MAX_PENDING:
            return  # the worker's sweep picks it up
        self._pending.add(message_id)
        self._wake.set()

    def offer_step(self, tip_id: UUID, step: int, *, delay: float) -> None:
        """A paging step to run after ``delay`` seconds (ids only, never blocks)."""
        if self._redis_settings is None or len(self._steps) >= MAX_PENDING:
            return  # the worker's escalation sweep picks it up
        self._steps[(tip_id, step)] = delay
        self._wake.set()

    async def start(self) -> None:
        if self._redis_settings is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="hotline-sms-outbox")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop_redis()

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except (OSError, RedisError, TimeoutError) as exc:
                log.warning("sms_outbox_deferred", status=type(exc).__name__)
                await self._drop_redis()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                self._wake.set()
                continue
            backoff = 0.5

    async def _flush(self) -> None:
        while self._steps:
            (tip_id, step), delay = next(iter(self._steps.items()))
            await enqueue_step(await self._pool(), tip_id, step, delay=delay)
            del self._steps[(tip_id, step)]
        while self._pending:
            batch = list(self._pending)[:500]
            jobs = ((carrier_job_id(message_id), str(message_id)) for message_id in batch)
            await enqueue_many(await self._pool(), CLEAN_UP_AT_CARRIER, jobs)
            self._pending.difference_update(batch)
            # Under load, gather the ids of several commits into one Redis round trip.
            await asyncio.sleep(FLUSH_EVERY_S)

    async def _pool(self) -> ArqRedis:
        if self._redis is None:
            assert self._redis_settings is not None  # noqa: S101 - start() checked it
            self._redis = await open_pool(self._redis_settings)
        return self._redis

    async def _drop_redis(self) -> None:
        if self._redis is not None:
            with contextlib.suppress(OSError, RedisError):
                await self._redis.aclose()
            self._redis = None
