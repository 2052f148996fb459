"""The SMS sender's number, what they wrote and Twilio's sids appear nowhere in the clear."""

from __future__ import annotations

import io
from typing import Any

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa
from arq.connections import create_pool
from PIL import Image

from hotline import keys
from hotline.queue import ArqReplyDelivery, redis_settings
from hotline.replies import add_reply
from hotline.settings import Settings
from hotline.tables import sms_messages, sms_threads, tip_messages, tips
from tests.integration.test_privacy import _files_bytes, _redis_dump
from tests.sms_helpers import (
    PHONE,
    PHONE_FORMS,
    count,
    inbound_params,
    new_sid,
    post_signed,
    text,
)
from tests.twilio_standin import Media, TwilioStandIn
from web.app import HotlineApp

MARKER = "SMS-MARKER-Qx81-locked-in-the-back-room"


async def test_the_phone_number_appears_in_no_form_at_rest_in_redis_or_in_logs(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    make_worker: Any,
    capture_logs: list[str],
) -> None:
    sids = [new_sid(), new_sid(), new_sid("MM")]
    await text(sms_client, f"{MARKER} one, call me at {PHONE}", sid=sids[0])
    await text(sms_client, f"{MARKER} two", sid=sids[1])
    picture = io.BytesIO()
    Image.new("RGB", (4, 4)).save(picture, format="PNG")
    twilio_api.media[sids[2]] = [Media("ME" + "4" * 32, "image/png", picture.getvalue())]
    await post_signed(sms_client, inbound_params(MARKER, sid=sids[2], num_media=1))
    for word in ("STOP", "START", "ES", "HELP"):
        await text(sms_client, word)
    async with sms_app.state.engine.connect() as conn:
        tip_id = (await conn.execute(sa.select(tips.c.id))).scalar_one()
    pool = await create_pool(redis_settings(sms_settings.redis_url))
    try:
        await add_reply(
            sms_app.state.committer,
            keys.load_sealer(sms_settings.keys_dir),
            tip_id,
            None,
            "We read it.",
            delivery=ArqReplyDelivery(pool),
        )
        in_redis = await _redis_dump(redis)  # while jobs wait in Redis
        await make_worker(sms_settings).main()
        in_redis += await _redis_dump(redis)
    finally:
        await pool.aclose()
    assert [r.form["To"] for r in twilio_api.sent()] == [PHONE]  # the reply did go out
    callback = {
        "MessageSid": twilio_api.created[0],
        "MessageStatus": "delivered",
        "AccountSid": sms_settings.twilio_account_sid,
    }
    await post_signed(sms_client, callback, path="/sms/twilio/status")

    at_rest = _files_bytes(sms_settings.data_dir)
    in_logs = "\n".join(capture_logs).encode()
    assert b"tip_submitted" in in_logs
    assert in_redis, "jobs were in Redis to scan"
    needles = [*PHONE_FORMS, MARKER, *sids, twilio_api.created[0]]
    for where, blob in (("database files", at_rest), ("redis", in_redis), ("logs", in_logs)):
        for needle in needles:
            for encoded in (needle.encode(), needle.encode("utf-16-le")):
                assert encoded not in blob, f"found {needle[:4]}… in {where}"


async def test_delete_removes_what_the_thread_sent_and_forgets_the_number(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    from datetime import UTC, datetime, timedelta

    engine = sms_app.state.engine
    await text(sms_client, f"{MARKER} first")
    await text(sms_client, f"{MARKER} second")
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(sms_messages).values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
    await text(sms_client, f"{MARKER} later")  # a follow-up
    assert await count(engine, tip_messages) == 1

    assert "deleted" in await text(sms_client, "Delete")

    assert await count(engine, sms_threads) == 0  # hash and sealed number gone
    assert await count(engine, tip_messages) == 0
    assert await count(engine, sms_messages, sms_messages.c.body_sealed.is_not(None)) == 0
    async with engine.connect() as conn:
        tip = (await conn.execute(sa.select(tips))).one()
    opener = keys.load_opener(sms_settings.keys_dir, "test passphrase")
    body = opener.open(tip.body_sealed, tip_id=tip.id, field="body").decode()
    assert MARKER not in body
    assert "deleted" in body
    assert tip.reference  # kept: the hotline's record that a tip existed
    # The same number texting again starts afresh: a new thread and a new tip.
    await text(sms_client, f"{MARKER} again")
    assert await count(engine, tips) == 2
    assert await count(engine, sms_threads) == 1
