"""The case file: everything about one tip, decrypted, for a person who may read it.

:func:`load_case` opens what was sealed and writes nothing: the caller writes the audit
entry (``view_tip``, ``export_tip``) *before* calling it, and shows nothing if that fails.
The tip view and the export both build on it, so both show the same case.

An envelope that does not open (a rotated-out key, a damaged row) does not hide the rest
of the case: its text becomes :data:`UNREADABLE` and the failure is logged by id.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline import logs
from hotline.errors import NotFoundError, SealError
from hotline.intake import Report
from hotline.seal import Opener
from hotline.tables import (
    referral_services,
    sms_media,
    sms_messages,
    tip_entities,
    tip_events,
    tip_messages,
    tip_notes,
    tip_overrides,
    tip_referrals,
    tips,
    users,
)

log = logs.get_logger(__name__)

UNREADABLE = "(this text could not be opened)"


@dataclass(frozen=True, slots=True)
class CaseMessage:
    id: uuid.UUID
    author: str  # "reporter" (addition) or "hotline" (reply)
    channel: str  # "web" or "sms"
    created_at: datetime
    text: str
    username: str | None  # the dispatcher who replied


@dataclass(frozen=True, slots=True)
class CaseNote:
    id: uuid.UUID
    created_at: datetime
    username: str | None
    text: str


@dataclass(frozen=True, slots=True)
class CaseOverride:
    at: datetime
    username: str | None
    from_urgency: str
    to_urgency: str
    reason: str


@dataclass(frozen=True, slots=True)
class CaseReferral:
    service_id: int
    name: str
    kind: str
    created_at: datetime
    username: str | None


@dataclass(frozen=True, slots=True)
class CaseEvent:
    kind: str
    at: datetime
    username: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class CaseFile:
    tip_id: uuid.UUID
    reference: str
    channel: str
    lang: str
    created_at: datetime
    status: str
    urgency: str  # in force: the override if any, else triage's
    triage_urgency: str | None
    urgency_override: str | None
    score: float | None
    category: str | None
    minors: bool | None
    indicator_ids: tuple[str, ...]
    rules_version: str | None
    close_reason: str | None
    merged_into: uuid.UUID | None
    claimed_by: str | None  # username
    text: str  # what the reporter wrote, decrypted
    messages: tuple[CaseMessage, ...]  # oldest first
    notes: tuple[CaseNote, ...]
    overrides: tuple[CaseOverride, ...]
    referrals: tuple[CaseReferral, ...]
    events: tuple[CaseEvent, ...]


@dataclass(frozen=True, slots=True)
class LinkedTip:
    """Another tip that mentions the same thing (an equal ``tip_entities`` digest)."""

    tip_id: uuid.UUID
    reference: str
    status: str
    kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Attachment:
    """An MMS attachment's description; the bytes stay sealed until asked for."""

    id: uuid.UUID
    created_at: datetime
    content_type: str
    size: int
    refused: bool


def _open_text(opener: Opener, envelope: bytes | None, *, tip_id: uuid.UUID, field: str) -> str:
    if envelope is None:
        return UNREADABLE
    try:
        return opener.open(envelope, tip_id=tip_id, field=field).decode("utf-8")
    except (SealError, UnicodeDecodeError) as exc:
        log.error("case_text_unreadable", tip_id=str(tip_id), status=type(exc).__name__)
        return UNREADABLE


def _open_report(opener: Opener, envelope: bytes, tip_id: uuid.UUID) -> str:
    """The prose triage read: every free-text field of the report, one per line."""
    try:
        body = opener.open(envelope, tip_id=tip_id, field="body")
        return Report.from_sealed_json(body).triage_text()
    except (SealError, ValueError, TypeError) as exc:
        log.error("case_text_unreadable", tip_id=str(tip_id), status=type(exc).__name__)
        return UNREADABLE


def message_field(author: str, message_id: uuid.UUID) -> str:
    """The seal field of a ``tip_messages`` row: reporter additions and hotline replies."""
    return f"reply:{message_id}" if author == "hotline" else f"message:{message_id}"


