"""On-call paging: a paged tip's chain of pages, its escalation and its acknowledgement.

A chain is the tip's ``page_state`` ("active" while it escalates) and one ``pages`` row per
step: step ``n`` pages the layer ``LAYERS[n % 3]`` (primary, backup, supervisor, primary
again …); step ``escalation_rounds * 3`` pages nobody and closes the chain ("exhausted",
or "nobody" when a whole round reached no one). The database is the truth: which step is
next, and when it is due, are read from the rows (the previous page's ``created_at`` plus
the urgency's window), never from Redis, so a lost job is restored by :func:`due_steps`.

Pages carry the tip's reference, urgency and acknowledgement code: never its content.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
from arq import Retry
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline import logs, metrics, rota
from hotline.seal import Opener
from hotline.settings import Settings
from hotline.tables import pages, tip_events, tips

log = logs.get_logger(__name__)

# Statuses of a page that woke no one: the chain goes on; a round of them means "nobody".
UNREACHABLE = frozenset({"nobody", "failed", "no_number", "opted_out"})
# Tries of a page the carrier deferred (429, 5xx) before it is recorded as failed: a page
# must not hold up the escalation behind it.
SEND_TRIES = 3
CODE_DIGITS = (4, 5, 6)
CODE_TRIES = 20


class Pager(Protocol):
    """What paging needs from a channel: send one short text, return its status.

    ``message_id`` names the outbound message the channel records for it: the page row
    holds it (``pages.message_id``) so that the carrier's delivery report finds the page.
    """

    async def send_page(
        self, to: str, text: str, *, message_id: uuid.UUID, job_try: int = 1
    ) -> str: ...


@dataclass(frozen=True, slots=True)
class Due:
    """A step of a tip's chain and the seconds until it is due (0 or less: now)."""

    tip_id: uuid.UUID
    step: int
    delay: float


@dataclass(frozen=True, slots=True)
class PageMark:
    """What the chain needs of one ``pages`` row."""

    step: int
    status: str
    code: str
    created_at: datetime


def is_paged(settings: Settings, urgency: str | None) -> bool:
    """Whether a tip at ``urgency`` (the urgency in force) pages the on-call dispatcher."""
    return urgency is not None and urgency in settings.paged_urgencies


async def start_late_chain(
    conn: AsyncConnection, tip_id: uuid.UUID, paged_urgencies: frozenset[str], *, now: datetime
) -> bool:
    """Start paging a tip that became urgent after its dispatch: an override or re-triage.

    Only a dispatched, open, unclaimed tip that was never paged, whose urgency in force is
    paged, in the caller's transaction. An undispatched tip is left to its dispatch, which
    reads the urgency in force then. The escalation sweep enqueues the first step.
    """
    if not paged_urgencies:
        return False
    started = await conn.execute(
        sa.update(tips)
        .where(
            tips.c.id == tip_id,
            tips.c.page_state.is_(None),
            tips.c.dispatched_at.is_not(None),
            tips.c.claimed_by.is_(None),
            tips.c.status != "closed",
            sa.func.coalesce(tips.c.urgency_override, tips.c.urgency).in_(sorted(paged_urgencies)),
        )
        .values(page_state="active", updated_at=now)
    )
    if started.rowcount != 1:
        return False
    await conn.execute(
        sa.insert(tip_events).values(tip_id=tip_id, kind="paging_started", at=now, detail={})
    )
    return True


def layer_of(step: int) -> str:
    return rota.LAYERS[step % len(rota.LAYERS)]


def chain_length(settings: Settings) -> int:
    """Steps that page someone; the step of this number closes the chain."""
    return settings.escalation_rounds * len(rota.LAYERS)


def page_text(reference: str, urgency: str, code: str) -> str:
    """The page: reference, urgency and code, nothing the reporter wrote."""
    return f"Hotline: {urgency.upper()} tip {reference}. Reply ACK {code} or open the dashboard."


# -- acknowledgement ---------------------------------------------------------------------


async def acknowledge(
    engine: AsyncEngine, tip_id: uuid.UUID, *, user_id: int | None, via: str, now: datetime
) -> bool:
    """Stop the tip's chain; True when this call acknowledged it, False when none was active."""
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(tips)
            .where(tips.c.id == tip_id, tips.c.page_state == "active")
            .values(
                page_state="acknowledged",
                acknowledged_at=now,
                acknowledged_by=user_id,
                updated_at=now,
            )
        )
        if result.rowcount != 1:
            return False
        await conn.execute(
            sa.insert(tip_events).values(
                tip_id=tip_id, kind="acknowledged", at=now, user_id=user_id, detail={"via": via}
            )
        )
    log.info("page_acknowledged", tip_id=str(tip_id), user_id=user_id, channel=via)
    metrics.ACKNOWLEDGEMENTS.labels(via=via).inc()
    return True


