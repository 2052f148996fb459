"""The dispatcher's worklist: open tips, most urgent then oldest first, a page at a time.

Only clear columns are read (ids, levels, timestamps); nothing sealed is ever selected.
Pages are keyset pages on ``(priority, created_at, id)``, served by the partial index
``ix_tips_open_queue``: reading page 600 costs what page 1 costs. ``status != 'closed'``
is written as a literal, never a parameter, so that SQLite and PostgreSQL's generic plans
can prove the partial index applies.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline.tables import tip_entities, tips, users
from hotline.verdict import PRIORITY, URGENCIES

Holder = Literal["anyone", "me", "unclaimed"]
OPEN_STATUSES: tuple[str, ...] = ("new", "in_progress", "referred", "escalated")
CHANNELS: tuple[str, ...] = ("web", "sms")

# A literal, so the partial indexes on open tips are usable (see the module docstring).
IS_OPEN: sa.ColumnElement[bool] = tips.c.status != sa.literal_column("'closed'")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class CursorError(ValueError):
    """A page cursor that is not one this module wrote."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ends: the sort key of its last tip."""

    priority: int
    created_at: datetime
    tip_id: uuid.UUID

    def encode(self) -> str:
        micros = (self.created_at - EPOCH) // MICROSECOND
        return f"{self.priority}.{micros}.{self.tip_id.hex}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            priority, micros, hex_id = text.split(".")
            return cls(
                int(priority),
                EPOCH + int(micros) * MICROSECOND,
                uuid.UUID(hex=hex_id),
            )
        except (ValueError, OverflowError, OSError):
            raise CursorError("cursor") from None


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """What the dispatcher narrowed the queue to; ``None`` means any."""

    urgency: str | None = None
    status: str | None = None
    channel: str | None = None
    category: str | None = None
    lang: str | None = None
    holder: Holder = "anyone"
    minors_only: bool = False


@dataclass(frozen=True, slots=True)
class QueueTip:
    """One row of the queue: clear columns only."""

    id: uuid.UUID
    reference: str
    channel: str
    lang: str
    created_at: datetime
    status: str
    urgency: str
    overridden: bool
    category: str | None
    minors: bool
    indicator_ids: tuple[str, ...]
    claimed_by: int | None
    holder: str | None
    linked: int


@dataclass(frozen=True, slots=True)
class QueuePage:
    tips: tuple[QueueTip, ...]
    next_cursor: Cursor | None


def _conditions(queue_filter: QueueFilter, *, user_id: int) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [IS_OPEN]
    if queue_filter.urgency is not None:
        where.append(tips.c.priority == PRIORITY[queue_filter.urgency])
    if queue_filter.status is not None:
        where.append(tips.c.status == queue_filter.status)
    if queue_filter.channel is not None:
        where.append(tips.c.channel == queue_filter.channel)
    if queue_filter.category is not None:
        where.append(tips.c.category == queue_filter.category)
    if queue_filter.lang is not None:
        where.append(tips.c.lang == queue_filter.lang)
    if queue_filter.holder == "me":
        where.append(tips.c.claimed_by == user_id)
    elif queue_filter.holder == "unclaimed":
        where.append(tips.c.claimed_by.is_(None))
    if queue_filter.minors_only:
        where.append(tips.c.minors.is_(True))
    return where


def _after(cursor: Cursor, *, fixed_priority: int | None) -> sa.ColumnElement[bool]:
    """Past the cursor, as a range the queue index can seek to."""
    created_at = sa.literal(cursor.created_at, tips.c.created_at.type)
    tip_id = sa.literal(cursor.tip_id, sa.Uuid)
    if fixed_priority is not None and fixed_priority == cursor.priority:
        # One priority only: ``(created_at, id) >`` seeks within it (the 3-tuple would not).
        return sa.tuple_(tips.c.created_at, tips.c.id) > sa.tuple_(created_at, tip_id)
    return sa.tuple_(tips.c.priority, tips.c.created_at, tips.c.id) > sa.tuple_(
        sa.literal(cursor.priority, sa.SmallInteger), created_at, tip_id
    )


