"""The SMS channel's arq jobs: they take message ids and reload rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from hotline import logs
from hotline.conversations import FINAL_STATUSES
from hotline.queue import CLEAN_UP_AT_CARRIER, carrier_job_id, enqueue_many
from hotline.tables import sms_messages

log = logs.get_logger(__name__)

Ctx = dict[str, Any]
SWEEP_LIMIT = 500
# An inbound message younger than this is left to the prompt job the webhook asked for.
SWEEP_GRACE = timedelta(seconds=30)


async def clean_up_at_carrier(ctx: Ctx, message_id: str) -> bool:
    """Fetch an inbound message's media, then delete its record and media at Twilio."""
    carrier = ctx.get("carrier")
    if carrier is None:
        log.warning("sms_not_configured", job_id=message_id)
        return False
    return bool(await carrier.clean_up(UUID(message_id), job_try=ctx.get("job_try", 1)))


async def sweep_carrier(ctx: Ctx) -> int:
    """Offer every message still held at Twilio (and due for deletion) to the job above."""
    cutoff = datetime.now(UTC) - SWEEP_GRACE
    async with ctx["engine"].connect() as conn:
        rows = await conn.execute(
            sa.select(sms_messages.c.id)
            .where(
                sms_messages.c.carrier_deleted_at.is_(None),
                sms_messages.c.sid_sealed.is_not(None),
                sms_messages.c.created_at <= cutoff,
                sa.or_(
                    sms_messages.c.direction == "in",
                    sms_messages.c.status.in_(sorted(FINAL_STATUSES)),
                ),
            )
            .limit(SWEEP_LIMIT)
        )
        found = [row.id for row in rows]
    jobs = ((carrier_job_id(message_id), str(message_id)) for message_id in found)
    return await enqueue_many(ctx["redis"], CLEAN_UP_AT_CARRIER, jobs)
