"""What a web reporter can do with a receipt: see the status, add details, read replies.

The public role holds no private key. A reporter's additions are sealed to the case key
(the reporter cannot read them back: a receipt found on a seized phone must not reveal
what was reported). Hotline replies carry a second envelope sealed to the tip's reporter
key, derived from the receipt; the public role opens it only while the receipt is shown.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import logs
from hotline.commits import GroupCommitter, Write
from hotline.errors import InvalidInputError, SealError
from hotline.keys import KeyedHash
from hotline.receipts import derive_reporter_key, handoff_token_hash, open_handoff, receipt_hash
from hotline.seal import Opener, Sealer
from hotline.tables import receipt_handoffs, tip_events, tip_messages, tips

log = logs.get_logger(__name__)

MESSAGE_LIMIT = 3000


@dataclass(frozen=True, slots=True)
class Reply:
    at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class FollowupView:
    tip_id: uuid.UUID
    status: str
    created_at: datetime
    additions: tuple[datetime, ...]
    replies: tuple[Reply, ...]
    replies_pending: int


class Followup:
    """Receipt-based access for the public role."""

    def __init__(
        self,
        *,
        engine: AsyncEngine,
        sealer: Sealer,
        hasher: KeyedHash,
        committer: GroupCommitter,
        reporter_kdf_log2n: int,
    ) -> None:
        self._engine = engine
        self._sealer = sealer
        self._hasher = hasher
        self._committer = committer
        self._log2n = reporter_kdf_log2n

    async def take_receipt(self, token: str) -> tuple[uuid.UUID, str, str | None] | None:
        """Open and delete the one-time handoff: the receipt can be shown exactly once.

        Returns the tip id, the receipt and the tip's urgency (for the safety hint).
        """
        token_hash = handoff_token_hash(token)
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.delete(receipt_handoffs)
                    .where(receipt_handoffs.c.token_hash == token_hash)
                    .returning(
                        receipt_handoffs.c.tip_id,
                        receipt_handoffs.c.receipt_sealed,
                        receipt_handoffs.c.expires_at,
                    )
                )
            ).first()
        if row is None or row.expires_at < datetime.now(UTC):
            return None
        receipt = open_handoff(token, row.receipt_sealed)
        # The receipt is in hand: derive the reporter key now, off the intake path.
        await self.ensure_reporter_key(row.tip_id, receipt)
        async with self._engine.connect() as conn:
            urgency = (
                await conn.execute(sa.select(tips.c.urgency).where(tips.c.id == row.tip_id))
            ).scalar_one_or_none()
        return row.tip_id, receipt, urgency

    async def purge_expired_handoffs(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.delete(receipt_handoffs).where(receipt_handoffs.c.expires_at < datetime.now(UTC))
            )
        return int(result.rowcount or 0)

    async def find_tip(self, receipt: str) -> uuid.UUID | None:
        digest = receipt_hash(self._hasher, receipt)
        async with self._engine.connect() as conn:
            return (
                await conn.execute(sa.select(tips.c.id).where(tips.c.receipt_hash == digest))
            ).scalar_one_or_none()

    async def ensure_reporter_key(self, tip_id: uuid.UUID, receipt: str) -> X25519PrivateKey:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    sa.select(tips.c.reporter_salt, tips.c.reporter_public_key).where(
                        tips.c.id == tip_id
                    )
                )
            ).one()
        key = await asyncio.to_thread(
            derive_reporter_key, receipt, row.reporter_salt, log2n=self._log2n
        )
        if row.reporter_public_key is None:
            public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            async with self._engine.begin() as conn:
                await conn.execute(
                    sa.update(tips)
                    .where(tips.c.id == tip_id, tips.c.reporter_public_key.is_(None))
                    .values(reporter_public_key=public)
                )
                await conn.execute(
                    sa.insert(tip_events).values(
                        tip_id=tip_id, kind="reporter_key_set", at=datetime.now(UTC)
                    )
                )
        return key

    async def view(self, tip_id: uuid.UUID, receipt: str) -> FollowupView:
        key = await self.ensure_reporter_key(tip_id, receipt)
        opener = Opener.of(key)
        async with self._engine.connect() as conn:
            tip = (
                await conn.execute(
                    sa.select(tips.c.status, tips.c.created_at).where(tips.c.id == tip_id)
                )
            ).one()
            messages = (
                await conn.execute(
                    sa.select(
                        tip_messages.c.id,
                        tip_messages.c.author,
                        tip_messages.c.created_at,
                        tip_messages.c.reporter_sealed,
                    )
                    .where(tip_messages.c.tip_id == tip_id)
                    .order_by(tip_messages.c.created_at)
                )
            ).all()
        additions: list[datetime] = []
        replies: list[Reply] = []
        pending = 0
        for message in messages:
            if message.author == "reporter":
                additions.append(message.created_at)
            elif message.reporter_sealed is None:
                pending += 1  # sealed to the case key only, until the worker re-seals it
            else:
                try:
                    text = opener.open(
                        message.reporter_sealed, tip_id=tip_id, field=f"reply:{message.id}"
                    )
                except SealError:
                    pending += 1
                    continue
                replies.append(Reply(message.created_at, text.decode("utf-8")))
        return FollowupView(
            tip_id, tip.status, tip.created_at, tuple(additions), tuple(replies), pending
        )

    async def add(self, tip_id: uuid.UUID, text: str) -> None:
        """Seal more information from the reporter to the case key and commit it."""
        if not text.strip():
            raise InvalidInputError("an addition needs some text")
        if len(text) > MESSAGE_LIMIT:
            raise InvalidInputError(f"an addition is longer than {MESSAGE_LIMIT} characters")
        message_id = uuid.uuid4()
        now = datetime.now(UTC)
        row = {
            "id": message_id,
            "tip_id": tip_id,
            "author": "reporter",
            "created_at": now,
            "body_sealed": self._sealer.seal(
                text.encode("utf-8"), tip_id=tip_id, field=f"message:{message_id}"
            ),
            "reporter_sealed": None,
        }
        event = {"tip_id": tip_id, "kind": "reporter_added", "at": now}
        await self._committer.write(Write(rows=((tip_messages, row), (tip_events, event))))
        log.info("followup_added", tip_id=str(tip_id), channel="web")
