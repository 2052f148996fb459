"""What a dispatcher does to a tip: claim, release, status, urgency override, notes,
replies, merge. The state rules live here, free of the web; the dashboard calls them.

Every action writes one ``tip_events`` row (ids and levels only, never words) and moves
``tips.updated_at``, which the live queue watches. Updates are guarded by the state they
were decided on, so two people acting at once cannot both win: the loser gets a
:class:`ConflictError`. What a person wrote (notes, override reasons, replies) is sealed.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline import paging
from hotline.commits import GroupCommitter
from hotline.errors import ConflictError, InvalidInputError, NotFoundError
from hotline.replies import ReplyDelivery, add_reply
from hotline.seal import Sealer
from hotline.tables import tip_events, tip_messages, tip_notes, tip_overrides, tips
from hotline.verdict import PRIORITY, URGENCIES

STATUSES = ("new", "in_progress", "referred", "escalated", "closed")
CLOSE_REASONS = ("resolved", "duplicate", "not_trafficking", "not_enough_information")
# Where each status may go. Reopening a closed tip is for supervisors only.
TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"in_progress", "closed"}),
    "in_progress": frozenset({"referred", "escalated", "closed"}),
    "referred": frozenset({"escalated", "closed"}),
    "escalated": frozenset({"referred", "closed"}),
    "closed": frozenset({"in_progress"}),
}
TEXT_LIMIT = 5000
REASON_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, and whether they may act over another's hold (a supervisor or above)."""

    user_id: int
    supervisor: bool = False


def allowed_statuses(status: str, *, supervisor: bool) -> tuple[str, ...]:
    """The statuses a tip in ``status`` may move to, in display order."""
    targets = TRANSITIONS.get(status, frozenset())
    if status == "closed" and not supervisor:
        return ()
    return tuple(s for s in STATUSES if s in targets)


def _now() -> datetime:
    return datetime.now(UTC)


def _clean_text(text: str, *, limit: int, what: str) -> str:
    text = text.strip()
    if not text:
        raise InvalidInputError(f"{what} needs some text")
    if len(text) > limit:
        raise InvalidInputError(f"{what} is longer than {limit} characters")
    return text


