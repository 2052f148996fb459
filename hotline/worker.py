"""The arq worker: jobs take ids, reload rows, and are idempotent against the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from arq import Retry, cron
from arq.connections import RedisSettings
from sqlalchemy.exc import OperationalError

from hotline import db, keys, logs, metrics
from hotline.queue import enqueue_dispatch
from hotline.settings import Settings
from hotline.tables import receipt_handoffs, tip_events, tips

log = logs.get_logger(__name__)

Ctx = dict[str, Any]


async def dispatch_tip(ctx: Ctx, tip_id: str) -> None:
    """Mark a committed tip dispatched, once. Later issues hang paging and linkage here."""
    engine = ctx["engine"]
    tip = UUID(tip_id)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            claimed = await conn.execute(
                sa.update(tips)
                .where(tips.c.id == tip, tips.c.dispatched_at.is_(None))
                .values(dispatched_at=now)
            )
            if claimed.rowcount != 1:
                return  # already dispatched, or purged: nothing to do
            await conn.execute(sa.insert(tip_events).values(tip_id=tip, kind="dispatched", at=now))
    except OperationalError:
        # A locked or briefly unavailable database is transient; anything else is a bug.
        raise Retry(defer=timedelta(seconds=2 * ctx.get("job_try", 1))) from None
    metrics.TIPS_DISPATCHED.inc()
    log.info("tip_dispatched", tip_id=tip_id)


async def sweep_undispatched(ctx: Ctx) -> int:
    """Enqueue any tip committed but never dispatched (the relay's safety net)."""
    settings: Settings = ctx["settings"]
    cutoff = datetime.now(UTC) - timedelta(seconds=settings.sweep_grace_seconds)
    async with ctx["engine"].connect() as conn:
        rows = await conn.execute(
            sa.select(tips.c.id)
            .where(tips.c.dispatched_at.is_(None), tips.c.created_at <= cutoff)
            .limit(1000)
        )
        found = [row.id for row in rows]
    return await enqueue_dispatch(ctx["redis"], found) if found else 0


async def purge_expired_handoffs(ctx: Ctx) -> int:
    """Receipts never shown are deleted once their handoff expires."""
    async with ctx["engine"].begin() as conn:
        result = await conn.execute(
            sa.delete(receipt_handoffs).where(receipt_handoffs.c.expires_at < datetime.now(UTC))
        )
    return int(result.rowcount or 0)


def worker_settings(settings: Settings, redis: RedisSettings) -> dict[str, Any]:
    """Keyword arguments for :class:`arq.worker.Worker`: the worker's composition root."""

    async def startup(ctx: Ctx) -> None:
        ctx["settings"] = settings
        ctx["engine"] = db.create_engine(settings)
        passphrase = settings.key_passphrase.get_secret_value() if settings.key_passphrase else None
        ctx["opener"] = keys.load_opener(settings.keys_dir, passphrase)
        ctx["hasher"] = keys.load_hash_key(settings.keys_dir)
        log.info("worker_started", role="worker")

    async def shutdown(ctx: Ctx) -> None:
        if "engine" in ctx:
            await ctx["engine"].dispose()

    return {
        "functions": [dispatch_tip],
        "cron_jobs": [
            cron(sweep_undispatched, second={0, 30}, run_at_startup=True, unique=True),
            cron(purge_expired_handoffs, minute=set(range(0, 60, 5)), second=0),
        ],
        "redis_settings": redis,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "keep_result": 0,
        "log_results": False,
        "max_tries": 10,
        "job_timeout": 120,
        "poll_delay": 0.1,
    }
