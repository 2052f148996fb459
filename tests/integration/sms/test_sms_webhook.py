"""The signed Twilio webhook: who may post, what is stored, what is answered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa

from hotline import keys
from hotline.settings import Settings
from hotline.tables import sms_messages, sms_threads, tip_messages, tips
from tests.conftest import TWILIO_TOKEN_SECONDARY
from tests.sms_helpers import REFERENCE, count, inbound_params, post_signed, sign, text
from web.app import HotlineApp

FIRST = "There is a house on Elm Street where women are driven to work at night"
SECOND = "They never go out alone and the man keeps their passports"
THIRD = "A black van comes every morning at six"


async def _stored(app: HotlineApp) -> tuple[int, int, int]:
    engine = app.state.engine
    return (
        await count(engine, tips),
        await count(engine, sms_messages),
        await count(engine, sms_threads),
    )


async def test_sms_webhook_rejects_a_forged_or_missing_signature_and_stores_nothing(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient
) -> None:
    params = inbound_params(FIRST)
    forged = sign("/sms/twilio", params, token="not-the-auth-token")
    other_url = sign("/sms/other", params)
    tampered = dict(params, Body="something else")
    for answer in (
        await post_signed(sms_client, params, signature=forged),
        await post_signed(sms_client, params, signature=other_url),
        await post_signed(sms_client, params, signature=""),
        await sms_client.post("/sms/twilio", data=params),
        await post_signed(sms_client, tampered, signature=sign("/sms/twilio", params)),
        await post_signed(
            sms_client,
            {**inbound_params("x"), "MessageStatus": "delivered"},
            path="/sms/twilio/status",
            signature=forged,
        ),
    ):
        assert answer.status_code == 403
        assert "Message" not in answer.text
    assert await _stored(sms_app) == (0, 0, 0)


async def test_sms_webhook_accepts_the_secondary_token_during_a_rotation(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient
) -> None:
    answer = await post_signed(sms_client, inbound_params(FIRST), token=TWILIO_TOKEN_SECONDARY)
    assert answer.status_code == 200
    assert REFERENCE.search(answer.text)
    assert await _stored(sms_app) == (1, 1, 1)


async def test_a_three_message_conversation_becomes_one_tip_with_three_sealed_messages(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    first_reply = await text(sms_client, FIRST)
    assert await text(sms_client, SECOND) == ""  # within the quiet window: no second answer
    assert await text(sms_client, THIRD) == ""
    engine = sms_app.state.engine
    async with engine.connect() as conn:
        tip = (await conn.execute(sa.select(tips))).one()
        rows = (
            await conn.execute(
                sa.select(sms_messages.c.id, sms_messages.c.body_sealed)
                .where(sms_messages.c.tip_id == tip.id, sms_messages.c.kind == "tip")
                .order_by(sms_messages.c.created_at)
            )
        ).all()
    assert tip.channel == "sms"
    assert tip.assessed is True
    found = REFERENCE.search(first_reply)
    assert found is not None
    assert found.group(1) == tip.reference
    assert "911" in first_reply
    opener = keys.load_opener(sms_settings.keys_dir, "test passphrase")
    opened = [
        opener.open(row.body_sealed, tip_id=tip.id, field=f"sms:{row.id}").decode() for row in rows
    ]
    assert opened == [FIRST, SECOND, THIRD]
    for row in rows:
        assert FIRST.encode() not in row.body_sealed


async def test_a_message_after_the_quiet_window_joins_the_tips_followup_thread(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    await text(sms_client, FIRST)
    engine = sms_app.state.engine
    async with engine.begin() as conn:  # the first message is now an hour old
        await conn.execute(
            sa.update(sms_messages).values(created_at=datetime.now(UTC) - timedelta(hours=1))
        )
    reply = await text(sms_client, SECOND)
    assert "added" in reply
    assert await count(engine, tips) == 1
    async with engine.connect() as conn:
        addition = (await conn.execute(sa.select(tip_messages))).one()
    assert addition.author == "reporter"
    opener = keys.load_opener(sms_settings.keys_dir, "test passphrase")
    body = opener.open(addition.body_sealed, tip_id=addition.tip_id, field=f"message:{addition.id}")
    assert body.decode() == SECOND


async def test_a_duplicate_message_sid_makes_one_row(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient
) -> None:
    params = inbound_params(FIRST)
    first = await post_signed(sms_client, params)
    again = await post_signed(sms_client, params)
    assert first.status_code == again.status_code == 200
    assert REFERENCE.search(first.text)
    assert not REFERENCE.search(again.text)
    assert await _stored(sms_app) == (1, 1, 1)
    stop = inbound_params("STOP")
    await post_signed(sms_client, stop)
    await post_signed(sms_client, stop)
    assert await count(sms_app.state.engine, sms_messages) == 2


async def test_a_spanish_text_gets_a_spanish_reply(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient
) -> None:
    reply = await text(
        sms_client, "Hay unas mujeres en una casa que no pueden salir y tienen miedo"
    )
    assert "Recibimos su reporte" in reply
    assert "Emergencias: 911" in reply
    async with sms_app.state.engine.connect() as conn:
        assert (await conn.execute(sa.select(tips.c.lang))).scalar_one() == "es"


async def test_es_and_en_keywords_switch_the_language_of_the_answers(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient
) -> None:
    assert "español" in await text(sms_client, "Español")
    assert "Responda PARAR" in await text(sms_client, "help")  # the Spanish help text
    assert "English" in await text(sms_client, "en")
    assert "Thank you" in await text(sms_client, FIRST)


async def test_help_in_any_case_and_accents_answers_with_the_crisis_numbers(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient
) -> None:
    for word in ("HELP", "info", "Help!"):
        assert "1-888-373-7888" in await text(sms_client, word)
    assert "233733" in await text(sms_client, "Ayúda")
    assert await count(sms_app.state.engine, tips) == 0


async def test_a_critical_tip_is_answered_with_the_safety_text_first(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient
) -> None:
    reply = await text(sms_client, "They took my passport and I can't leave, please help me now")
    assert reply.startswith("If you or someone else is in danger right now")
    assert REFERENCE.search(reply)


async def test_a_quiet_thread_expires_and_a_later_text_opens_a_new_tip(
    sms_app: HotlineApp, sms_client: httpx.AsyncClient, sms_settings: Settings
) -> None:
    from hotline.conversations import expire_threads

    await text(sms_client, "They keep the workers in the warehouse on 5th and take their pay")
    engine = sms_app.state.engine
    long_ago = datetime.now(UTC) - timedelta(days=sms_settings.sms_thread_days + 1)
    async with engine.begin() as conn:
        await conn.execute(sa.update(sms_threads).values(created_at=long_ago))
        await conn.execute(sa.update(sms_messages).values(created_at=long_ago))
    assert await expire_threads(engine, quiet_for=timedelta(days=sms_settings.sms_thread_days)) == 1
    assert await count(engine, sms_threads) == 0
    assert await count(engine, tips) == 1  # the tip and its sealed messages stay
    await text(sms_client, "Another van came tonight with more workers")
    assert await count(engine, tips) == 2
    assert await count(engine, sms_threads) == 1
