"""A tip that becomes urgent after its dispatch pages the on-call dispatcher too: raised by
a dispatcher's override, or by re-triage under new rules. Real Redis, a real burst worker,
the real twilio client against the stand-in."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa
from arq.connections import ArqRedis

from hotline.settings import Settings
from hotline.tables import tip_events, tips
from hotline.worker import reassess_open_tips, startup_context, sweep_pages
from tests.conftest import CLIENT_ADDRESS, REDIS_URL
from tests.dashboard_helpers import sign_in
from tests.paging_helpers import (
    CRITICAL,
    HIGH,
    NUMBERS,
    Clock,
    finish,
    kill,
    page_rows,
    paging_settings,
    report,
    staff_rota,
    start,
    texts_to,
    tip_row,
    wait_for,
)
from tests.twilio_standin import TwilioStandIn
from web.app import HotlineApp, create_app


@contextlib.asynccontextmanager
async def whole_site(
    settings: Settings,
) -> AsyncIterator[tuple[HotlineApp, httpx.AsyncClient, httpx.AsyncClient]]:
    """Public site and dashboard in one app: a reporter's client and a dispatcher's."""
    app = create_app(settings, role="all")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as public,
            httpx.AsyncClient(transport=transport, base_url="https://testserver") as board,
        ):
            yield app, public, board


async def run_sweep(settings: Settings) -> int:
    """The escalation sweep as its cron runs it: it enqueues every active chain's step."""
    ctx: dict[str, Any] = {"clock": Clock()}
    await startup_context(ctx, settings)
    ctx["redis"] = ArqRedis.from_url(REDIS_URL)
    try:
        return await sweep_pages(ctx)
    finally:
        await ctx["redis"].aclose()
        await ctx["engine"].dispose()


async def page_sent(twilio_api: TwilioStandIn, worker: Any) -> None:
    """Run ``worker`` until the stand-in got a page, then stop it (the next step waits)."""
    task = start(worker)

    async def paged() -> bool:
        return len(twilio_api.sent()) >= 1

    await wait_for(paged, what="the page")
    await kill(task, worker)


async def started_events(app: HotlineApp, tip_id: uuid.UUID) -> int:
    async with app.state.engine.connect() as conn:
        found = await conn.execute(
            sa.select(sa.func.count())
            .select_from(tip_events)
            .where(tip_events.c.tip_id == tip_id, tip_events.c.kind == "paging_started")
        )
        return int(found.scalar_one())


async def dispatched_unpaged(
    app: HotlineApp, client: httpx.AsyncClient, settings: Settings, make_worker: Any
) -> tuple[uuid.UUID, str]:
    """A high tip, dispatched by a worker, that paged no one (only critical is paged)."""
    tip_id, reference = await report(app, client, HIGH)
    await finish(start(make_worker(settings, ctx={"clock": Clock()})))
    row = await tip_row(app.state.engine, tip_id)
    assert row.dispatched_at is not None
    assert row.page_state is None
    return tip_id, reference


async def test_an_override_to_critical_after_dispatch_pages_the_primary(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api)
    async with whole_site(settings) as (app, public, board):
        await staff_rota(settings, app.state.engine)
        tip_id, reference = await dispatched_unpaged(app, public, settings, make_worker)
        assert twilio_api.sent() == []
        who = await sign_in(app, board)
        answer = await board.post(
            f"/dashboard/tips/{tip_id}/override",
            data={"csrf": who.csrf, "urgency": "critical", "reason": "The caller said: tonight"},
        )
        assert answer.status_code in (200, 303), answer.status_code
        assert (await tip_row(app.state.engine, tip_id)).page_state == "active"
        assert await started_events(app, tip_id) == 1
        assert await run_sweep(settings) == 1
        await page_sent(twilio_api, make_worker(settings, ctx={"clock": Clock()}))
        (body,) = texts_to(twilio_api, NUMBERS["primary"])
        assert body.startswith(f"Hotline: CRITICAL tip {reference}.")
        assert [(p.step, p.layer) for p in await page_rows(app.state.engine, tip_id)] == [
            (0, "primary")
        ]


async def test_an_override_on_a_tip_someone_holds_pages_no_one(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api)
    async with whole_site(settings) as (app, public, board):
        await staff_rota(settings, app.state.engine)
        tip_id, _reference = await dispatched_unpaged(app, public, settings, make_worker)
        who = await sign_in(app, board)
        claimed = await board.post(f"/dashboard/tips/{tip_id}/claim", data={"csrf": who.csrf})
        assert claimed.status_code in (200, 303)
        await board.post(
            f"/dashboard/tips/{tip_id}/override",
            data={"csrf": who.csrf, "urgency": "critical", "reason": "Worse than it reads"},
        )
        row = await tip_row(app.state.engine, tip_id)
        assert (row.urgency_override, row.page_state) == ("critical", None)
        assert await started_events(app, tip_id) == 0
        assert await run_sweep(settings) == 0
        assert twilio_api.sent() == []


async def test_re_triage_that_makes_an_open_tip_critical_pages_for_it(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api)
    async with whole_site(settings) as (app, public, _board):
        await staff_rota(settings, app.state.engine)
        tip_id, reference = await report(app, public, CRITICAL)
        # As if the tip had been dispatched under older rules that judged it medium.
        async with app.state.engine.begin() as conn:
            await conn.execute(
                sa.update(tips)
                .where(tips.c.id == tip_id)
                .values(rules_version="old-rules", urgency="medium", priority=2)
            )
        await finish(start(make_worker(settings, ctx={"clock": Clock()})))
        assert (await tip_row(app.state.engine, tip_id)).page_state is None
        assert twilio_api.sent() == []
        ctx: dict[str, Any] = {"clock": Clock()}
        await startup_context(ctx, settings)
        ctx["redis"] = ArqRedis.from_url(REDIS_URL)
        try:
            assert await reassess_open_tips(ctx) == 1
        finally:
            await ctx["redis"].aclose()
            await ctx["engine"].dispose()
        row = await tip_row(app.state.engine, tip_id)
        assert (row.urgency, row.page_state) == ("critical", "active")
        # The re-triage enqueued the first step itself: no sweep needed.
        await page_sent(twilio_api, make_worker(settings, ctx={"clock": Clock()}))
        (body,) = texts_to(twilio_api, NUMBERS["primary"])
        assert body.startswith(f"Hotline: CRITICAL tip {reference}.")