async def _messages(
    conn: AsyncConnection, opener: Opener, tip_id: uuid.UUID, channel: str
) -> list[CaseMessage]:
    rows = (
        await conn.execute(
            sa.select(
                tip_messages.c.id,
                tip_messages.c.author,
                tip_messages.c.created_at,
                tip_messages.c.body_sealed,
                users.c.username,
            )
            .select_from(tip_messages.outerjoin(users, users.c.id == tip_messages.c.user_id))
            .where(tip_messages.c.tip_id == tip_id)
        )
    ).all()
    found = [
        CaseMessage(
            row.id,
            row.author,
            channel,
            row.created_at,
            _open_text(
                opener, row.body_sealed, tip_id=tip_id, field=message_field(row.author, row.id)
            ),
            row.username if row.author == "hotline" else None,
        )
        for row in rows
    ]
    # An SMS tip's texts within the quiet window join the tip itself; the first one is
    # the tip's own text, the later ones are shown here as the reporter's.
    texts = (
        await conn.execute(
            sa.select(sms_messages.c.id, sms_messages.c.created_at, sms_messages.c.body_sealed)
            .where(
                sms_messages.c.tip_id == tip_id,
                sms_messages.c.direction == "in",
                sms_messages.c.kind == "tip",
            )
            .order_by(sms_messages.c.created_at, sms_messages.c.id)
        )
    ).all()
    for row in texts[1:]:
        if row.body_sealed is None:
            continue  # deleted at the reporter's request
        text = _open_text(opener, row.body_sealed, tip_id=tip_id, field=f"sms:{row.id}")
        found.append(CaseMessage(row.id, "reporter", "sms", row.created_at, text, None))
    found.sort(key=lambda message: message.created_at)
    return found


async def _notes(conn: AsyncConnection, opener: Opener, tip_id: uuid.UUID) -> list[CaseNote]:
    rows = (
        await conn.execute(
            sa.select(tip_notes, users.c.username)
            .select_from(tip_notes.outerjoin(users, users.c.id == tip_notes.c.user_id))
            .where(tip_notes.c.tip_id == tip_id)
            .order_by(tip_notes.c.created_at)
        )
    ).all()
    return [
        CaseNote(
            row.id,
            row.created_at,
            row.username,
            _open_text(opener, row.body_sealed, tip_id=tip_id, field=f"note:{row.id}"),
        )
        for row in rows
    ]


async def _overrides(
    conn: AsyncConnection, opener: Opener, tip_id: uuid.UUID
) -> list[CaseOverride]:
    rows = (
        await conn.execute(
            sa.select(tip_overrides, users.c.username)
            .select_from(tip_overrides.outerjoin(users, users.c.id == tip_overrides.c.user_id))
            .where(tip_overrides.c.tip_id == tip_id)
            .order_by(tip_overrides.c.at)
        )
    ).all()
    return [
        CaseOverride(
            row.at,
            row.username,
            row.from_urgency,
            row.to_urgency,
            _open_text(opener, row.reason_sealed, tip_id=tip_id, field=f"override:{row.id}"),
        )
        for row in rows
    ]


async def _referrals(conn: AsyncConnection, tip_id: uuid.UUID) -> list[CaseReferral]:
    rows = (
        await conn.execute(
            sa.select(
                tip_referrals.c.service_id,
                referral_services.c.name,
                referral_services.c.kind,
                tip_referrals.c.created_at,
                users.c.username,
            )
            .select_from(
                tip_referrals.join(
                    referral_services, referral_services.c.id == tip_referrals.c.service_id
                ).outerjoin(users, users.c.id == tip_referrals.c.user_id)
            )
            .where(tip_referrals.c.tip_id == tip_id)
            .order_by(tip_referrals.c.created_at)
        )
    ).all()
    return [
        CaseReferral(row.service_id, row.name, row.kind, row.created_at, row.username)
        for row in rows
    ]


async def _events(conn: AsyncConnection, tip_id: uuid.UUID) -> list[CaseEvent]:
    rows = (
        await conn.execute(
            sa.select(tip_events.c.kind, tip_events.c.at, tip_events.c.detail, users.c.username)
            .select_from(tip_events.outerjoin(users, users.c.id == tip_events.c.user_id))
            .where(tip_events.c.tip_id == tip_id)
            .order_by(tip_events.c.at, tip_events.c.id)
        )
    ).all()
    return [
        CaseEvent(row.kind, row.at, row.username, dict(row.detail) if row.detail else None)
        for row in rows
    ]


