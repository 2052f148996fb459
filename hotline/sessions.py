"""Server-side dashboard sessions: random tokens, stored as digests, revocable at once.

A session is at stage ``password`` once the password is right, and ``full`` once the
TOTP code (or a recovery code) is right too; the token changes between the two. A
session ends when revoked, when its user is disabled, after ``idle`` without a request,
or after ``max_age`` whatever happens.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.tables import dashboard_sessions, users

Stage = Literal["password", "full"]
# last_seen_at is written at most this often, so reading a page is not a write each time.
TOUCH_EVERY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class Principal:
    """The signed-in user behind a request."""

    user_id: int
    username: str
    role: str
    stage: Stage
    token_hash: bytes
    totp_confirmed: bool


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


class SessionStore:
    """Creates, finds and ends sessions in the ``dashboard_sessions`` table."""

    def __init__(self, engine: AsyncEngine, *, idle: timedelta, max_age: timedelta) -> None:
        self.engine = engine
        self.idle = idle
        self.max_age = max_age

    async def create(self, user_id: int, stage: Stage) -> str:
        token = secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.insert(dashboard_sessions).values(
                    token_hash=token_digest(token),
                    user_id=user_id,
                    stage=stage,
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return token

    async def find(self, token: str) -> Principal | None:
        """The live session for ``token``, touched; ``None`` when there is none."""
        digest = token_digest(token)
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        dashboard_sessions.c.stage,
                        dashboard_sessions.c.created_at,
                        dashboard_sessions.c.last_seen_at,
                        dashboard_sessions.c.revoked_at,
                        users.c.id,
                        users.c.username,
                        users.c.role,
                        users.c.disabled,
                        users.c.totp_confirmed_at,
                    )
                    .join(users, users.c.id == dashboard_sessions.c.user_id)
                    .where(dashboard_sessions.c.token_hash == digest)
                )
            ).first()
        if (
            row is None
            or row.revoked_at is not None
            or row.disabled
            or now - row.last_seen_at > self.idle
            or now - row.created_at > self.max_age
        ):
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            async with self.engine.begin() as conn:
                await conn.execute(
                    sa.update(dashboard_sessions)
                    .where(dashboard_sessions.c.token_hash == digest)
                    .values(last_seen_at=now)
                )
        return Principal(
            user_id=row.id,
            username=row.username,
            role=row.role,
            stage=row.stage,
            token_hash=digest,
            totp_confirmed=row.totp_confirmed_at is not None,
        )

    async def revoke(self, token_hash: bytes) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(dashboard_sessions)
                .where(
                    dashboard_sessions.c.token_hash == token_hash,
                    dashboard_sessions.c.revoked_at.is_(None),
                )
                .values(revoked_at=datetime.now(UTC))
            )

    async def revoke_user(self, user_id: int) -> None:
        """End every session of a user (disabled, 2FA reset, password changed)."""
        async with self.engine.begin() as conn:
            await conn.execute(
                sa.update(dashboard_sessions)
                .where(
                    dashboard_sessions.c.user_id == user_id,
                    dashboard_sessions.c.revoked_at.is_(None),
                )
                .values(revoked_at=datetime.now(UTC))
            )

    async def promote(self, principal: Principal) -> str:
        """Password and second factor both right: a new, full session replaces this one."""
        await self.revoke(principal.token_hash)
        return await self.create(principal.user_id, "full")
