"""The audit trail: who read or did what to which tip, append-only and hash-chained.

Each entry carries a MAC (HMAC-SHA256 under the deployment's hash key, domain ``audit``)
over its own fields and the previous entry's MAC. Editing, deleting or inserting a row
breaks every later link, and someone holding the database alone cannot forge a new chain.
Entries carry ids and levels only (a tip id, an export format), never what anyone wrote.

Appends race on the unique ``prev_mac``: two writers that read the same head cannot both
commit, and the loser retries on the new head. So the chain never forks, on SQLite or on
PostgreSQL with several dashboard processes.

What the chain cannot show is a cut tail: deleting the newest entries leaves a valid,
shorter chain. ``verify`` reports the count and the head so an operator can compare them
with a copy kept elsewhere (docs/dashboard.md).
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from hotline.errors import ConflictError
from hotline.keys import KeyedHash
from hotline.tables import audit_log

GENESIS = bytes(32)
APPEND_ATTEMPTS = 20

# What a dashboard user can do that the trail records. Reads of sealed data say so.
ACTIONS = frozenset(
    {
        "view_tip",
        "export_tip",
        "view_attachment",
        "reply",
        "note",
        "claim",
        "release",
        "status",
        "override",
        "merge",
        "referral",
        "sign_in",
        "sign_out",
        "user_change",
        "acknowledge",
        # Case keys (by the CLI): rotate, reseal, retire; ids only.
        "key_change",
        # Retention (actor "system"): a closed tip and all that named it were deleted.
        "purge_tip",
    }
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who an audit entry names."""

    user_id: int | None
    username: str | None


@dataclass(frozen=True, slots=True)
class AuditCheck:
    """The outcome of :func:`verify`: how many entries, and the first bad one if any."""

    entries: int
    first_broken_id: int | None
    head_mac: bytes

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


def _canonical(
    entry_id: int,
    at: datetime,
    actor: Actor,
    action: str,
    tip_id: uuid.UUID | None,
    detail: Mapping[str, Any] | None,
) -> bytes:
    fields = [
        entry_id,
        at.astimezone(UTC).isoformat(timespec="microseconds"),
        actor.user_id,
        actor.username,
        action,
        str(tip_id) if tip_id is not None else None,
        dict(detail) if detail is not None else None,
    ]
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _mac(hasher: KeyedHash, prev_mac: bytes, body: bytes) -> bytes:
    return hasher.digest("audit", prev_mac + body)


async def _append_once(
    conn: AsyncConnection,
    hasher: KeyedHash,
    actor: Actor,
    action: str,
    tip_id: uuid.UUID | None,
    detail: Mapping[str, Any] | None,
) -> int:
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    head = (
        await conn.execute(
            sa.select(audit_log.c.id, audit_log.c.mac).order_by(audit_log.c.id.desc()).limit(1)
        )
    ).first()
    entry_id, prev_mac = (1, GENESIS) if head is None else (int(head.id) + 1, bytes(head.mac))
    # Microseconds only: what both SQLite and PostgreSQL give back unchanged.
    at = datetime.now(UTC)
    body = _canonical(entry_id, at, actor, action, tip_id, detail)
    await conn.execute(
        sa.insert(audit_log).values(
            id=entry_id,
            at=at,
            user_id=actor.user_id,
            username=actor.username,
            action=action,
            tip_id=tip_id,
            detail=dict(detail) if detail is not None else None,
            prev_mac=prev_mac,
            mac=_mac(hasher, prev_mac, body),
        )
    )
    return entry_id


async def append(
    conn: AsyncConnection,
    hasher: KeyedHash,
    *,
    actor: Actor,
    action: str,
    tip_id: uuid.UUID | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry inside the caller's transaction (which must retry on a conflict:
    another writer that took the same head makes the commit fail)."""
    return await _append_once(conn, hasher, actor, action, tip_id, detail)


async def record(
    engine: AsyncEngine,
    hasher: KeyedHash,
    *,
    actor: Actor,
    action: str,
    tip_id: uuid.UUID | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one entry in its own transaction and return its id.

    Call it *before* showing what was decrypted: if the trail cannot be written, the
    caller must not show the tip.
    """
    for _attempt in range(APPEND_ATTEMPTS):
        try:
            async with engine.begin() as conn:
                return await _append_once(conn, hasher, actor, action, tip_id, detail)
        except (IntegrityError, OperationalError):
            continue  # another writer took this head, or held the lock: read the new head
    raise ConflictError("the audit log is too busy to append to")


async def entries_for_tip(engine: AsyncEngine, tip_id: uuid.UUID, *, limit: int = 100) -> list[Any]:
    """The newest entries naming ``tip_id``, newest first."""
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(audit_log)
                    .where(audit_log.c.tip_id == tip_id)
                    .order_by(audit_log.c.id.desc())
                    .limit(limit)
                )
            ).all()
        )


async def verify(engine: AsyncEngine, hasher: KeyedHash, *, batch: int = 5000) -> AuditCheck:
    """Walk the whole chain; name the first entry whose link or MAC does not hold."""
    expected_id = 1
    prev_mac = GENESIS
    count = 0
    last_id = 0
    async with engine.connect() as conn:
        while True:
            rows = (
                await conn.execute(
                    sa.select(audit_log)
                    .where(audit_log.c.id > last_id)
                    .order_by(audit_log.c.id)
                    .limit(batch)
                )
            ).all()
            if not rows:
                return AuditCheck(entries=count, first_broken_id=None, head_mac=prev_mac)
            for row in rows:
                actor = Actor(row.user_id, row.username)
                body = _canonical(row.id, row.at, actor, row.action, row.tip_id, row.detail)
                if (
                    row.id != expected_id
                    or not hmac.compare_digest(bytes(row.prev_mac), prev_mac)
                    or not hmac.compare_digest(bytes(row.mac), _mac(hasher, prev_mac, body))
                ):
                    return AuditCheck(entries=count, first_broken_id=row.id, head_mac=prev_mac)
                prev_mac = bytes(row.mac)
                expected_id += 1
                count += 1
                last_id = row.id
