"""Wiring of the SMS channel, called by the composition roots (app factory, worker)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from hotline.commits import GroupCommitter
from hotline.conversations import Conversations
from hotline.db import create_sync_sqlite_engine
from hotline.keys import KeyedHash
from hotline.queue import redis_settings
from hotline.seal import Sealer
from hotline.settings import Settings
from sms.carrier import Carrier
from sms.client import build_client, close_client
from sms.outbox import CarrierOutbox
from sms.sender import SmsSender
from sms.webhook import SmsWebhook


def build_webhook(
    settings: Settings,
    *,
    engine: AsyncEngine,
    sealer: Sealer,
    hasher: KeyedHash,
    committer: GroupCommitter,
) -> SmsWebhook:
    """The public role's webhook; start and stop ``webhook.outbox`` with the app."""
    conversations = Conversations(
        engine=engine,
        sealer=sealer,
        hasher=hasher,
        committer=committer,
        quiet=timedelta(minutes=settings.sms_quiet_minutes),
        region=settings.phone_region,
        languages=settings.language_codes,
        default_language=settings.default_language,
        reader=(
            create_sync_sqlite_engine(engine.url, busy_timeout_ms=50)
            if engine.dialect.name == "sqlite"
            else None
        ),
    )
    outbox = CarrierOutbox(
        redis_settings(settings.redis_url, conn_retries=0) if settings.redis_url else None
    )
    return SmsWebhook(
        settings=settings,
        conversations=conversations,
        outbox=outbox,
        engine=engine,
        hasher=hasher,
    )


def start_worker_channel(ctx: dict[str, Any], settings: Settings) -> None:
    """Put the sender (the core's ``TextSender``) and the carrier into the worker's ctx."""
    client = build_client(settings)
    common = {
        "settings": settings,
        "engine": ctx["engine"],
        "opener": ctx["opener"],
        "sealer": ctx["sealer"],
        "hasher": ctx["hasher"],
        "client": client,
    }
    ctx["twilio"] = client
    ctx["texts"] = SmsSender(**common)
    ctx["carrier"] = Carrier(**common)


async def stop_worker_channel(ctx: dict[str, Any]) -> None:
    client = ctx.pop("twilio", None)
    if client is not None:
        await close_client(client)
