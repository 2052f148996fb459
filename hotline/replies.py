"""Replies from the hotline to a reporter."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

from hotline.commits import GroupCommitter, Write
from hotline.seal import Sealer
from hotline.tables import tip_messages


class ReplyDelivery(Protocol):
    """Told of each committed reply, so a channel (SMS) can deliver it; ids only."""

    async def reply_added(self, tip_id: uuid.UUID, message_id: uuid.UUID) -> None: ...


async def add_reply(
    committer: GroupCommitter,
    sealer: Sealer,
    tip_id: uuid.UUID,
    reporter_public: X25519PublicKey | None,
    text: str,
    *,
    delivery: ReplyDelivery | None = None,
    user_id: int | None = None,
) -> uuid.UUID:
    """Seal a reply to the case key and, when the tip has one, to its reporter key.

    Without a reporter key yet (the reporter has not come back since submitting), the
    reply waits, sealed to the case key only, and the follow-up page says one is coming.
    With ``delivery``, the committed reply is handed on (by id) to reach an SMS reporter.
    ``user_id`` names the dispatcher who wrote it.
    """
    message_id = uuid.uuid4()
    field = f"reply:{message_id}"
    body = text.encode("utf-8")
    row = {
        "id": message_id,
        "tip_id": tip_id,
        "author": "hotline",
        "created_at": datetime.now(UTC),
        "body_sealed": sealer.seal(body, tip_id=tip_id, field=field),
        "reporter_sealed": (
            Sealer(reporter_public).seal(body, tip_id=tip_id, field=field)
            if reporter_public is not None
            else None
        ),
    }
    if user_id is not None:
        # Only when given: rows of one table in a group-commit batch are inserted together,
        # and a key that some rows lack breaks that insert (see casework.reply).
        row["user_id"] = user_id
    await committer.write(Write(rows=((tip_messages, row),)))
    if delivery is not None:
        await delivery.reply_added(tip_id, message_id)
    return message_id
