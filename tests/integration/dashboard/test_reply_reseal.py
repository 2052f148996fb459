"""Replies to a web reporter: readable with the receipt only, and re-sealed once they return."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from arq.connections import create_pool

from hotline.queue import redis_settings
from hotline.settings import Settings
from hotline.tables import audit_log, tip_events, tip_messages, tips
from hotline.worker import reseal_replies, startup_context
from tests.dashboard_helpers import SignedIn, sign_in
from tests.helpers import submit_and_read_receipt
from web.app import HotlineApp

REPORT = "Three women sleep in the back of the nail salon and never leave."
ANSWER = "Thank you. A partner organisation is looking into this today."
PENDING = "A reply is being prepared"


async def only_tip(app: HotlineApp) -> uuid.UUID:
    async with app.state.engine.connect() as conn:
        return uuid.UUID(str((await conn.execute(sa.select(tips.c.id))).scalar_one()))


async def reply(
    board_client: httpx.AsyncClient, who: SignedIn, tip_id: uuid.UUID, text: str
) -> None:
    answer = await board_client.post(
        f"/dashboard/tips/{tip_id}/reply", data={"csrf": who.csrf, "text": text}
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/dashboard/tips/{tip_id}"


async def reply_row(app: HotlineApp) -> Any:
    async with app.state.engine.connect() as conn:
        return (
            await conn.execute(sa.select(tip_messages).where(tip_messages.c.author == "hotline"))
        ).one()


async def test_a_reply_to_a_returning_web_reporter_reads_with_the_receipt_only(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    receipt = await submit_and_read_receipt(client, REPORT)
    tip_id = await only_tip(app)
    who = await sign_in(app, board_client)
    await reply(board_client, who, tip_id, ANSWER)

    row = await reply_row(app)
    assert row.reporter_sealed is not None  # the reporter key was set when the receipt showed
    assert row.user_id == who.user_id
    assert ANSWER.encode() not in row.body_sealed + row.reporter_sealed

    page = await client.post("/followup", data={"receipt": receipt})
    assert page.status_code == 200
    assert ANSWER in page.text
    wrong = "1234 5678 9012 3456" if receipt != "1234 5678 9012 3456" else "6543 2109 8765 4321"
    refused = await client.post("/followup", data={"receipt": wrong})
    assert ANSWER not in refused.text

    board = await board_client.get(f"/dashboard/tips/{tip_id}")
    assert ANSWER in board.text
    assert f"Hotline reply by {who.username}" in board.text
    async with app.state.engine.connect() as conn:
        kinds = (
            await conn.execute(
                sa.select(tip_events.c.kind, tip_events.c.user_id).where(
                    tip_events.c.kind == "reply"
                )
            )
        ).all()
        entry = (
            await conn.execute(sa.select(audit_log).where(audit_log.c.action == "reply"))
        ).one()
    assert kinds == [("reply", who.user_id)]
    assert entry.detail == {"message_id": str(row.id)}


async def test_a_reply_written_before_the_reporter_returns_is_readable_after_the_reseal_job(
    app: HotlineApp,
    client: httpx.AsyncClient,
    board_client: httpx.AsyncClient,
    settings: Settings,
) -> None:
    receipt = await submit_and_read_receipt(client, REPORT)
    tip_id = await only_tip(app)
    # As for a reporter who has not come back since submitting: no reporter key yet.
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.update(tips).values(reporter_public_key=None))
    who = await sign_in(app, board_client)
    await reply(board_client, who, tip_id, ANSWER)
    assert (await reply_row(app)).reporter_sealed is None

    ctx: dict[str, Any] = {}
    await startup_context(ctx, settings)
    try:
        assert await reseal_replies(ctx) == 0  # the reporter has not come back yet

        first_return = await client.post("/followup", data={"receipt": receipt})
        assert PENDING in first_return.text
        assert ANSWER not in first_return.text
        async with app.state.engine.connect() as conn:
            key = (await conn.execute(sa.select(tips.c.reporter_public_key))).scalar_one()
        assert key is not None  # derived from the receipt just presented

        assert await reseal_replies(ctx) == 1
        assert await reseal_replies(ctx) == 0  # idempotent
    finally:
        await ctx["engine"].dispose()

    assert (await reply_row(app)).reporter_sealed is not None
    later = await client.post("/followup", data={"receipt": receipt})
    assert ANSWER in later.text
    assert PENDING not in later.text


async def test_the_reseal_job_runs_in_the_worker(
    app: HotlineApp,
    client: httpx.AsyncClient,
    board_client: httpx.AsyncClient,
    settings: Settings,
    make_worker: Any,
) -> None:
    receipt = await submit_and_read_receipt(client, REPORT)
    tip_id = await only_tip(app)
    async with app.state.engine.begin() as conn:
        await conn.execute(sa.update(tips).values(reporter_public_key=None))
    who = await sign_in(app, board_client)
    await reply(board_client, who, tip_id, ANSWER)
    assert PENDING in (await client.post("/followup", data={"receipt": receipt})).text

    pool = await create_pool(redis_settings(settings.redis_url))
    try:
        assert await pool.enqueue_job("reseal_replies", _job_id="reseal-test") is not None
    finally:
        await pool.aclose()
    worker = make_worker()
    await worker.main()
    assert worker.jobs_failed == 0
    assert ANSWER in (await client.post("/followup", data={"receipt": receipt})).text


async def test_an_empty_reply_is_refused_and_nothing_is_written(
    app: HotlineApp, client: httpx.AsyncClient, board_client: httpx.AsyncClient
) -> None:
    await submit_and_read_receipt(client, REPORT)
    tip_id = await only_tip(app)
    who = await sign_in(app, board_client)
    answer = await board_client.post(
        f"/dashboard/tips/{tip_id}/reply", data={"csrf": who.csrf, "text": "   "}
    )
    assert answer.status_code == 400
    async with app.state.engine.connect() as conn:
        count = (
            await conn.execute(sa.select(sa.func.count()).select_from(tip_messages))
        ).scalar_one()
    assert count == 0