async def list_open_tips(
    engine: AsyncEngine,
    queue_filter: QueueFilter,
    *,
    user_id: int,
    after: Cursor | None = None,
    limit: int = 50,
) -> QueuePage:
    """One page of open tips after ``after``, with holders' names and linked-tip counts."""
    where = _conditions(queue_filter, user_id=user_id)
    if after is not None:
        fixed = PRIORITY[queue_filter.urgency] if queue_filter.urgency is not None else None
        where.append(_after(after, fixed_priority=fixed))
    query = (
        sa.select(
            tips.c.id,
            tips.c.reference,
            tips.c.channel,
            tips.c.lang,
            tips.c.created_at,
            tips.c.status,
            tips.c.priority,
            tips.c.urgency,
            tips.c.urgency_override,
            tips.c.category,
            tips.c.minors,
            tips.c.indicator_ids,
            tips.c.claimed_by,
            users.c.username,
        )
        .select_from(tips.outerjoin(users, users.c.id == tips.c.claimed_by))
        .where(*where)
        .order_by(tips.c.priority, tips.c.created_at, tips.c.id)
        .limit(limit + 1)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        linked = await _count_linked(conn, [row.id for row in rows])
    page = tuple(
        QueueTip(
            id=row.id,
            reference=row.reference,
            channel=row.channel,
            lang=row.lang,
            created_at=row.created_at,
            status=row.status,
            urgency=row.urgency_override or row.urgency or URGENCIES[row.priority],
            overridden=row.urgency_override is not None,
            category=row.category,
            minors=bool(row.minors),
            indicator_ids=tuple(row.indicator_ids or ()),
            claimed_by=row.claimed_by,
            holder=row.username,
            linked=linked.get(row.id, 0),
        )
        for row in rows
    )
    last = rows[-1] if more else None
    cursor = Cursor(last.priority, last.created_at, last.id) if last is not None else None
    return QueuePage(page, cursor)


async def _count_linked(
    conn: AsyncConnection, tip_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """For each tip, how many OTHER tips share an entity digest with it: one query."""
    if not tip_ids:
        return {}
    mine = tip_entities.alias("mine")
    other = tip_entities.alias("other")
    query = (
        sa.select(mine.c.tip_id, sa.func.count(sa.distinct(other.c.tip_id)))
        .select_from(
            mine.join(
                other, sa.and_(other.c.digest == mine.c.digest, other.c.tip_id != mine.c.tip_id)
            )
        )
        .where(mine.c.tip_id.in_(tip_ids))
        .group_by(mine.c.tip_id)
    )
    return {tip_id: int(count) for tip_id, count in (await conn.execute(query)).all()}


async def count_open_by_urgency(engine: AsyncEngine) -> dict[str, int]:
    """Open tips per urgency in force, from the partial index alone."""
    query = sa.select(tips.c.priority, sa.func.count()).where(IS_OPEN).group_by(tips.c.priority)
    async with engine.connect() as conn:
        counted: dict[int, int] = {rank: n for rank, n in (await conn.execute(query)).all()}
    return {urgency: int(counted.get(rank, 0)) for rank, urgency in enumerate(URGENCIES)}


async def read_change_stamp(engine: AsyncEngine) -> str:
    """A short value that changes whenever the queue may have: latest update, open count.

    Every change to a tip sets ``updated_at`` (``ix_tips_updated`` makes the max one
    index probe); the count of open tips (the partial index) catches a tip deleted.
    """
    query = sa.select(
        sa.select(sa.func.max(tips.c.updated_at)).scalar_subquery(),
        sa.select(sa.func.count()).select_from(tips).where(IS_OPEN).scalar_subquery(),
    )
    async with engine.connect() as conn:
        latest, count = (await conn.execute(query)).one()
    micros = (latest - EPOCH) // MICROSECOND if latest is not None else 0
    return f"{micros}-{count}"
