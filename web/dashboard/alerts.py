"""Paging as the dashboard shows it: the chains waiting for acknowledgement, the banner
when nobody can be reached, and a tip's own pages.

Nobody can be reached when nobody is on call in the primary layer now, when a tip's chain
ended ("nobody" or "exhausted") and the tip is still open, unacknowledged and unclaimed, or
when the last few pages all reached no one. :func:`read_reachability` is what the queue's
banner shows and what ``/readyz`` reports, there as booleans only.

Clear columns only (ids, layers, statuses, times, usernames): no number, no code, nothing
sealed, so nothing here is audited.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import rota
from hotline.tables import pages, tip_events, tips, users
from hotline.verdict import URGENCIES
from hotline.worklist import IS_OPEN

LAYER_LABELS = {"primary": "Primary", "backup": "Backup", "supervisor": "Supervisor"}
PAGE_STATUS_LABELS = {
    "sending": "sending",
    "sent": "sent",
    "delivered": "delivered",
    "failed": "failed",
    "no_number": "not sent: no pager number",
    "opted_out": "not sent: the number opted out",
    "nobody": "nobody on call in this layer",
}
TIP_PAGE_STATUS_LABELS = {
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered to the phone",
    "failed": "Failed at the carrier",
    "no_number": "Not sent: no pager number",
    "opted_out": "Not sent: the number opted out",
    "nobody": "Nobody on call in this layer",
}
PAGE_STATE_LABELS = {
    "active": "Paging: waiting for an acknowledgement",
    "acknowledged": "Acknowledged",
    "exhausted": "Paging ended: every round was paged and no one acknowledged",
    "nobody": "Paging ended: no one could be reached",
}
ACK_VIA_LABELS = {"dashboard": "on the dashboard", "sms": "by text message", "claim": "by claiming"}
# A page that reached no one. The banner shows when the last few settled pages all did.
UNREACHED_STATUSES = frozenset({"failed", "no_number", "opted_out", "nobody"})
RECENT_PAGES = 3


@dataclass(frozen=True, slots=True)
class ActiveAlert:
    """A tip whose page chain is escalating, and its latest page."""

    tip_id: uuid.UUID
    reference: str
    urgency: str
    created_at: datetime
    step: int | None
    layer: str | None
    username: str | None
    page_status: str | None
    paged_at: datetime | None


@dataclass(frozen=True, slots=True)
class Unanswered:
    """An open, unclaimed tip whose chain ended without anyone acknowledging it."""

    tip_id: uuid.UUID
    reference: str
    urgency: str
    page_state: str  # "nobody" or "exhausted"


@dataclass(frozen=True, slots=True)
class Reachability:
    """Whether anyone can be reached now: what the banner and ``/readyz`` say."""

    on_call: Mapping[str, bool]  # layer → someone holds it now
    unanswered: tuple[Unanswered, ...]
    pages_failing: bool

    @property
    def nobody_on_call(self) -> bool:
        return not self.on_call.get("primary", False)

    @property
    def alarming(self) -> bool:
        return self.nobody_on_call or self.pages_failing or bool(self.unanswered)


def _urgency_in_force() -> sa.ColumnElement[Any]:
    return sa.func.coalesce(tips.c.urgency_override, tips.c.urgency)


async def list_active_alerts(engine: AsyncEngine) -> list[ActiveAlert]:
    """Open tips with an escalating chain, most urgent then oldest, each with its last page.

    Served by the partial index ``ix_tips_paging`` (open tips with a page state), so the
    cost follows the number of chains, not the number of tips or pages.
    """
    latest = pages.alias("latest")
    # The chain's last page, looked up per tip through the (tip_id, step) unique index:
    # a few open chains at a time, however many pages were ever sent.
    last_step = (
        sa.select(sa.func.max(latest.c.step)).where(latest.c.tip_id == tips.c.id).scalar_subquery()
    )
    query = (
        sa.select(
            tips.c.id,
            tips.c.reference,
            tips.c.priority,
            _urgency_in_force().label("urgency"),
            tips.c.created_at,
            pages.c.step,
            pages.c.layer,
            pages.c.status,
            pages.c.created_at.label("page_created_at"),
            pages.c.sent_at,
            users.c.username,
        )
        .select_from(
            tips.outerjoin(
                pages, sa.and_(pages.c.tip_id == tips.c.id, pages.c.step == last_step)
            ).outerjoin(users, users.c.id == pages.c.user_id)
        )
        .where(tips.c.page_state == "active", IS_OPEN)
        .order_by(tips.c.priority, tips.c.created_at, tips.c.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [
        ActiveAlert(
            tip_id=row.id,
            reference=row.reference,
            urgency=row.urgency or URGENCIES[row.priority],
            created_at=row.created_at,
            step=row.step,
            layer=row.layer,
            username=row.username,
            page_status=row.status,
            paged_at=row.sent_at or row.page_created_at,
        )
        for row in rows
    ]


async def read_reachability(engine: AsyncEngine, now: datetime) -> Reachability:
    """Who is on call now, which chains ended unanswered, whether the last pages failed."""
    holders = await rota.on_call_now(engine, now)
    unanswered_query = (
        sa.select(
            tips.c.id,
            tips.c.reference,
            tips.c.priority,
            _urgency_in_force().label("urgency"),
            tips.c.page_state,
        )
        .where(
            tips.c.page_state.in_(("nobody", "exhausted")),
            tips.c.acknowledged_at.is_(None),
            tips.c.claimed_by.is_(None),
            IS_OPEN,
        )
        .order_by(tips.c.priority, tips.c.created_at, tips.c.id)
    )
    recent_query = (
        sa.select(pages.c.status)
        .where(pages.c.status != "sending")
        .order_by(pages.c.created_at.desc(), pages.c.id)
        .limit(RECENT_PAGES)
    )
    async with engine.connect() as conn:
        unanswered = (await conn.execute(unanswered_query)).all()
        recent = (await conn.execute(recent_query)).scalars().all()
    return Reachability(
        on_call={layer: holder is not None for layer, holder in holders.items()},
        unanswered=tuple(
            Unanswered(
                row.id, row.reference, row.urgency or URGENCIES[row.priority], row.page_state
            )
            for row in unanswered
        ),
        pages_failing=bool(recent) and all(status in UNREACHED_STATUSES for status in recent),
    )


async def alerts_context(engine: AsyncEngine, now: datetime) -> dict[str, Any]:
    """What ``_queue_alerts.html`` shows."""
    alerts = await list_active_alerts(engine)
    return {
        "alerts": alerts,
        "reach": await read_reachability(engine, now),
        "critical_alerts": ",".join(str(a.tip_id) for a in alerts if a.urgency == "critical"),
        "layer_labels": LAYER_LABELS,
        "page_status_labels": PAGE_STATUS_LABELS,
        "now": now,
    }


# --- one tip's pages -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRow:
    """One step of the tip's page chain."""

    step: int
    layer: str
    username: str | None
    status: str
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class TipPaging:
    """The tip's page chain: its state, its steps, and who acknowledged it, when and how."""

    state: str | None
    pages: tuple[PageRow, ...]
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    acknowledged_via: str | None


