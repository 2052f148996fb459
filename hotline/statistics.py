"""Figures for supervisors: volume, response times and overrides, over a period.

Aggregates only: counts and medians by channel, category, urgency, language and week, how
soon urgent tips paged someone and were acknowledged, and how often dispatchers overruled
triage where each indicator fired. Nothing here names a
tip, a reference or a person, so every figure may leave the dashboard as CSV.

The work stays in the database. Volume is one ``GROUP BY`` over the period's rows (by UTC
day and the clear columns); ISO weeks are summed in Python from the per-day counts. The
medians use window functions (``row_number``/``count`` over each urgency), which SQLite
and PostgreSQL both run, so only two scalars per urgency leave the database. Overrides are
people's decisions, few by nature: their rows are read and counted here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline.errors import InvalidInputError
from hotline.tables import pages, tip_overrides, tips
from hotline.verdict import PRIORITY, URGENCIES
from triage.assessment import CATEGORIES
from triage.engine import shipped_engine

# The longest period one request may ask for: bounds the work of a single page.
MAX_PERIOD_DAYS = 3 * 366
DEFAULT_WEEKS = 12

CHANNELS: tuple[str, ...] = ("web", "sms")
NOT_ASSESSED = "not assessed"
NO_CATEGORY = "none"
NO_INDICATOR = "(no indicator fired)"


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days, both ends included."""

    start: date
    end: date

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), tzinfo=UTC)

    @property
    def until(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.end + timedelta(days=1), time(), tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Count:
    key: str
    label: str
    count: int


@dataclass(frozen=True, slots=True)
class ResponseTime:
    """Medians, in seconds, over the tips of one urgency (in force) created in the period."""

    urgency: str
    tips: int
    claimed: int
    median_claim_seconds: float | None
    closed: int
    median_close_seconds: float | None
    # Paging: from receipt to the first page sent, and to the acknowledgement.
    paged: int = 0
    median_page_seconds: float | None = None
    acknowledged: int = 0
    median_ack_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class IndicatorOverrides:
    """How often dispatchers changed the urgency of tips on which one indicator fired."""

    indicator_id: str
    label: str
    raised: int
    lowered: int

    @property
    def total(self) -> int:
        return self.raised + self.lowered


@dataclass(frozen=True, slots=True)
class Statistics:
    period: Period
    total: int
    weeks: tuple[Count, ...]
    channels: tuple[Count, ...]
    categories: tuple[Count, ...]
    triage_urgencies: tuple[Count, ...]
    urgencies: tuple[Count, ...]  # in force: a dispatcher's override, else triage's
    languages: tuple[Count, ...]
    response: tuple[ResponseTime, ...]
    overrides: tuple[IndicatorOverrides, ...]
    override_count: int


def default_period(today: date | None = None) -> Period:
    """The last twelve ISO weeks, this one included."""
    today = today or datetime.now(UTC).date()
    monday = today - timedelta(days=today.weekday())
    return Period(monday - timedelta(weeks=DEFAULT_WEEKS - 1), today)


def parse_period(start: str | None, end: str | None, *, today: date | None = None) -> Period:
    """A period from ``YYYY-MM-DD`` strings; a missing end is the default's. Raises
    InvalidInputError on a malformed, reversed or too long period."""
    fallback = default_period(today)
    try:
        first = date.fromisoformat(start) if start else fallback.start
        last = date.fromisoformat(end) if end else fallback.end
    except ValueError:
        raise InvalidInputError("a period date is not YYYY-MM-DD") from None
    if first > last:
        raise InvalidInputError("the period ends before it starts")
    if (last - first).days >= MAX_PERIOD_DAYS:
        raise InvalidInputError(f"a period may span at most {MAX_PERIOD_DAYS} days")
    return Period(first, last)


def indicator_labels() -> dict[str, str]:
    """Rule id → label, from the shipped rules (indicators and override rules)."""
    rules = shipped_engine().rules
    labels = {rule.id: rule.label for rule in rules.rules}
    labels.update({override.id: override.label for override in rules.overrides})
    return labels


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks_of(period: Period) -> list[str]:
    weeks: list[str] = []
    day = period.start
    while day <= period.end:
        if not weeks or weeks[-1] != iso_week(day):
            weeks.append(iso_week(day))
        day += timedelta(days=1)
    return weeks


# -- dialect-specific expressions -------------------------------------------------------


def _utc_day(dialect: str, column: Any) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)  # SQLite stores UTC text: date() reads its day


