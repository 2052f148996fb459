"""The arq worker: jobs take ids, reload rows, and are idempotent against the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from arq import Retry, cron
from arq.connections import ArqRedis, RedisSettings
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from redis.exceptions import RedisError
from sqlalchemy.exc import OperationalError

import triage
from hotline import db, keys, logs, metrics, paging, retention
from hotline.conversations import TextSender, expire_threads, thread_of_tip
from hotline.errors import SealError
from hotline.intake import Report
from hotline.linkage import entity_digests, store_links
from hotline.queue import enqueue_dispatch, enqueue_step
from hotline.queue import page_job_id as page_job_id
from hotline.seal import Sealer
from hotline.settings import Settings
from hotline.tables import receipt_handoffs, tip_events, tip_messages, tips
from hotline.verdict import assessment_columns

log = logs.get_logger(__name__)

Ctx = dict[str, Any]
REASSESS_BATCH = 200
# The share of the job timeout that one run of reassess_open_tips may take.
REASSESS_SHARE = 0.5
RESEAL_BATCH = 500
SCRUB_PENDING = "hotline:retention:scrub-pending"


def _now(ctx: Ctx) -> datetime:
    """The jobs' clock: ``ctx["clock"]`` (tests put a controllable one there)."""
    clock: Callable[[], datetime] = ctx.get("clock") or _utc_now
    return clock()


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _read_tip(ctx: Ctx, tip_id: UUID, body_sealed: bytes) -> str | None:
    """The tip's text for triage, or None if it does not open (logged, never raised)."""
    try:
        body = ctx["opener"].open(body_sealed, tip_id=tip_id, field="body")
        return Report.from_sealed_json(body).triage_text()
    except (SealError, ValueError, TypeError) as exc:
        log.error("tip_unreadable", tip_id=str(tip_id), status=type(exc).__name__)
        return None


def _assess(ctx: Ctx, text: str) -> triage.Assessment | None:
    try:
        return triage.assess(text, default_region=ctx["settings"].phone_region)
    except Exception as exc:  # noqa: BLE001 - a triage bug must not stop dispatch
        metrics.TRIAGE_FAILURES.inc()
        log.error("triage_failed", status=type(exc).__name__)
        return None


async def dispatch_tip(ctx: Ctx, tip_id: str) -> None:
    """Link the tip's entities and mark it dispatched, once; start paging when it is urgent.

    A tip whose urgency in force is paged gets ``page_state="active"`` in the same
    transaction as ``dispatched_at``, so a crash between the two cannot lose its chain; the
    chain's first step is enqueued at once (and the escalation sweep restores it if not).
    """
    engine = ctx["engine"]
    tip = UUID(tip_id)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        tips.c.body_sealed,
                        tips.c.dispatched_at,
                        tips.c.urgency,
                        tips.c.urgency_override,
                    ).where(tips.c.id == tip)
                )
            ).one_or_none()
        if row is None or row.dispatched_at is not None:
            return  # purged, or already dispatched: nothing to do
        text = _read_tip(ctx, tip, row.body_sealed)
        assessment = _assess(ctx, text) if text is not None else None
        digests = entity_digests(ctx["linkage"], assessment.entities) if assessment else set()
        now = _now(ctx)
        paged = paging.is_paged(ctx["settings"], row.urgency_override or row.urgency)
        values: dict[str, Any] = {"dispatched_at": now}
        if paged:
            values.update(page_state="active", updated_at=now)
        async with engine.begin() as conn:
            claimed = await conn.execute(
                sa.update(tips)
                .where(tips.c.id == tip, tips.c.dispatched_at.is_(None))
                .values(**values)
            )
            if claimed.rowcount != 1:
                return  # another worker won the race
            await conn.execute(sa.insert(tip_events).values(tip_id=tip, kind="dispatched", at=now))
            await store_links(conn, tip, digests)
    except OperationalError:
        # A locked or briefly unavailable database is transient; anything else is a bug.
        raise Retry(defer=timedelta(seconds=2 * ctx.get("job_try", 1))) from None
    metrics.TIPS_DISPATCHED.inc()
    log.info("tip_dispatched", tip_id=tip_id)
    if paged:
        await _enqueue_steps(ctx["redis"], [paging.Due(tip, 0, 0.0)])


