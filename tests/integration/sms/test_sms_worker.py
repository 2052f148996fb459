"""The worker's side of SMS: replies through the one sender, carrier-side deletion, MMS."""

from __future__ import annotations

import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from arq.connections import ArqRedis, create_pool
from PIL import Image

from hotline import keys
from hotline.queue import ArqReplyDelivery, carrier_job_id, redis_settings
from hotline.replies import add_reply
from hotline.settings import Settings
from hotline.tables import sms_media, sms_messages, tips
from tests.conftest import SMS_PUBLIC_URL, TWILIO_FROM
from tests.sms_helpers import PHONE, inbound_params, new_sid, post_signed, text, wait_for_job
from tests.twilio_standin import Media, TwilioStandIn
from web.app import HotlineApp

REPORT = "A man drives six women to the nail salon and keeps their passports"


@pytest.fixture
async def arq_pool(sms_settings: Settings) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(redis_settings(sms_settings.redis_url))
    yield pool
    await pool.aclose()


async def _tip_id(app: HotlineApp) -> uuid.UUID:
    async with app.state.engine.connect() as conn:
        return uuid.UUID(str((await conn.execute(sa.select(tips.c.id))).scalar_one()))


async def _reply(
    app: HotlineApp, settings: Settings, pool: ArqRedis, tip_id: uuid.UUID, words: str
) -> uuid.UUID:
    """The core reply path, as the dashboard will call it."""
    return await add_reply(
        app.state.committer,
        keys.load_sealer(settings.keys_dir),
        tip_id,
        None,
        words,
        delivery=ArqReplyDelivery(pool),
    )


def _sent_to(twilio_api: TwilioStandIn, number: str) -> list[dict[str, str]]:
    return [r.form for r in twilio_api.sent() if r.form.get("To") == number]


async def test_stop_then_a_dispatcher_reply_sends_nothing_and_start_reenables(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    arq_pool: ArqRedis,
    make_worker: Any,
) -> None:
    await text(sms_client, REPORT)
    tip_id = await _tip_id(sms_app)
    assert "no more messages" in await text(sms_client, "stop")

    await _reply(sms_app, sms_settings, arq_pool, tip_id, "Are you safe to talk?")
    await make_worker(sms_settings).main()
    assert _sent_to(twilio_api, PHONE) == []
    async with sms_app.state.engine.connect() as conn:
        statuses = (
            (
                await conn.execute(
                    sa.select(sms_messages.c.status).where(sms_messages.c.direction == "out")
                )
            )
            .scalars()
            .all()
        )
    assert statuses == ["opted_out"]

    assert "again" in await text(sms_client, "START")
    await _reply(sms_app, sms_settings, arq_pool, tip_id, "Thank you, we are on it.")
    await make_worker(sms_settings).main()
    sent = _sent_to(twilio_api, PHONE)
    assert len(sent) == 1
    assert sent[0]["Body"] == "Thank you, we are on it."
    assert sent[0]["From"] == TWILIO_FROM
    assert sent[0]["StatusCallback"] == SMS_PUBLIC_URL + "/sms/twilio/status"
    assert "ValidityPeriod" not in sent[0]  # only pages expire


async def test_a_reply_longer_than_twilio_accepts_is_cut_to_the_limit(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    arq_pool: ArqRedis,
    make_worker: Any,
) -> None:
    await text(sms_client, REPORT)
    await _reply(sms_app, sms_settings, arq_pool, await _tip_id(sms_app), "x" * 5000)
    await make_worker(sms_settings).main()
    (sent,) = _sent_to(twilio_api, PHONE)
    assert len(sent["Body"]) == 1600


async def test_a_reply_is_retried_after_twilio_answers_429(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    arq_pool: ArqRedis,
    make_worker: Any,
) -> None:
    await text(sms_client, REPORT)
    messages = f"/2010-04-01/Accounts/{sms_settings.twilio_account_sid}/Messages.json"
    twilio_api.fail_next("POST", messages, 429)
    await _reply(sms_app, sms_settings, arq_pool, await _tip_id(sms_app), "We read your report.")
    await make_worker(sms_settings).main()
    assert len(_sent_to(twilio_api, PHONE)) == 2  # refused once, then sent
    async with sms_app.state.engine.connect() as conn:
        row = (
            await conn.execute(sa.select(sms_messages).where(sms_messages.c.direction == "out"))
        ).one()
    assert row.status == "queued"
    assert row.sid_hash is not None