async def tip_for_code(engine: AsyncEngine, code: str) -> uuid.UUID | None:
    """The tip whose active chain's pages carry ``code``."""
    async with engine.connect() as conn:
        return await conn.scalar(
            sa.select(pages.c.tip_id)
            .join(tips, tips.c.id == pages.c.tip_id)
            .where(pages.c.code == code, tips.c.page_state == "active")
            .limit(1)
        )


# -- the chain ---------------------------------------------------------------------------


def _urgency(tip: Any) -> str:
    return str(tip.urgency_override or tip.urgency or "high")


def next_due(
    rows: Mapping[int, PageMark], *, started_at: datetime, window: float, now: datetime
) -> tuple[int, float]:
    """The chain's next step and the seconds until it is due, from its pages rows.

    The first step is due when the chain started; each next one ``window`` seconds after
    the page before it, or at once when that page reached no one (:data:`UNREACHABLE`:
    nobody on call, no number, opted out, failed at sending or reported undelivered).
    """
    if not rows:
        return 0, (started_at - now).total_seconds()
    last = rows[max(rows)]
    wait = 0.0 if last.status in UNREACHABLE else window
    due = last.created_at + timedelta(seconds=wait)
    return last.step + 1, (due - now).total_seconds()


def chain_outcome(statuses: Mapping[int, str]) -> str:
    """How a chain that ran out ends: "nobody" when a whole round of its pages (statuses
    by step) woke no one, "exhausted" when pages went out and nobody acknowledged."""
    layers = len(rota.LAYERS)
    for start in range(0, max(statuses, default=-1) + 1, layers):
        round_ = [statuses.get(step) for step in range(start, start + layers)]
        if all(status in UNREACHABLE for status in round_):
            return "nobody"
    return "exhausted"


def _next(
    tip: Any, rows: dict[int, PageMark], settings: Settings, now: datetime
) -> tuple[int, float]:
    window = settings.escalation_window(_urgency(tip))
    return next_due(rows, started_at=tip.dispatched_at or now, window=window, now=now)


_TIP_COLUMNS = (
    tips.c.id,
    tips.c.reference,
    tips.c.status,
    tips.c.urgency,
    tips.c.urgency_override,
    tips.c.claimed_by,
    tips.c.page_state,
    tips.c.dispatched_at,
)


async def _pages_of(
    conn: AsyncConnection, tip_ids: list[uuid.UUID]
) -> dict[uuid.UUID, dict[int, PageMark]]:
    found: dict[uuid.UUID, dict[int, PageMark]] = {tip_id: {} for tip_id in tip_ids}
    rows = await conn.execute(
        sa.select(
            pages.c.tip_id, pages.c.step, pages.c.status, pages.c.code, pages.c.created_at
        ).where(pages.c.tip_id.in_(tip_ids))
    )
    for row in rows:
        found[row.tip_id][row.step] = PageMark(row.step, row.status, row.code, row.created_at)
    return found


async def _new_code(conn: AsyncConnection) -> str:
    """Random digits no other active chain carries: 4 of them, more when crowded."""
    for digits in CODE_DIGITS:
        for _ in range(CODE_TRIES):
            code = f"{secrets.randbelow(10**digits):0{digits}d}"
            taken = await conn.scalar(
                sa.select(pages.c.tip_id)
                .join(tips, tips.c.id == pages.c.tip_id)
                .where(pages.c.code == code, tips.c.page_state == "active")
                .limit(1)
            )
            if taken is None:
                return code
    raise RuntimeError("no free acknowledgement code")  # a million active chains


async def _close_chain(
    engine: AsyncEngine, tip_id: uuid.UUID, rows: dict[int, PageMark], *, now: datetime
) -> None:
    """Every step done and nobody acknowledged: record how the chain ended."""
    state = chain_outcome({step: row.status for step, row in rows.items()})
    async with engine.begin() as conn:
        result = await conn.execute(
            sa.update(tips)
            .where(tips.c.id == tip_id, tips.c.page_state == "active")
            .values(page_state=state, updated_at=now)
        )
        if result.rowcount != 1:
            return
        await conn.execute(
            sa.insert(tip_events).values(
                tip_id=tip_id,
                kind="paging_ended",
                at=now,
                detail={"state": state, "steps": len(rows)},
            )
        )
    log.warning("paging_ended", tip_id=str(tip_id), status=state, count=len(rows))