async def _enqueue_steps(redis: ArqRedis, steps: list[paging.Due]) -> int:
    """Enqueue each step under its job id; a step already waiting is only brought forward
    (a page reported undelivered makes the next step due at once, not after its window).

    A Redis fault is logged, not raised: the escalation sweep finds the step again.
    """
    added = 0
    for due in steps:
        try:
            changed = await enqueue_step(redis, due.tip_id, due.step, delay=due.delay)
        except (RedisError, OSError) as exc:
            log.error("page_not_enqueued", tip_id=str(due.tip_id), status=type(exc).__name__)
            continue
        added += changed != 0
    return added


async def page_step(ctx: Ctx, tip_id: str, step: int) -> None:
    """One step of a tip's paging chain (ids only in Redis; idempotent, at most once)."""
    tip = UUID(tip_id)
    try:
        due = await paging.page_step(
            ctx["engine"],
            tip,
            int(step),
            settings=ctx["settings"],
            opener=ctx["opener"],
            pager=ctx.get("pager"),
            now=_now(ctx),
            job_try=ctx.get("job_try", 1),
        )
    except OperationalError:
        raise Retry(defer=timedelta(seconds=2 * ctx.get("job_try", 1))) from None
    if due is None:
        return
    if due.step == int(step):  # not due yet (a clock ahead of the database's rows)
        raise Retry(defer=timedelta(seconds=max(due.delay, 0.05)))
    await _enqueue_steps(ctx["redis"], [due])


async def sweep_pages(ctx: Ctx) -> int:
    """Enqueue every active chain's next step, due or deferred (the database is the truth)."""
    steps = await paging.due_steps(ctx["engine"], ctx["settings"], now=_now(ctx))
    return await _enqueue_steps(ctx["redis"], steps) if steps else 0


async def deliver_reply(ctx: Ctx, message_id: str) -> str | None:
    """Send a dispatcher's reply to the SMS thread its tip came from (never twice)."""
    message = UUID(message_id)
    async with ctx["engine"].connect() as conn:
        row = (
            await conn.execute(
                sa.select(tip_messages.c.tip_id, tip_messages.c.body_sealed).where(
                    tip_messages.c.id == message, tip_messages.c.author == "hotline"
                )
            )
        ).one_or_none()
        thread_id = await thread_of_tip(conn, row.tip_id) if row is not None else None
    if row is None or thread_id is None:
        return None  # not an SMS tip, or the reporter deleted the thread
    texts: TextSender | None = ctx.get("texts")
    if texts is None:
        log.warning("sms_not_configured", tip_id=str(row.tip_id))
        return None
    text = ctx["opener"].open(row.body_sealed, tip_id=row.tip_id, field=f"reply:{message}")
    return await texts.send_to_thread(
        thread_id,
        text.decode("utf-8"),
        tip_id=row.tip_id,
        tip_message_id=message,
        job_try=ctx.get("job_try", 1),
    )