async def _tip(conn: AsyncConnection, tip_id: uuid.UUID) -> Any:
    row = (
        await conn.execute(
            sa.select(
                tips.c.id,
                tips.c.channel,
                tips.c.status,
                tips.c.urgency,
                tips.c.urgency_override,
                tips.c.indicator_ids,
                tips.c.claimed_by,
                tips.c.first_claimed_at,
                tips.c.merged_into,
                tips.c.reporter_public_key,
            ).where(tips.c.id == tip_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no tip {tip_id}")
    return row


async def _record(
    conn: AsyncConnection,
    tip_id: uuid.UUID,
    kind: str,
    actor: Actor,
    now: datetime,
    detail: Mapping[str, Any] | None = None,
) -> None:
    await conn.execute(
        sa.insert(tip_events).values(
            tip_id=tip_id,
            kind=kind,
            at=now,
            user_id=actor.user_id,
            detail=dict(detail) if detail is not None else None,
        )
    )


async def _guarded_update(
    conn: AsyncConnection,
    tip_id: uuid.UUID,
    guard: Mapping[str, Any],
    values: Mapping[str, Any],
) -> None:
    """Update the tip only if the columns in ``guard`` still hold what was read."""
    conditions = [tips.c.id == tip_id]
    for name, value in guard.items():
        column = tips.c[name]
        conditions.append(column.is_(None) if value is None else column == value)
    result = await conn.execute(sa.update(tips).where(*conditions).values(**values))
    if result.rowcount != 1:
        raise ConflictError(f"tip {tip_id} changed meanwhile")


async def touch(engine: AsyncEngine, tip_id: uuid.UUID) -> None:
    """Move ``updated_at`` (the live queue watches it) after a change made elsewhere."""
    async with engine.begin() as conn:
        await conn.execute(sa.update(tips).where(tips.c.id == tip_id).values(updated_at=_now()))


# -- holding a tip ----------------------------------------------------------------------


async def claim(engine: AsyncEngine, tip_id: uuid.UUID, actor: Actor) -> bool:
    """Hold the tip. Another's hold can be taken over by a supervisor only.

    Claiming also acknowledges the tip's page chain, if one is escalating: someone has it.
    True when this claim stopped a chain.
    """
    await _hold(engine, tip_id, actor)
    return await paging.acknowledge(engine, tip_id, user_id=actor.user_id, via="claim", now=_now())


async def _hold(engine: AsyncEngine, tip_id: uuid.UUID, actor: Actor) -> None:
    async with engine.begin() as conn:
        tip = await _tip(conn, tip_id)
        if tip.claimed_by == actor.user_id:
            return  # already theirs: nothing changes
        if tip.claimed_by is not None and not actor.supervisor:
            raise ConflictError(f"tip {tip_id} is held by user {tip.claimed_by}")
        if tip.status == "closed":
            raise ConflictError(f"tip {tip_id} is closed")
        now = _now()
        values: dict[str, Any] = {"claimed_by": actor.user_id, "claimed_at": now, "updated_at": now}
        if tip.first_claimed_at is None:
            values["first_claimed_at"] = now
        if tip.status == "new":
            values["status"] = "in_progress"
        await _guarded_update(
            conn, tip_id, {"claimed_by": tip.claimed_by, "status": tip.status}, values
        )
        detail: dict[str, Any] = {}
        if tip.claimed_by is not None:
            detail["took_over_from"] = tip.claimed_by
        if tip.status == "new":
            detail.update({"from": "new", "to": "in_progress"})
        await _record(conn, tip_id, "claimed", actor, now, detail or None)


async def release(engine: AsyncEngine, tip_id: uuid.UUID, actor: Actor) -> None:
    """Let go of the tip: its holder, or a supervisor, may."""
    async with engine.begin() as conn:
        tip = await _tip(conn, tip_id)
        if tip.claimed_by is None:
            raise ConflictError(f"tip {tip_id} is not held")
        if tip.claimed_by != actor.user_id and not actor.supervisor:
            raise ConflictError(f"tip {tip_id} is held by user {tip.claimed_by}")
        now = _now()
        await _guarded_update(
            conn,
            tip_id,
            {"claimed_by": tip.claimed_by},
            {"claimed_by": None, "claimed_at": None, "updated_at": now},
        )
        await _record(conn, tip_id, "released", actor, now, {"holder": tip.claimed_by})


# -- status -----------------------------------------------------------------------------


async def change_status(
    engine: AsyncEngine,
    tip_id: uuid.UUID,
    actor: Actor,
    *,
    to: str,
    close_reason: str | None = None,
) -> None:
    """Move the tip along its allowed transitions; closing needs a reason."""
    if to not in STATUSES:
        raise InvalidInputError(f"unknown status for tip {tip_id}")
    if to == "closed" and close_reason not in CLOSE_REASONS:
        raise InvalidInputError(f"closing tip {tip_id} needs a reason")
    async with engine.begin() as conn:
        tip = await _tip(conn, tip_id)
        if to not in allowed_statuses(tip.status, supervisor=actor.supervisor):
            raise ConflictError(f"tip {tip_id} cannot go from {tip.status} to {to}")
        now = _now()
        values: dict[str, Any] = {"status": to, "updated_at": now}
        detail: dict[str, Any] = {"from": tip.status, "to": to}
        if to == "closed":
            values.update(closed_at=now, close_reason=close_reason)
            detail["reason"] = close_reason
        elif tip.status == "closed":  # reopened
            values.update(closed_at=None, close_reason=None, merged_into=None)
        await _guarded_update(conn, tip_id, {"status": tip.status}, values)
        await _record(conn, tip_id, "status", actor, now, detail)


# -- urgency ----------------------------------------------------------------------------


async def override_urgency(
    engine: AsyncEngine,
    sealer: Sealer,
    tip_id: uuid.UUID,
    actor: Actor,
    *,
    to: str,
    reason: str,
    paged_urgencies: frozenset[str] = frozenset(),
) -> uuid.UUID:
    """Set the urgency in force, beside triage's, with a sealed reason; return its id.

    Raised to an urgency in ``paged_urgencies``, a dispatched tip no one holds starts its
    paging chain in the same transaction (:func:`hotline.paging.start_late_chain`).
    """
    if to not in URGENCIES:
        raise InvalidInputError(f"unknown urgency for tip {tip_id}")
    reason = _clean_text(reason, limit=REASON_LIMIT, what="an override reason")
    override_id = uuid.uuid4()
    sealed = sealer.seal(reason.encode("utf-8"), tip_id=tip_id, field=f"override:{override_id}")
    async with engine.begin() as conn:
        tip = await _tip(conn, tip_id)
        in_force = tip.urgency_override or tip.urgency or "high"
        now = _now()
        await _guarded_update(
            conn,
            tip_id,
            {"urgency_override": tip.urgency_override},
            {"urgency_override": to, "priority": PRIORITY[to], "updated_at": now},
        )
        await conn.execute(
            sa.insert(tip_overrides).values(
                id=override_id,
                tip_id=tip_id,
                user_id=actor.user_id,
                at=now,
                from_urgency=in_force,
                to_urgency=to,
                indicator_ids=list(tip.indicator_ids or []),
                reason_sealed=sealed,
            )
        )
        detail = {"from": in_force, "to": to, "override_id": str(override_id)}
        await _record(conn, tip_id, "override", actor, now, detail)
        await paging.start_late_chain(conn, tip_id, paged_urgencies, now=now)
    return override_id


async def clear_override(engine: AsyncEngine, tip_id: uuid.UUID, actor: Actor) -> None:
    """Give the tip back triage's urgency and its place in the queue."""
    async with engine.begin() as conn:
        tip = await _tip(conn, tip_id)
        if tip.urgency_override is None:
            raise ConflictError(f"tip {tip_id} has no override")
        triage_urgency = tip.urgency or "high"
        now = _now()
        await _guarded_update(
            conn,
            tip_id,
            {"urgency_override": tip.urgency_override},
            {
                "urgency_override": None,
                "priority": PRIORITY[triage_urgency],
                "updated_at": now,
            },
        )
        detail = {"from": tip.urgency_override, "to": triage_urgency}
        await _record(conn, tip_id, "override_cleared", actor, now, detail)


# -- notes and replies ------------------------------------------------------------------


async def add_note(
    engine: AsyncEngine, sealer: Sealer, tip_id: uuid.UUID, actor: Actor, *, text: str
) -> uuid.UUID:
    """A sealed, internal note: never shown to the reporter."""
    text = _clean_text(text, limit=TEXT_LIMIT, what="a note")
    note_id = uuid.uuid4()
    sealed = sealer.seal(text.encode("utf-8"), tip_id=tip_id, field=f"note:{note_id}")
    async with engine.begin() as conn:
        await _tip(conn, tip_id)
        now = _now()
        await conn.execute(
            sa.insert(tip_notes).values(
                id=note_id, tip_id=tip_id, user_id=actor.user_id, created_at=now, body_sealed=sealed
            )
        )
        await conn.execute(sa.update(tips).where(tips.c.id == tip_id).values(updated_at=now))
        await _record(conn, tip_id, "note", actor, now, {"note_id": str(note_id)})
    return note_id


async def reply_channel(engine: AsyncEngine, tip_id: uuid.UUID) -> str:
    """The channel a reply to this tip's reporter goes through ("web" or "sms")."""
    async with engine.connect() as conn:
        return str((await _tip(conn, tip_id)).channel)


async def reply(
    engine: AsyncEngine,
    committer: GroupCommitter,
    sealer: Sealer,
    tip_id: uuid.UUID,
    actor: Actor,
    *,
    text: str,
    delivery: ReplyDelivery | None = None,
) -> uuid.UUID:
    """Answer the reporter: sealed to the case key, and to the reporter key once there is
    one (a web reporter who came back); ``delivery`` carries it to an SMS reporter."""
    text = _clean_text(text, limit=TEXT_LIMIT, what="a reply")
    async with engine.connect() as conn:
        tip = await _tip(conn, tip_id)
    if tip.status == "closed" and tip.merged_into is not None:
        raise ConflictError(f"tip {tip_id} was merged into {tip.merged_into}")
    reporter_key = (
        X25519PublicKey.from_public_bytes(bytes(tip.reporter_public_key))
        if tip.reporter_public_key is not None
        else None
    )
    # The dispatcher is recorded below, not in the group-commit row: reporters' additions
    # share that batch insert and carry no user_id key.
    message_id = await add_reply(committer, sealer, tip_id, reporter_key, text)
    async with engine.begin() as conn:
        now = _now()
        await conn.execute(
            sa.update(tip_messages)
            .where(tip_messages.c.id == message_id)
            .values(user_id=actor.user_id)
        )
        await conn.execute(sa.update(tips).where(tips.c.id == tip_id).values(updated_at=now))
        await _record(conn, tip_id, "reply", actor, now, {"message_id": str(message_id)})
    if delivery is not None:
        # Committed and recorded first: the job reloads the reply by id.
        await delivery.reply_added(tip_id, message_id)
    return message_id


# -- duplicates -------------------------------------------------------------------------


async def merge(
    engine: AsyncEngine, tip_id: uuid.UUID, actor: Actor, *, into_reference: str
) -> uuid.UUID:
    """Close this tip as a duplicate of the tip with ``into_reference``; return its id."""
    reference = into_reference.strip().upper()
    if not reference:
        raise InvalidInputError(f"merging tip {tip_id} needs the other tip's reference")
    async with engine.begin() as conn:
        tip = await _tip(conn, tip_id)
        target = (
            await conn.execute(
                sa.select(tips.c.id, tips.c.status, tips.c.merged_into).where(
                    tips.c.reference == reference
                )
            )
        ).one_or_none()
        if target is None:
            raise NotFoundError(f"no tip to merge tip {tip_id} into")
        if target.id == tip_id:
            raise ConflictError(f"tip {tip_id} cannot be merged into itself")
        if target.status == "closed" or target.merged_into is not None:
            raise ConflictError(f"tip {target.id} is closed or merged")
        if tip.status == "closed":
            raise ConflictError(f"tip {tip_id} is closed")
        now = _now()
        await _guarded_update(
            conn,
            tip_id,
            {"status": tip.status},
            {
                "status": "closed",
                "closed_at": now,
                "close_reason": "duplicate",
                "merged_into": target.id,
                "updated_at": now,
            },
        )
        await conn.execute(sa.update(tips).where(tips.c.id == target.id).values(updated_at=now))
        await _record(conn, tip_id, "merged", actor, now, {"into": str(target.id)})
        await _record(conn, target.id, "merged_from", actor, now, {"from": str(tip_id)})
    return uuid.UUID(str(target.id))


async def merged_from(engine: AsyncEngine, tip_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """The tips merged into this one: (id, reference), oldest first."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(tips.c.id, tips.c.reference)
            .where(tips.c.merged_into == tip_id)
            .order_by(tips.c.created_at)
        )
        return [(row.id, row.reference) for row in rows]


async def reference_of(engine: AsyncEngine, tip_id: uuid.UUID) -> str | None:
    async with engine.connect() as conn:
        found = (
            await conn.execute(sa.select(tips.c.reference).where(tips.c.id == tip_id))
        ).scalar_one_or_none()
    return str(found) if found is not None else None