async def load_paging(engine: AsyncEngine, tip_id: uuid.UUID) -> TipPaging:
    """The tip's chain: no number, no code."""
    acknowledger = users.alias("acknowledger")
    async with engine.connect() as conn:
        tip = (
            await conn.execute(
                sa.select(tips.c.page_state, tips.c.acknowledged_at, acknowledger.c.username)
                .select_from(
                    tips.outerjoin(acknowledger, acknowledger.c.id == tips.c.acknowledged_by)
                )
                .where(tips.c.id == tip_id)
            )
        ).one()
        rows = (
            await conn.execute(
                sa.select(pages, users.c.username)
                .select_from(pages.outerjoin(users, users.c.id == pages.c.user_id))
                .where(pages.c.tip_id == tip_id)
                .order_by(pages.c.step)
            )
        ).all()
        detail = await conn.scalar(
            sa.select(tip_events.c.detail)
            .where(tip_events.c.tip_id == tip_id, tip_events.c.kind == "acknowledged")
            .order_by(tip_events.c.at.desc(), tip_events.c.id.desc())
            .limit(1)
        )
    via = detail.get("via") if isinstance(detail, dict) else None
    return TipPaging(
        state=tip.page_state,
        pages=tuple(
            PageRow(row.step, row.layer, row.username, row.status, row.created_at, row.sent_at)
            for row in rows
        ),
        acknowledged_at=tip.acknowledged_at,
        acknowledged_by=tip.username,
        acknowledged_via=str(via) if via is not None else None,
    )


async def tip_paging_context(engine: AsyncEngine, tip_id: uuid.UUID) -> dict[str, Any]:
    """What ``_tip_pages.html`` shows."""
    return {
        "paging": await load_paging(engine, tip_id),
        "layer_labels": LAYER_LABELS,
        "page_status_labels": TIP_PAGE_STATUS_LABELS,
        "page_state_labels": PAGE_STATE_LABELS,
        "ack_via_labels": ACK_VIA_LABELS,
    }