async def test_the_deletion_job_deletes_the_message_and_media_at_twilio_and_retries_after_500(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    make_worker: Any,
) -> None:
    sid = new_sid("MM")
    twilio_api.media[sid] = [Media("ME" + "1" * 32, "image/png", _png())]
    await post_signed(sms_client, inbound_params(REPORT, sid=sid, num_media=1))
    message_path = twilio_api.message_path(sid)
    media_path = twilio_api.media_path(sid, "ME" + "1" * 32)
    twilio_api.fail_next("DELETE", message_path, 500)
    async with sms_app.state.engine.connect() as conn:
        message_id = (await conn.execute(sa.select(sms_messages.c.id))).scalar_one()
    await wait_for_job(redis, carrier_job_id(message_id))  # offered right after the commit

    await make_worker(sms_settings).main()

    assert twilio_api.deleted() == [media_path, message_path, media_path, message_path]
    async with sms_app.state.engine.connect() as conn:
        row = (await conn.execute(sa.select(sms_messages))).one()
        stored_media = (await conn.execute(sa.select(sms_media))).all()
    assert row.carrier_deleted_at is not None
    assert row.sid_sealed is None  # the sid is kept only as a keyed hash now
    assert len(stored_media) == 1  # fetched once, although the job ran twice


async def test_no_deletion_at_twilio_when_the_setting_is_off(
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    make_worker: Any,
) -> None:
    from web.app import create_app

    kept = sms_settings.model_copy(update={"sms_delete_at_carrier": False})
    app = create_app(kept, role="public")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=SMS_PUBLIC_URL) as client:
            await text(client, REPORT)
        async with app.state.engine.connect() as conn:
            message_id = (await conn.execute(sa.select(sms_messages.c.id))).scalar_one()
        await wait_for_job(redis, carrier_job_id(message_id))
        await make_worker(kept).main()
    assert twilio_api.deleted() == []


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


def _jpeg_with_gps() -> bytes:
    image = Image.new("RGB", (64, 48), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0110] = "Model-GPS-Test"  # Model
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (37.0, 46.0, 29.64)
    gps[3] = "W"
    gps[4] = (122.0, 25.0, 9.84)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


async def test_an_mms_picture_with_gps_exif_is_stored_without_it(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    make_worker: Any,
) -> None:
    original = _jpeg_with_gps()
    with Image.open(io.BytesIO(original)) as check:  # the test picture does carry GPS
        assert check.getexif().get_ifd(0x8825)
    sid = new_sid("MM")
    twilio_api.media[sid] = [
        Media("ME" + "2" * 32, "image/jpeg", original),
        Media("ME" + "3" * 32, "video/mp4", b"\x00\x00\x00\x18ftypmp42 not kept"),
    ]
    await post_signed(sms_client, inbound_params("photo of the van", sid=sid, num_media=2))
    async with sms_app.state.engine.connect() as conn:
        message_id = (await conn.execute(sa.select(sms_messages.c.id))).scalar_one()
    await wait_for_job(redis, carrier_job_id(message_id))
    await make_worker(sms_settings).main()

    opener = keys.load_opener(sms_settings.keys_dir, "test passphrase")
    async with sms_app.state.engine.connect() as conn:
        rows = (await conn.execute(sa.select(sms_media).order_by(sms_media.c.content_type))).all()
    picture, refused = rows
    assert refused.content_type == "video/mp4"
    assert refused.body_sealed is None
    assert picture.content_type == "image/jpeg"
    assert b"Model-GPS-Test" not in picture.body_sealed
    data = opener.open(picture.body_sealed, tip_id=picture.tip_id, field=f"media:{picture.id}")
    assert b"Exif" not in data
    assert b"Model-GPS-Test" not in data
    with Image.open(io.BytesIO(data)) as stored:
        assert stored.size == (64, 48)
        assert dict(stored.getexif()) == {}
        assert not stored.getexif().get_ifd(0x8825)
        assert "exif" not in stored.info
    media_gets = [r for r in twilio_api.requests if r.method == "GET" and "/Media/" in r.path]
    assert media_gets
    assert all(r.authorized for r in media_gets)  # fetched with the account's credentials
    assert len([p for p in twilio_api.deleted() if "/Media/" in p]) == 2


async def test_a_final_status_callback_records_delivery_and_deletes_the_outbound_record(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    arq_pool: ArqRedis,
    redis: aioredis.Redis,
    make_worker: Any,
) -> None:
    await text(sms_client, REPORT)
    await _reply(sms_app, sms_settings, arq_pool, await _tip_id(sms_app), "We read it.")
    await make_worker(sms_settings).main()
    post = next(r for r in twilio_api.requests if r.method == "POST")
    assert post.form["Body"] == "We read it."
    (outbound_sid,) = twilio_api.created
    callback = {
        "MessageSid": outbound_sid,
        "MessageStatus": "delivered",
        "AccountSid": sms_settings.twilio_account_sid,
    }
    answer = await post_signed(sms_client, callback, path="/sms/twilio/status")
    assert answer.status_code == 204
    async with sms_app.state.engine.connect() as conn:
        out = (
            await conn.execute(sa.select(sms_messages).where(sms_messages.c.direction == "out"))
        ).one()
    assert out.status == "delivered"
    await wait_for_job(redis, carrier_job_id(out.id))
    await make_worker(sms_settings).main()
    assert twilio_api.message_path(outbound_sid) in twilio_api.deleted()