def _seconds_between(dialect: str, start: Any, end: Any) -> sa.ColumnElement[Any]:
    if dialect == "postgresql":
        return sa.extract("epoch", end - start)
    return (sa.func.julianday(end) - sa.func.julianday(start)) * 86400.0


def _as_date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# -- queries ----------------------------------------------------------------------------


async def _volume(conn: AsyncConnection, period: Period) -> Sequence[Any]:
    day = _utc_day(conn.dialect.name, tips.c.created_at).label("day")
    columns = (tips.c.channel, tips.c.lang, tips.c.category, tips.c.urgency, tips.c.priority)
    query = (
        sa.select(day, *columns, sa.func.count().label("n"))
        .where(tips.c.created_at >= period.since, tips.c.created_at < period.until)
        .group_by(day, *columns)
    )
    return (await conn.execute(query)).all()


async def _medians(
    conn: AsyncConnection, period: Period, end_column: Any
) -> dict[int, tuple[int, float]]:
    """Priority → (how many, median seconds from creation to ``end_column``)."""
    seconds = _seconds_between(conn.dialect.name, tips.c.created_at, end_column)
    durations = (
        sa.select(tips.c.priority.label("p"), seconds.label("s"))
        .where(
            tips.c.created_at >= period.since,
            tips.c.created_at < period.until,
            end_column.is_not(None),
        )
        .subquery("durations")
    )
    return await _median_by_priority(conn, durations)


async def _page_medians(conn: AsyncConnection, period: Period) -> dict[int, tuple[int, float]]:
    """Priority → (tips paged, median seconds from creation to the first page sent).

    The first page *sent*: a step that found no number, an opted-out number or nobody on
    call woke no one, so the time runs on to the first page that went out.
    """
    first_sent = (
        sa.select(pages.c.tip_id, sa.func.min(pages.c.sent_at).label("sent_at"))
        .where(pages.c.sent_at.is_not(None))
        .group_by(pages.c.tip_id)
        .subquery("first_sent")
    )
    # min() hands SQLite's stored text back untyped: compare it as the column's type.
    sent_at = sa.type_coerce(first_sent.c.sent_at, pages.c.sent_at.type)
    seconds = _seconds_between(conn.dialect.name, tips.c.created_at, sent_at)
    durations = (
        sa.select(tips.c.priority.label("p"), seconds.label("s"))
        .select_from(tips.join(first_sent, first_sent.c.tip_id == tips.c.id))
        .where(tips.c.created_at >= period.since, tips.c.created_at < period.until)
        .subquery("durations")
    )
    return await _median_by_priority(conn, durations)