async def reassess_open_tips(ctx: Ctx) -> int:
    """Re-run triage on open tips assessed under other rules (or never assessed).

    It stops before the job timeout and the next run goes on where it stopped: no job may
    outlast the timeout, since arq holds a dead worker's jobs for that long (plus 10 s).
    """
    version = triage.rules_version()
    engine = ctx["engine"]
    done = 0
    started: list[paging.Due] = []
    loop = asyncio.get_running_loop()
    stop_at = loop.time() + REASSESS_SHARE * ctx["settings"].job_timeout_seconds
    while loop.time() < stop_at:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    sa.select(tips.c.id, tips.c.body_sealed, tips.c.minors)
                    .where(
                        tips.c.status != "closed",
                        sa.or_(tips.c.rules_version.is_(None), tips.c.rules_version != version),
                    )
                    .limit(REASSESS_BATCH)
                )
            ).all()
        if not rows:
            break
        progressed = 0
        for row in rows:
            text = _read_tip(ctx, row.id, row.body_sealed)
            if text is None:
                continue
            assessment = _assess(ctx, text)
            if assessment is None:
                continue  # triage failed: the tip stays as it was
            columns = assessment_columns(assessment)
            if row.minors:
                columns["minors"] = True  # the reporter said so; rules cannot unsay it
            # A dispatcher's override outranks the rules: it keeps its place in the queue.
            columns["priority"] = sa.case(
                (tips.c.urgency_override.is_not(None), tips.c.priority),
                else_=columns["priority"],
            )
            digests = entity_digests(ctx["linkage"], assessment.entities)
            async with engine.begin() as conn:
                await conn.execute(
                    sa.update(tips)
                    .where(tips.c.id == row.id)
                    .values(**columns, updated_at=datetime.now(UTC))
                )
                await conn.execute(
                    sa.insert(tip_events).values(
                        tip_id=row.id, kind="reassessed", at=datetime.now(UTC)
                    )
                )
                await store_links(conn, row.id, digests)
                # New rules that make an open tip urgent page for it, as its dispatch would.
                if await paging.start_late_chain(
                    conn, row.id, ctx["settings"].paged_urgencies, now=_now(ctx)
                ):
                    started.append(paging.Due(row.id, 0, 0.0))
            progressed += 1
        done += progressed
        if progressed == 0:
            break
    if done:
        log.info("tips_reassessed", count=done, rules_version=version)
    if started:
        await _enqueue_steps(ctx["redis"], started)
    return done


async def reseal_replies(ctx: Ctx) -> int:
    """Seal waiting replies to the reporter key once the reporter has come back.

    A reply written before the reporter's first return is sealed to the case key only
    (the reporter key is derived from the receipt then). Idempotent: a row already
    re-sealed is not selected, and the update is guarded on ``reporter_sealed`` being NULL.
    """
    engine = ctx["engine"]
    done = 0
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    tip_messages.c.id,
                    tip_messages.c.tip_id,
                    tip_messages.c.body_sealed,
                    tips.c.reporter_public_key,
                )
                .select_from(tip_messages.join(tips, tips.c.id == tip_messages.c.tip_id))
                .where(
                    tip_messages.c.author == "hotline",
                    tip_messages.c.reporter_sealed.is_(None),
                    tips.c.reporter_public_key.is_not(None),
                )
                .order_by(tip_messages.c.created_at)
                .limit(RESEAL_BATCH)
            )
        ).all()
    for row in rows:
        field = f"reply:{row.id}"
        try:
            text = ctx["opener"].open(row.body_sealed, tip_id=row.tip_id, field=field)
            reporter = Sealer(X25519PublicKey.from_public_bytes(bytes(row.reporter_public_key)))
        except (SealError, ValueError) as exc:
            log.error("reply_unreadable", tip_id=str(row.tip_id), status=type(exc).__name__)
            continue
        sealed = reporter.seal(text, tip_id=row.tip_id, field=field)
        async with engine.begin() as conn:
            result = await conn.execute(
                sa.update(tip_messages)
                .where(tip_messages.c.id == row.id, tip_messages.c.reporter_sealed.is_(None))
                .values(reporter_sealed=sealed)
            )
        done += int(result.rowcount or 0)
    if done:
        log.info("replies_resealed", count=done)
    return done


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


async def expire_sms_threads(ctx: Ctx) -> int:
    """Forget SMS threads quiet for longer than the setting (their number hashes go)."""
    settings: Settings = ctx["settings"]
    return await expire_threads(ctx["engine"], quiet_for=timedelta(days=settings.sms_thread_days))


