"""Twilio's delivery reports for pages: delivered, or undelivered and escalated at once.

The webhook's status callback records a report on the outbound message's row
(``Conversations.record_status``) and hands each final one here, by the message's id.
A page names its message (``pages.message_id``, chosen before sending), so the report
finds it. A page only moves forward, from "sending" or "sent" to "delivered" or "failed":
a repeated or out-of-order report (delivered after undelivered, sent after delivered)
changes nothing.

An undelivered page woke no one. It is recorded "failed" with the carrier's error code
(the code only), and when it is its chain's latest page and the chain still runs, the
next step is due at once (:data:`hotline.paging.UNREACHABLE`) instead of after the
escalation window: :func:`record_delivery` returns that step for the caller to enqueue,
and the escalation sweep would bring it forward too. A report for an acknowledged or
ended chain changes only the page's status. A code saying the number refuses our texts
(unsubscribed, blocked) marks its owner's pager number opted out, as a refused send does.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import logs, paging, rota
from hotline.settings import Settings
from hotline.tables import pages, tip_events, tips

log = logs.get_logger(__name__)

# Final reports (``MessageStatus``) and what they make of a page.
DELIVERED_REPORTS = frozenset({"delivered", "read"})
UNDELIVERED_REPORTS = frozenset({"undelivered", "failed", "canceled"})
# The page statuses a report may replace: the ones no report has settled yet.
UNSETTLED = ("sending", "sent")
# Carrier codes for a number that refuses our texts: 21610, it texted STOP to our line
# (unsubscribed); 30004, the message was blocked (the recipient or its carrier blocks us).
OPTED_OUT_CODES = frozenset({21610, 30004})
# Twilio's error codes are five digits; anything else in ``ErrorCode`` is not kept.
MAX_ERROR_CODE = 99_999


def error_code_of(raw: str | None) -> int | None:
    """Twilio's ``ErrorCode`` as a number, or None when absent or not a code."""
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        return None
    code = int(raw)
    return code if 0 < code <= MAX_ERROR_CODE else None


async def record_delivery(
    engine: AsyncEngine,
    message_id: uuid.UUID,
    report: str,
    *,
    error_code: int | None,
    settings: Settings,
    now: datetime,
) -> paging.Due | None:
    """Record a final delivery report on the page of ``message_id``, if it is a page's.

    Returns the chain's next step when an undelivered page makes it due (now), else None.
    """
    if report in DELIVERED_REPORTS:
        status, code = "delivered", None
    elif report in UNDELIVERED_REPORTS:
        status, code = "failed", error_code
    else:
        return None
    async with engine.begin() as conn:
        page = (
            await conn.execute(
                sa.update(pages)
                .where(pages.c.message_id == message_id, pages.c.status.in_(UNSETTLED))
                .values(status=status, error_code=code)
                .returning(pages.c.tip_id, pages.c.step, pages.c.user_id, pages.c.created_at)
            )
        ).one_or_none()
        if page is None:
            return None  # not a page's message, or a report already recorded
        # The dashboards' live queues show the page's status: wake them.
        await conn.execute(sa.update(tips).where(tips.c.id == page.tip_id).values(updated_at=now))
        if status == "failed":
            detail = {"step": page.step, "reason": "undelivered", "error_code": code}
            await conn.execute(
                sa.insert(tip_events).values(
                    tip_id=page.tip_id, kind="page_failed", at=now, detail=detail
                )
            )
    tip_id = str(page.tip_id)
    if status == "delivered":
        log.info("page_delivered", tip_id=tip_id, user_id=page.user_id, status=status)
        return None
    log.warning(
        "page_undelivered", tip_id=tip_id, user_id=page.user_id, status=f"error_{code or 'none'}"
    )
    if code in OPTED_OUT_CODES and page.user_id is not None:
        # Unless the number changed since this page: a new number has not refused us.
        await rota.set_opted_out(engine, page.user_id, True, unchanged_since=page.created_at)
    return await paging.next_after(engine, page.tip_id, page.step, settings=settings, now=now)