async def load_case(engine: AsyncEngine, opener: Opener, tip_id: uuid.UUID) -> CaseFile:
    """Everything about one tip, decrypted. Raises NotFoundError. Does NOT audit:
    the caller writes the audit entry before calling it."""
    async with engine.connect() as conn:
        tip = (
            await conn.execute(
                sa.select(tips, users.c.username.label("holder"))
                .select_from(tips.outerjoin(users, users.c.id == tips.c.claimed_by))
                .where(tips.c.id == tip_id)
            )
        ).one_or_none()
        if tip is None:
            raise NotFoundError(f"no tip {tip_id}")
        messages = await _messages(conn, opener, tip_id, tip.channel)
        notes = await _notes(conn, opener, tip_id)
        overrides = await _overrides(conn, opener, tip_id)
        referrals = await _referrals(conn, tip_id)
        events = await _events(conn, tip_id)
    return CaseFile(
        tip_id=tip.id,
        reference=tip.reference,
        channel=tip.channel,
        lang=tip.lang,
        created_at=tip.created_at,
        status=tip.status,
        urgency=tip.urgency_override or tip.urgency or "high",
        triage_urgency=tip.urgency,
        urgency_override=tip.urgency_override,
        score=tip.score,
        category=tip.category,
        minors=tip.minors,
        indicator_ids=tuple(tip.indicator_ids or ()),
        rules_version=tip.rules_version,
        close_reason=tip.close_reason,
        merged_into=tip.merged_into,
        claimed_by=tip.holder,
        text=_open_report(opener, tip.body_sealed, tip_id),
        messages=tuple(messages),
        notes=tuple(notes),
        overrides=tuple(overrides),
        referrals=tuple(referrals),
        events=tuple(events),
    )


async def load_linked_tips(engine: AsyncEngine, tip_id: uuid.UUID) -> list[LinkedTip]:
    """Other tips sharing an entity digest with this one (no decryption, ids only)."""
    mine = tip_entities.alias("mine")
    theirs = tip_entities.alias("theirs")
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(tips.c.id, tips.c.reference, tips.c.status, theirs.c.kind)
                .select_from(
                    mine.join(theirs, theirs.c.digest == mine.c.digest).join(
                        tips, tips.c.id == theirs.c.tip_id
                    )
                )
                .where(mine.c.tip_id == tip_id, theirs.c.tip_id != tip_id)
                .order_by(tips.c.created_at.desc())
                .limit(200)
            )
        ).all()
    linked: dict[uuid.UUID, LinkedTip] = {}
    for row in rows:
        known = linked.get(row.id)
        kinds = tuple(sorted({*(known.kinds if known else ()), row.kind}))
        linked[row.id] = LinkedTip(row.id, row.reference, row.status, kinds)
    return list(linked.values())


async def load_attachments(engine: AsyncEngine, tip_id: uuid.UUID) -> list[Attachment]:
    """The tip's MMS attachments, described; refused ones have no sealed bytes."""
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                sa.select(
                    sms_media.c.id,
                    sms_media.c.created_at,
                    sms_media.c.content_type,
                    sms_media.c.size,
                    sms_media.c.body_sealed.is_(None).label("refused"),
                )
                .where(sms_media.c.tip_id == tip_id)
                .order_by(sms_media.c.created_at)
            )
        ).all()
    return [
        Attachment(row.id, row.created_at, row.content_type, row.size, bool(row.refused))
        for row in rows
    ]


async def open_attachment(
    engine: AsyncEngine, opener: Opener, tip_id: uuid.UUID, media_id: uuid.UUID
) -> tuple[str, bytes]:
    """The attachment's content type and bytes. Raises NotFoundError (also when refused).
    Does NOT audit: the caller writes ``view_attachment`` first."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(sms_media.c.content_type, sms_media.c.body_sealed).where(
                    sms_media.c.id == media_id, sms_media.c.tip_id == tip_id
                )
            )
        ).one_or_none()
    if row is None or row.body_sealed is None:
        raise NotFoundError(f"no attachment {media_id} on tip {tip_id}")
    data = opener.open(row.body_sealed, tip_id=tip_id, field=f"media:{media_id}")
    return str(row.content_type), data
