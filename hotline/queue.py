"""arq on Redis: connection settings and a batched, deduplicating enqueue.

Jobs carry ids only. Every job id is deterministic (``dispatch:<tip id>``) so offering
the same tip twice while its job waits is harmless, and every job is idempotent against
the database, which stays the source of truth.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from uuid import UUID

from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import default_queue_name, job_key_prefix, result_key_prefix
from arq.jobs import serialize_job
from arq.utils import timestamp_ms

DISPATCH = "dispatch_tip"
DELIVER_REPLY = "deliver_reply"
CLEAN_UP_AT_CARRIER = "clean_up_at_carrier"
PAGE_STEP = "page_step"
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


async def open_pool(settings: RedisSettings) -> ArqRedis:
    """arq's ``create_pool``, but a task cancelled while it connects (an app stopping)
    closes the connection it was opening instead of leaving the socket behind."""
    opening = asyncio.ensure_future(create_pool(settings))
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            pool = await asyncio.wait_for(opening, timeout=settings.conn_timeout)
            await pool.aclose()
        raise


def dispatch_job_id(tip_id: UUID) -> str:
    return f"dispatch:{tip_id}"


def reply_job_id(message_id: UUID) -> str:
    return f"sms-reply:{message_id}"


def carrier_job_id(message_id: UUID) -> str:
    return f"sms-carrier:{message_id}"


def page_job_id(tip_id: UUID, step: int) -> str:
    return f"page:{tip_id}:{step}"


class ArqReplyDelivery:
    """Hands each committed reply to the worker's ``deliver_reply`` job (ids only)."""

    def __init__(self, redis: ArqRedis) -> None:
        self._redis = redis

    async def reply_added(self, tip_id: UUID, message_id: UUID) -> None:
        await self._redis.enqueue_job(
            DELIVER_REPLY, str(message_id), _job_id=reply_job_id(message_id)
        )


# arq's enqueue_job, for a whole batch in one atomic round trip: a job is added only when
# neither its job key nor its result key exists (the same rule arq applies).
_ENQUEUE_MANY = """
local added = 0
for i = 5, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('exists', ARGV[1] .. id, ARGV[2] .. id) == 0 then
    redis.call('psetex', ARGV[1] .. id, tonumber(ARGV[3]), ARGV[i + 1])
    redis.call('zadd', KEYS[1], tonumber(ARGV[4]), id)
    added = added + 1
  end
end
return added
"""


async def enqueue_dispatch(redis: ArqRedis, tip_ids: Iterable[UUID]) -> int:
    """Enqueue ``dispatch_tip`` for each tip whose job is not already waiting.

    The same as arq's ``enqueue_job`` per tip, but one Lua call for the whole batch
    instead of a WATCH/MULTI transaction per job: the relay offers hundreds at a time.
    Returns how many jobs were new.
    """
    return await enqueue_many(
        redis, DISPATCH, ((dispatch_job_id(tip_id), str(tip_id)) for tip_id in tip_ids)
    )


async def enqueue_many(redis: ArqRedis, function: str, jobs: Iterable[tuple[str, str]]) -> int:
    """Enqueue ``function(arg)`` under each ``(job id, arg)`` whose job is not waiting yet,
    in one round trip. Arguments are ids: nothing a person wrote."""
    now = timestamp_ms()
    args: list[str | bytes] = [job_key_prefix, result_key_prefix, str(JOB_EXPIRES_MS), str(now)]
    for job_id, arg in dict(jobs).items():
        args.append(job_id)
        args.append(serialize_job(function, (arg,), {}, None, now))
    if len(args) == 4:
        return 0
    script = redis.register_script(_ENQUEUE_MANY)
    return int(await script(keys=[default_queue_name], args=args))


# One paging step: added like arq's enqueue_job (unless its job or result key exists); a
# step already waiting with a later run time is brought forward, never put back. A page
# reported undelivered makes the next step due at once, while its job waits out a window.
_ENQUEUE_STEP = """
if redis.call('exists', KEYS[2]) == 1 then
  local current = redis.call('zscore', KEYS[1], ARGV[1])
  if current and tonumber(current) > tonumber(ARGV[2]) then
    redis.call('zadd', KEYS[1], tonumber(ARGV[2]), ARGV[1])
    return 2
  end
  return 0
end
if redis.call('exists', KEYS[3]) == 1 then
  return 0
end
redis.call('psetex', KEYS[2], tonumber(ARGV[3]), ARGV[4])
redis.call('zadd', KEYS[1], tonumber(ARGV[2]), ARGV[1])
return 1
"""


async def enqueue_step(redis: ArqRedis, tip_id: UUID, step: int, *, delay: float) -> int:
    """Enqueue ``page_step(tip, step)`` to run after ``delay`` seconds (ids only).

    Returns 1 when added, 2 when a waiting job of that step was brought forward to the new
    time, 0 when nothing changed (it already waits no later, runs, or has just run).
    """
    job_id = page_job_id(tip_id, step)
    now = timestamp_ms()
    run_at = now + max(int(delay * 1000), 0)
    payload = serialize_job(PAGE_STEP, (str(tip_id), step), {}, None, now)
    script = redis.register_script(_ENQUEUE_STEP)
    keys = [default_queue_name, job_key_prefix + job_id, result_key_prefix + job_id]
    args: list[str | bytes] = [job_id, str(run_at), str(run_at - now + JOB_EXPIRES_MS), payload]
    return int(await script(keys=keys, args=args))
