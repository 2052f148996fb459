"""Retention: closed tips are purged a set number of days after they were closed.

A purge deletes the tip and every row that refers to it — its follow-ups and replies,
notes, overrides, referrals, events, entity digests, pages, receipt handoff, its SMS
messages and attachments, and the SMS thread (the sealed number and its keyed hash) once
no kept tip uses it — in one transaction with an audit entry (``purge_tip``, actor
``system``) that names the tip id and reference only. Tips merged into a purged tip keep
their own rows; their pointer to it is cleared.

The audit trail stays: its entries hold ids and levels, never sealed bytes, and deleting
one would break the hash chain.

On SQLite, ``secure_delete`` (set on every connection, :mod:`hotline.db`) zeroes deleted
cells and freed pages, but copies of a row that SQLite left behind when it moved cells
between pages, and the old page images in the write-ahead log, would survive. So a purge
that deleted anything ends with VACUUM and a truncating WAL checkpoint (:func:`scrub_sqlite`).
PostgreSQL keeps dead tuples until VACUUM and never zeroes them: see docs/operations.md.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline import audit, logs
from hotline.errors import ConflictError
from hotline.keys import KeyedHash
from hotline.tables import (
    pages,
    receipt_handoffs,
    sms_media,
    sms_messages,
    sms_threads,
    tip_entities,
    tip_events,
    tip_messages,
    tip_notes,
    tip_overrides,
    tip_referrals,
    tips,
)

log = logs.get_logger(__name__)

SYSTEM = audit.Actor(None, "system")
# Tables whose rows belong to one tip by ``tip_id``, deleted with it. SMS messages, their
# media and threads are handled apart; a test checks every foreign key to ``tips`` is here.
TIP_CHILDREN = (
    tip_messages,
    tip_notes,
    tip_overrides,
    tip_referrals,
    tip_entities,
    tip_events,
    receipt_handoffs,
    pages,
)
HANDLED_APART = frozenset({"sms_messages", "sms_media", "tips"})
PURGE_BATCH = 200
PURGE_ATTEMPTS = 10
CHECKPOINT_ATTEMPTS = 50


@dataclass(frozen=True, slots=True)
class Purgeable:
    """A closed tip past its retention period."""

    tip_id: uuid.UUID
    reference: str
    closed_at: datetime


@dataclass(frozen=True, slots=True)
class Scrub:
    """What was done on SQLite after a purge so no deleted byte stays in the files."""

    checkpointed: bool  # the WAL was checkpointed and truncated to nothing
    free_pages: int  # pages on the freelist afterwards (0 after VACUUM)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    purged: tuple[Purgeable, ...]
    scrub: Scrub | None  # None on PostgreSQL, or when nothing was purged


def cutoff(now: datetime, retention_days: int) -> datetime | None:
    """Tips closed at or before this instant are due; None when retention is off (0)."""
    return None if retention_days <= 0 else now - timedelta(days=retention_days)


async def purgeable_tips(
    engine: AsyncEngine, *, now: datetime, retention_days: int, limit: int = PURGE_BATCH
) -> list[Purgeable]:
    """Closed tips whose retention period has run out, oldest closure first."""
    before = cutoff(now, retention_days)
    if before is None:
        return []
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(tips.c.id, tips.c.reference, tips.c.closed_at)
                .where(
                    tips.c.status == "closed",
                    tips.c.closed_at.is_not(None),
                    tips.c.closed_at <= before,
                )
                .order_by(tips.c.closed_at, tips.c.id)
                .limit(limit)
            )
        ).all()
    return [Purgeable(row.id, row.reference, row.closed_at) for row in rows]


async def _delete_rows(conn: AsyncConnection, tip_id: uuid.UUID) -> None:
    """Every row that names the tip, children first (no reliance on ON DELETE CASCADE)."""
    message_ids = sa.select(sms_messages.c.id).where(sms_messages.c.tip_id == tip_id)
    thread_ids = [
        row.thread_id
        for row in await conn.execute(
            sa.select(sms_messages.c.thread_id)
            .where(sms_messages.c.tip_id == tip_id, sms_messages.c.thread_id.is_not(None))
            .distinct()
        )
    ]
    await conn.execute(
        sa.delete(sms_media).where(
            sa.or_(sms_media.c.tip_id == tip_id, sms_media.c.message_id.in_(message_ids))
        )
    )
    await conn.execute(sa.delete(sms_messages).where(sms_messages.c.tip_id == tip_id))
    if thread_ids:
        await _delete_unused_threads(conn, thread_ids)
    for table in TIP_CHILDREN:
        await conn.execute(sa.delete(table).where(table.c.tip_id == tip_id))
    await conn.execute(sa.update(tips).where(tips.c.merged_into == tip_id).values(merged_into=None))
    await conn.execute(sa.delete(tips).where(tips.c.id == tip_id))


async def _delete_unused_threads(conn: AsyncConnection, thread_ids: Sequence[uuid.UUID]) -> None:
    """A thread no kept tip uses goes, with its sealed number, hash and tip-less messages
    (keywords, their answers): the number is what ties a reporter to the purged tip."""
    in_use = set(
        (
            await conn.execute(
                sa.select(sms_messages.c.thread_id)
                .where(sms_messages.c.thread_id.in_(thread_ids), sms_messages.c.tip_id.is_not(None))
                .distinct()
            )
        ).scalars()
    )
    unused = [thread_id for thread_id in thread_ids if thread_id not in in_use]
    if not unused:
        return
    leftover = sa.select(sms_messages.c.id).where(sms_messages.c.thread_id.in_(unused))
    await conn.execute(sa.delete(sms_media).where(sms_media.c.message_id.in_(leftover)))
    await conn.execute(sa.delete(sms_messages).where(sms_messages.c.thread_id.in_(unused)))
    await conn.execute(sa.delete(sms_threads).where(sms_threads.c.id.in_(unused)))


async def purge_tip(
    engine: AsyncEngine, hasher: KeyedHash, tip: Purgeable, *, before: datetime
) -> bool:
    """Delete one tip and all that names it, with its audit entry, in one transaction.

    The tip must still be closed at or before ``before`` (a supervisor may have reopened it
    meanwhile). Returns False when it no longer qualifies.
    """
    for _attempt in range(PURGE_ATTEMPTS):
        try:
            async with engine.begin() as conn:
                # The guard is the first write: on SQLite it takes the write lock, so the
                # audit head read below cannot be overtaken.
                claimed = await conn.execute(
                    sa.update(tips)
                    .where(
                        tips.c.id == tip.tip_id,
                        tips.c.status == "closed",
                        tips.c.closed_at <= before,
                    )
                    .values(status="closed")
                )
                if claimed.rowcount != 1:
                    return False
                await _delete_rows(conn, tip.tip_id)
                await audit.append(
                    conn,
                    hasher,
                    actor=SYSTEM,
                    action="purge_tip",
                    tip_id=tip.tip_id,
                    detail={"reference": tip.reference},
                )
            return True
        except (IntegrityError, OperationalError):
            await asyncio.sleep(0.05)  # another audit writer took the head, or held the lock
    raise ConflictError(f"tip {tip.tip_id} could not be purged: the database stayed busy")


async def purge_closed_tips(
    engine: AsyncEngine,
    hasher: KeyedHash,
    *,
    now: datetime,
    retention_days: int,
    should_stop: Callable[[], bool] | None = None,
    scrub: bool = False,
) -> PurgeResult:
    """Purge every closed tip past retention, then scrub the SQLite files.

    ``should_stop`` is asked between tips: a job that must end before its timeout stops
    there (every purged tip is whole), scrubs, and leaves the rest to its next run.
    ``scrub`` scrubs even when nothing is purged (a scrub an earlier run did not finish).
    """
    before = cutoff(now, retention_days)
    if before is None:
        return PurgeResult((), await scrub_sqlite(engine) if scrub and _is_sqlite(engine) else None)
    purged: list[Purgeable] = []
    stopped = False
    while not stopped:
        batch = await purgeable_tips(engine, now=now, retention_days=retention_days)
        done = 0
        for tip in batch:
            if should_stop is not None and should_stop():
                stopped = True
                break
            if await purge_tip(engine, hasher, tip, before=before):
                purged.append(tip)
                done += 1
        if len(batch) < PURGE_BATCH or not done:
            break
    scrubbed = None
    if _is_sqlite(engine) and (purged or scrub):
        scrubbed = await scrub_sqlite(engine)
    if purged:
        log.info("tips_purged", count=len(purged), tip_ids=[str(t.tip_id) for t in purged])
    return PurgeResult(tuple(purged), scrubbed)


def _is_sqlite(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "sqlite"


# -- SQLite: leave no deleted byte in the files ---------------------------------------------


async def scrub_sqlite(engine: AsyncEngine) -> Scrub:
    """VACUUM, then checkpoint the WAL and truncate it to nothing.

    ``secure_delete`` zeroes the deleted cells and freed pages, but not every copy: when
    SQLite rebalances a b-tree it copies cells between pages and leaves the old bytes in
    the unused middle of a live page. VACUUM writes every page anew from live rows only;
    the truncating checkpoint then drops the log that held the old page images.
    """
    async with engine.connect() as base:
        conn = await base.execution_options(isolation_level="AUTOCOMMIT")
        secure = (await conn.exec_driver_sql("PRAGMA secure_delete")).scalar_one()
        if int(secure) != 1:
            raise ConflictError("PRAGMA secure_delete is off on this connection")
        await conn.exec_driver_sql("VACUUM")
        checkpointed = await _checkpoint(conn)
        free = int((await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one())
    if not checkpointed:
        log.warning("wal_not_truncated", status="busy")
    return Scrub(checkpointed=checkpointed, free_pages=free)


async def _checkpoint(conn: AsyncConnection) -> bool:
    """``wal_checkpoint(TRUNCATE)``, retried while readers hold old snapshots."""
    for attempt in range(CHECKPOINT_ATTEMPTS):
        row = (await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")).one()
        if int(row[0]) == 0:  # (busy, log frames, checkpointed frames)
            return True
        await asyncio.sleep(min(0.02 * (attempt + 1), 0.5))
    return False