async def _median_by_priority(
    conn: AsyncConnection, durations: sa.Subquery
) -> dict[int, tuple[int, float]]:
    """Over ``durations`` (columns ``p`` and ``s``): priority → (count, median of ``s``)."""
    ranked = sa.select(
        durations.c.p,
        durations.c.s,
        sa.func.row_number().over(partition_by=durations.c.p, order_by=durations.c.s).label("rn"),
        sa.func.count().over(partition_by=durations.c.p).label("c"),
    ).subquery("ranked")
    # The middle row, or the two middle rows of an even count.
    middle = sa.or_(ranked.c.rn == (ranked.c.c + 1) // 2, ranked.c.rn == (ranked.c.c + 2) // 2)
    query = (
        sa.select(ranked.c.p, sa.func.max(ranked.c.c), sa.func.avg(ranked.c.s))
        .where(middle)
        .group_by(ranked.c.p)
    )
    rows = (await conn.execute(query)).all()
    return {int(p): (int(c), float(median)) for p, c, median in rows}


async def _override_rows(conn: AsyncConnection, period: Period) -> Sequence[Any]:
    query = sa.select(
        tip_overrides.c.indicator_ids, tip_overrides.c.from_urgency, tip_overrides.c.to_urgency
    ).where(tip_overrides.c.at >= period.since, tip_overrides.c.at < period.until)
    return (await conn.execute(query)).all()


# -- shaping ----------------------------------------------------------------------------


def _ordered(counter: Counter[str], keys: Iterable[str] = ()) -> tuple[Count, ...]:
    """The known keys first in their order (zeros kept), then the rest by count."""
    known = list(keys)
    rest = sorted((k for k in counter if k not in known), key=lambda k: (-counter[k], k))
    return tuple(Count(k, k, counter.get(k, 0)) for k in [*known, *rest])


def _count_overrides(
    rows: Iterable[Any], labels: Mapping[str, str]
) -> tuple[tuple[IndicatorOverrides, ...], int]:
    raised: Counter[str] = Counter()
    lowered: Counter[str] = Counter()
    total = 0
    for row in rows:
        before, after = PRIORITY.get(row.from_urgency), PRIORITY.get(row.to_urgency)
        if before is None or after is None or before == after:
            continue
        total += 1
        side = raised if after < before else lowered
        for indicator in sorted(set(row.indicator_ids or ())) or [NO_INDICATOR]:
            side[str(indicator)] += 1
    found = [
        IndicatorOverrides(key, labels.get(key, key), raised[key], lowered[key])
        for key in {*raised, *lowered}
    ]
    found.sort(key=lambda item: (-item.total, item.indicator_id))
    return tuple(found), total


async def gather_statistics(
    engine: AsyncEngine, period: Period, *, labels: Mapping[str, str] | None = None
) -> Statistics:
    """Every figure of the statistics page for ``period``."""
    async with engine.connect() as conn:
        volume = await _volume(conn, period)
        claims = await _medians(conn, period, tips.c.first_claimed_at)
        closes = await _medians(conn, period, tips.c.closed_at)
        pagings = await _page_medians(conn, period)
        acks = await _medians(conn, period, tips.c.acknowledged_at)
        override_rows = await _override_rows(conn, period)

    weeks: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    triage_urgencies: Counter[str] = Counter()
    in_force: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    per_priority: defaultdict[int, int] = defaultdict(int)
    for row in volume:
        n = int(row.n)
        weeks[iso_week(_as_date(row.day))] += n
        channels[row.channel] += n
        categories[row.category or NO_CATEGORY] += n
        triage_urgencies[row.urgency or NOT_ASSESSED] += n
        in_force[URGENCIES[row.priority]] += n
        languages[row.lang] += n
        per_priority[row.priority] += n

    response = tuple(
        ResponseTime(
            urgency=urgency,
            tips=per_priority[rank],
            claimed=claims.get(rank, (0, 0.0))[0],
            median_claim_seconds=claims[rank][1] if rank in claims else None,
            closed=closes.get(rank, (0, 0.0))[0],
            median_close_seconds=closes[rank][1] if rank in closes else None,
            paged=pagings.get(rank, (0, 0.0))[0],
            median_page_seconds=pagings[rank][1] if rank in pagings else None,
            acknowledged=acks.get(rank, (0, 0.0))[0],
            median_ack_seconds=acks[rank][1] if rank in acks else None,
        )
        for rank, urgency in enumerate(URGENCIES)
    )
    overrides, override_count = _count_overrides(
        override_rows, indicator_labels() if labels is None else labels
    )
    return Statistics(
        period=period,
        total=sum(channels.values()),
        weeks=tuple(Count(w, w, weeks.get(w, 0)) for w in _weeks_of(period)),
        channels=_ordered(channels, CHANNELS),
        categories=_ordered(categories, [*CATEGORIES, NO_CATEGORY]),
        triage_urgencies=_ordered(triage_urgencies, [*URGENCIES, NOT_ASSESSED]),
        urgencies=_ordered(in_force, URGENCIES),
        languages=_ordered(languages),
        response=response,
        overrides=overrides,
        override_count=override_count,
    )


def format_duration(seconds: float | None) -> str:
    """``4 min``, ``2 h 05 min``, ``3 d 4 h``; an em dash when there is nothing to show."""
    if seconds is None:
        return "—"
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, hours, days = whole // 60, whole // 3600, whole // 86400
    if hours < 1:
        return f"{minutes} min"
    if days < 1:
        return f"{hours} h {minutes % 60:02d} min"
    return f"{days} d {hours % 24} h"