async def _insert_page(engine: AsyncEngine, values: dict[str, Any]) -> bool:
    """Insert the step's row while the chain is still active; False if it exists or ended."""
    try:
        async with engine.connect() as conn, conn.begin() as transaction:
            # The insert first: on SQLite it takes the write lock, so the state read
            # next is the latest, and an acknowledgement cannot slip in between.
            await conn.execute(sa.insert(pages).values(**values))
            state = (
                await conn.execute(
                    sa.select(tips.c.page_state, tips.c.claimed_by, tips.c.status).where(
                        tips.c.id == values["tip_id"]
                    )
                )
            ).one()
            if state.page_state != "active" or state.claimed_by is not None:
                await transaction.rollback()
                return False
            if state.status == "closed":
                await transaction.rollback()
                return False
            # A new page wakes the dashboards' live queues (their alerts).
            await conn.execute(
                sa.update(tips)
                .where(tips.c.id == values["tip_id"])
                .values(updated_at=values["created_at"])
            )
    except IntegrityError:
        return False  # another run of this step got there first: it sends, not us
    return True


async def _set_page(engine: AsyncEngine, page_id: uuid.UUID, **values: Any) -> None:
    """Record a page's outcome, and wake the dashboards' live queues.

    Only over "sending": a delivery report that came in first (delivered, undelivered)
    is later news than the send's own answer and stays.
    """
    async with engine.begin() as conn:
        tip_id = await conn.scalar(
            sa.update(pages)
            .where(pages.c.id == page_id, pages.c.status == "sending")
            .values(**values)
            .returning(pages.c.tip_id)
        )
        if tip_id is None:
            return
        await conn.execute(
            sa.update(tips).where(tips.c.id == tip_id).values(updated_at=datetime.now(UTC))
        )


async def _send(
    engine: AsyncEngine,
    pager: Pager,
    page_id: uuid.UUID,
    *,
    message_id: uuid.UUID,
    number: str,
    text: str,
    job_try: int,
) -> str:
    """Send the page once; a deferral by the carrier is tried again, a few times."""
    try:
        answer = await pager.send_page(number, text, message_id=message_id, job_try=job_try)
    except Retry:
        if job_try >= SEND_TRIES:
            return "failed"
        # Nothing went out: forget the row so the next try of this job sends it.
        async with engine.begin() as conn:
            await conn.execute(sa.delete(pages).where(pages.c.id == page_id))
        raise
    return answer if answer in {"failed", "opted_out"} else "sent"


async def page_step(
    engine: AsyncEngine,
    tip_id: uuid.UUID,
    step: int,
    *,
    settings: Settings,
    opener: Opener,
    pager: Pager | None,
    now: datetime,
    job_try: int = 1,
) -> Due | None:
    """Run one step of the tip's chain, at most once; return what to schedule next.

    A returned :class:`Due` of the same ``step`` means this step is not due yet (try again
    after its delay); of the next step, that it follows after its delay; None, that the
    chain stopped (acknowledged, claimed, closed, ended) or another run owns this step.
    """
    async with engine.connect() as conn:
        tip = (
            await conn.execute(sa.select(*_TIP_COLUMNS).where(tips.c.id == tip_id))
        ).one_or_none()
        rows = (await _pages_of(conn, [tip_id]))[tip_id] if tip is not None else {}
    if tip is None or not await _goes_on(engine, tip, now=now):
        return None
    if step in rows:
        # Ran before, perhaps up to a crash mid-send ("sending"): never again. If it is the
        # latest, make sure the step after it follows (a duplicate enqueue is harmless).
        if step != max(rows):
            return None
        following, delay = _next(tip, rows, settings, now)
        return Due(tip_id, following, delay)
    expected, delay = _next(tip, rows, settings, now)
    if step != expected:
        return None  # a stale job: the chain is elsewhere
    if delay > 0:
        return Due(tip_id, step, delay)
    if step >= chain_length(settings):
        await _close_chain(engine, tip_id, rows, now=now)
        return None
    code = rows[min(rows)].code if rows else None
    status = await _page(
        engine, tip, step, code=code, opener=opener, pager=pager, now=now, job_try=job_try
    )
    if status is None:
        return None
    rows[step] = PageMark(step, status, "", now)
    following, delay = _next(tip, rows, settings, now)
    return Due(tip_id, following, delay)


