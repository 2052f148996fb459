"""arq on Redis: connection settings and a batched, deduplicating enqueue.

Jobs carry ids only. Every job id is deterministic (``dispatch:<tip id>``) so offering
the same tip twice while its job waits is harmless, and every job is idempotent against
the database, which stays the source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

DISPATCH = "dispatch_tip"
JOB_EXPIRES_MS = 7 * 24 * 3600 * 1000


def redis_settings(url: str, *, conn_retries: int = 5) -> RedisSettings:
    if url.startswith("unix://"):
        settings = RedisSettings(unix_socket_path=url.removeprefix("unix://"))
    else:
        settings = RedisSettings.from_dsn(url)
    settings.conn_timeout = 2
    settings.conn_retries = conn_retries
    settings.conn_retry_delay = 1
    return settings


def dispatch_job_id(tip_id: UUID) -> str:
    return f"dispatch:{tip_id}"


async def enqueue_dispatch(redis: ArqRedis, tip_ids: Iterable[UUID]) -> int:
    """Enqueue ``dispatch_tip`` for each tip whose job is not already waiting.

    The same as arq's ``enqueue_job`` per tip, but two round trips for the whole batch
    instead of one transaction per job: the relay offers hundreds at a time. Returns how
    many jobs were new.
    """
    jobs = [(dispatch_job_id(tip_id), str(tip_id)) for tip_id in dict.fromkeys(tip_ids)]
    if not jobs:
        return 0
    async with redis.pipeline(transaction=False) as pipe:
        for job_id, _tip in jobs:
            pipe.exists(job_key_prefix + job_id, result_key_prefix + job_id)
        present = await pipe.execute()
    fresh = [job for job, found in zip(jobs, present, strict=True) if not found]
    if not fresh:
        return 0
    now = timestamp_ms()
    async with redis.pipeline(transaction=True) as pipe:
        for job_id, tip in fresh:
            payload = serialize_job(DISPATCH, (tip,), {}, None, now)
            pipe.psetex(job_key_prefix + job_id, JOB_EXPIRES_MS, payload)
            pipe.zadd(default_queue_name, {job_id: now})
        await pipe.execute()
    return len(fresh)
