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
DELIVER_REPLY = "deliver_reply"
CLEAN_UP_AT_CARRIER = "clean_up_at_carrier"
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


def reply_job_id(message_id: UUID) -> str:
    return f"sms-reply:{message_id}"


def carrier_job_id(message_id: UUID) -> str:
    return f"sms-carrier:{message_id}"


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
