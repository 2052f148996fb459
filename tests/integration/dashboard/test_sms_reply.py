"""A dashboard reply on an SMS tip reaches the reporter's phone through the worker."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline.settings import Settings
from hotline.tables import sms_messages, tip_messages, tips
from tests.conftest import CLIENT_ADDRESS, SMS_PUBLIC_URL, TWILIO_FROM
from tests.dashboard_helpers import sign_in
from tests.sms_helpers import PHONE, text
from tests.twilio_standin import TwilioStandIn
from web.app import HotlineApp, create_app

REPORT = "A man drives six women to the nail salon and keeps their passports"
ANSWER = "Are you somewhere safe to talk? Reply with a time."


@pytest.fixture
async def sms_board(sms_settings: Settings, redis: aioredis.Redis) -> AsyncIterator[HotlineApp]:
    """The whole app, webhook and dashboard, on the SMS settings."""
    application = create_app(sms_settings, role="all")
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def sms_board_client(sms_board: HotlineApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sms_board, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url=SMS_PUBLIC_URL) as c:
        yield c


async def only_tip(app: HotlineApp) -> uuid.UUID:
    async with app.state.engine.connect() as conn:
        return uuid.UUID(str((await conn.execute(sa.select(tips.c.id))).scalar_one()))


async def test_a_dashboard_reply_on_an_sms_tip_is_sent_to_the_reporter_by_the_worker(
    sms_board: HotlineApp,
    sms_board_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    make_worker: Any,
) -> None:
    await text(sms_board_client, REPORT)
    await text(sms_board_client, "They are at the salon now")  # joins the tip
    tip_id = await only_tip(sms_board)
    who = await sign_in(sms_board, sms_board_client)

    page = await sms_board_client.get(f"/dashboard/tips/{tip_id}")
    assert page.status_code == 200
    report = page.text.split('id="tip-text">', 1)[1].split("</div>", 1)[0]
    assert REPORT in re.sub(r"</?mark[^>]*>", "", report)  # highlighted words are marked
    assert "They are at the salon now" in page.text
    assert "Text message" in page.text
    assert PHONE not in page.text

    answer = await sms_board_client.post(
        f"/dashboard/tips/{tip_id}/reply", data={"csrf": who.csrf, "text": ANSWER}
    )
    assert answer.status_code == 303, answer.text
    async with sms_board.state.engine.connect() as conn:
        message = (
            await conn.execute(sa.select(tip_messages).where(tip_messages.c.author == "hotline"))
        ).one()
    assert message.user_id == who.user_id
    assert message.reporter_sealed is None  # an SMS reporter has no reporter key

    worker = make_worker(sms_settings)
    await worker.main()
    assert worker.jobs_failed == 0
    sent = [r.form for r in twilio_api.sent() if r.form.get("To") == PHONE]
    assert [form["Body"] for form in sent] == [ANSWER]
    assert sent[0]["From"] == TWILIO_FROM
    async with sms_board.state.engine.connect() as conn:
        out = (
            await conn.execute(
                sa.select(sms_messages.c.kind, sms_messages.c.tip_message_id).where(
                    sms_messages.c.direction == "out", sms_messages.c.kind == "reply"
                )
            )
        ).one()
    assert out.tip_message_id == message.id

    page = await sms_board_client.get(f"/dashboard/tips/{tip_id}")
    assert ANSWER in page.text
    assert f"Hotline reply by {who.username} by text message" in page.text