async def purge_closed_tips(ctx: Ctx) -> int:
    """Retention: purge closed tips past ``HOTLINE_RETENTION_DAYS``, each one audited.

    Like reassessment, it stops well before the job timeout; the next run goes on.
    """
    settings: Settings = ctx["settings"]
    redis: ArqRedis = ctx["redis"]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + REASSESS_SHARE * settings.job_timeout_seconds
    # Set until a purge's scrub (VACUUM, WAL truncation) is done: a run cut short by the
    # job timeout, or a WAL held by a reader, is scrubbed again on the next run.
    pending = bool(await redis.exists(SCRUB_PENDING))
    await redis.set(SCRUB_PENDING, b"1")
    result = await retention.purge_closed_tips(
        ctx["engine"],
        ctx["hasher"],
        now=_now(ctx),
        retention_days=settings.retention_days,
        should_stop=lambda: loop.time() >= deadline,
        scrub=pending,
    )
    if result.scrub is None or result.scrub.checkpointed:
        await redis.delete(SCRUB_PENDING)
    return len(result.purged)


async def startup_context(ctx: Ctx, settings: Settings) -> None:
    """What every job needs: settings, engine, the private keys, the linkage key."""
    ctx["settings"] = settings
    ctx.setdefault("clock", _utc_now)
    ctx["engine"] = db.create_engine(settings)
    passphrase = settings.key_passphrase.get_secret_value() if settings.key_passphrase else None
    ctx["opener"] = keys.load_opener(settings.keys_dir, passphrase)
    ctx["hasher"] = keys.load_hash_key(settings.keys_dir)
    ctx["linkage"] = keys.load_linkage_key(settings.keys_dir)
    ctx["sealer"] = keys.load_sealer(settings.keys_dir)


def worker_settings(settings: Settings, redis: RedisSettings) -> dict[str, Any]:
    """Keyword arguments for :class:`arq.worker.Worker`: the worker's composition root."""

    from sms import channel, jobs  # composition root: the worker wires the SMS channel

    async def startup(ctx: Ctx) -> None:
        await startup_context(ctx, settings)
        if settings.sms_enabled:
            channel.start_worker_channel(ctx, settings)
            ctx["pager"] = ctx["texts"]  # the SMS sender is the core's Pager too
        else:
            log.warning("pages_not_sent", status="sms_not_configured")
        try:
            await sweep_pages(ctx)  # restore chains lost with the last worker or Redis
        except OperationalError as exc:
            log.error("page_sweep_failed", status=type(exc).__name__)
        log.info("worker_started", role="worker", rules_version=triage.rules_version())

    async def shutdown(ctx: Ctx) -> None:
        await channel.stop_worker_channel(ctx)
        if "engine" in ctx:
            await ctx["engine"].dispose()

    options: dict[str, Any] = {
        "functions": [
            dispatch_tip,
            deliver_reply,
            reseal_replies,
            page_step,
            purge_closed_tips,
            jobs.clean_up_at_carrier,
        ],
        "cron_jobs": [
            cron(sweep_undispatched, second={0, 30}, run_at_startup=True, unique=True),
            cron(sweep_pages, second={2, 17, 32, 47}, unique=True),
            cron(reseal_replies, second={5, 35}, run_at_startup=True, unique=True),
            cron(purge_expired_handoffs, minute=set(range(0, 60, 5)), second=0),
            cron(jobs.sweep_carrier, second={10, 40}, unique=True),
            cron(expire_sms_threads, minute=7, second=0, run_at_startup=True, unique=True),
            # Daily at a quiet hour (UTC): on SQLite a purge ends with VACUUM, which holds
            # the write lock while it runs. A purge cut short goes on the next day.
            cron(purge_closed_tips, hour=3, minute=17, second=0, unique=True),
            cron(
                reassess_open_tips,
                minute=set(range(0, 60, 10)),
                second=15,
                run_at_startup=True,
                unique=True,
            ),
        ],
        "redis_settings": redis,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "keep_result": 0,
        "log_results": False,
        "max_tries": 10,
        # Also how long a job of a killed worker waits before it runs again (+10 s).
        "job_timeout": settings.job_timeout_seconds,
        "poll_delay": 0.1,
    }
    return metrics.time_jobs(options)  # each job's duration, by name, for the metrics