async def next_after(
    engine: AsyncEngine, tip_id: uuid.UUID, step: int, *, settings: Settings, now: datetime
) -> Due | None:
    """The step after ``step`` and its delay, while ``step`` is the chain's latest page and
    the chain still runs (active, open, unclaimed); else None. Read from the rows."""
    async with engine.connect() as conn:
        tip = (
            await conn.execute(sa.select(*_TIP_COLUMNS).where(tips.c.id == tip_id))
        ).one_or_none()
        rows = (await _pages_of(conn, [tip_id]))[tip_id] if tip is not None else {}
    if tip is None or tip.page_state != "active" or tip.status == "closed":
        return None
    if tip.claimed_by is not None or not rows or max(rows) != step:
        return None
    following, delay = _next(tip, rows, settings, now)
    return Due(tip_id, following, delay)


async def _goes_on(engine: AsyncEngine, tip: Any, *, now: datetime) -> bool:
    """Whether the tip's chain is still to run; a claim met on the way acknowledges it."""
    if tip.page_state != "active" or tip.status == "closed":
        return False
    if tip.claimed_by is not None:
        await acknowledge(engine, tip.id, user_id=tip.claimed_by, via="claim", now=now)
        return False
    return True


async def _recipient(
    engine: AsyncEngine, opener: Opener, layer: str, *, now: datetime
) -> tuple[int | None, str | None, str]:
    """(who is on call in ``layer``, their number, the page's status before sending)."""
    holder = await rota.on_call(engine, layer, now)
    if holder is None:
        return None, None, "nobody"
    number, opted_out = await rota.contact_number(engine, opener, holder.user_id)
    if opted_out:
        return holder.user_id, None, "opted_out"
    if number is None:
        return holder.user_id, None, "no_number"
    return holder.user_id, number, "sending"


async def _page(
    engine: AsyncEngine,
    tip: Any,
    step: int,
    *,
    code: str | None,
    opener: Opener,
    pager: Pager | None,
    now: datetime,
    job_try: int,
) -> str | None:
    """Record the step's page and send it; its final status, or None if another run did."""
    layer = layer_of(step)
    user_id, number, status = await _recipient(engine, opener, layer, now=now)
    if status == "sending" and pager is None:
        status = "failed"
    if code is None:
        async with engine.connect() as conn:
            code = await _new_code(conn)
    page_id = uuid.uuid4()
    message_id = uuid.uuid4() if status == "sending" else None
    values = {
        "id": page_id,
        "tip_id": tip.id,
        "step": step,
        "layer": layer,
        "user_id": user_id,
        "code": code,
        "status": status,
        "created_at": now,
        "message_id": message_id,
    }
    if not await _insert_page(engine, values):
        return None
    if status == "failed":
        log.warning("page_not_sent", tip_id=str(tip.id), status="sms_not_configured")
        await _record_failure(engine, tip.id, step, reason="sms_not_configured", now=now)
    elif pager is not None and number is not None and message_id is not None:
        text = page_text(tip.reference, _urgency(tip), code)
        status = await _send(
            engine, pager, page_id, message_id=message_id, number=number, text=text, job_try=job_try
        )
        await _set_page(engine, page_id, status=status, sent_at=now if status == "sent" else None)
        if status == "opted_out" and user_id is not None:
            # The carrier says this number unsubscribed from our line: show it, skip it.
            await rota.set_opted_out(engine, user_id, True)
        if status == "failed":
            await _record_failure(engine, tip.id, step, reason="carrier", now=now)
    log.info("tip_paged", tip_id=str(tip.id), status=status, user_id=user_id)
    metrics.PAGES.labels(status=status).inc()
    if step > 0:
        metrics.ESCALATIONS.inc()
    return status


async def _record_failure(
    engine: AsyncEngine, tip_id: uuid.UUID, step: int, *, reason: str, now: datetime
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(tip_events).values(
                tip_id=tip_id, kind="page_failed", at=now, detail={"step": step, "reason": reason}
            )
        )


async def due_steps(engine: AsyncEngine, settings: Settings, *, now: datetime) -> list[Due]:
    """Every active chain's next step and when it is due, read from the database.

    The escalation sweep enqueues each (its job id makes a duplicate harmless), so a step
    lost with a worker or with Redis is restored. A chain whose tip was claimed meanwhile is
    acknowledged on the way ("claim").
    """
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                sa.select(*_TIP_COLUMNS)
                .where(tips.c.page_state == "active", tips.c.status != "closed")
                .limit(1000)
            )
        ).all()
        rows = await _pages_of(conn, [tip.id for tip in found]) if found else {}
    due: list[Due] = []
    for tip in found:
        if tip.claimed_by is not None:
            await acknowledge(engine, tip.id, user_id=tip.claimed_by, via="claim", now=now)
            continue
        step, delay = _next(tip, rows[tip.id], settings, now)
        due.append(Due(tip.id, step, delay))
    return due
