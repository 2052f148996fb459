"""The database is the truth of a paging chain: a worker or Redis lost between two steps
costs no page and sends none twice; the escalation sweep puts the missing step back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from arq.connections import ArqRedis

from hotline.tables import pages
from tests.paging_helpers import (
    CRITICAL,
    NUMBERS,
    Clock,
    kill,
    page_rows,
    paging_settings,
    public_site,
    report,
    staff_rota,
    start,
    texts_to,
    tip_row,
    wait_for,
)
from tests.twilio_standin import TwilioStandIn


async def test_a_chain_resumes_after_the_worker_and_redis_are_lost_with_no_duplicate_page(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=1)  # 5-minute window
    window = settings.escalation_window("critical")
    clock = Clock()
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, reference = await report(app, client, CRITICAL)
        first = make_worker(settings, ctx={"clock": clock})
        task = start(first)

        async def primary_paged() -> bool:
            rows = await page_rows(app.state.engine, tip_id)
            return bool(rows) and rows[0].status == "sent"

        await wait_for(primary_paged, what="the primary's page")
        assert await redis.exists(f"arq:job:page:{tip_id}:1")
        # The worker dies while step 1 waits out its window, and Redis loses everything.
        await kill(task, first)
        await redis.flushdb()

        # Restarted before the window is over: the sweep puts step 1 back, deferred to
        # the time the pages table says (not sooner), and pages no one yet.
        await make_worker(settings, ctx={"clock": clock}, max_burst_jobs=0).main()
        score = await redis.zscore("arq:queue", f"page:{tip_id}:1")
        assert score is not None
        (step0,) = await page_rows(app.state.engine, tip_id)
        due = step0.created_at.timestamp() + window
        assert abs(score / 1000 - due) < 2
        assert len(twilio_api.sent()) == 1

        # Lost again; by the time a worker comes back the window has passed (the clock).
        await redis.flushdb()
        clock.advance(window)
        await make_worker(settings, ctx={"clock": clock}, max_burst_jobs=1).main()

        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.step, r.layer, r.user_id, r.status) for r in rows] == [
            (0, "primary", staff["primary"], "sent"),
            (1, "backup", staff["backup"], "sent"),
        ]
        assert rows[1].code == rows[0].code
        assert len(texts_to(twilio_api, NUMBERS["primary"])) == 1
        (body,) = texts_to(twilio_api, NUMBERS["backup"])
        assert reference in body
        # Step 2 waits in Redis for the next window; a sweep now changes nothing.
        assert await redis.exists(f"arq:job:page:{tip_id}:2")
        await make_worker(settings, ctx={"clock": clock}, max_burst_jobs=0).main()
        assert await redis.zcard("arq:queue") == 1

        # The last steps, each restored by a restart as its window passes.
        for _step in (2, 3):
            await redis.flushdb()
            clock.advance(window)
            await make_worker(settings, ctx={"clock": clock}, max_burst_jobs=1).main()
        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.layer, r.status) for r in rows] == [
            ("primary", "sent"),
            ("backup", "sent"),
            ("supervisor", "sent"),
        ]
        assert len(twilio_api.sent()) == 3  # each step's page exactly once
        assert (await tip_row(app.state.engine, tip_id)).page_state == "exhausted"


async def test_a_step_crashed_mid_send_is_not_sent_again_and_the_chain_goes_on(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=1)
    window = settings.escalation_window("critical")
    clock = Clock()
    async with public_site(settings) as (app, client):
        await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        first = make_worker(settings, ctx={"clock": clock})
        task = start(first)

        async def primary_paged() -> bool:
            rows = await page_rows(app.state.engine, tip_id)
            return bool(rows) and rows[0].status == "sent"

        await wait_for(primary_paged, what="the primary's page")
        await kill(task, first)
        # As if the worker died after the carrier took the page but before recording it.
        async with app.state.engine.begin() as conn:
            await conn.execute(pages.update().values(status="sending", sent_at=None))
        await redis.flushdb()
        assert await _enqueue_step(redis, tip_id, 0)
        clock.advance(window)
        await make_worker(settings, ctx={"clock": clock}, max_burst_jobs=2).main()

        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.layer, r.status) for r in rows] == [("primary", "sending"), ("backup", "sent")]
        assert len(texts_to(twilio_api, NUMBERS["primary"])) == 1  # at most once
        assert len(texts_to(twilio_api, NUMBERS["backup"])) == 1


async def _enqueue_step(redis: aioredis.Redis, tip_id: Any, step: int) -> bool:
    pool = ArqRedis(connection_pool=redis.connection_pool)
    job = await pool.enqueue_job("page_step", str(tip_id), step, _job_id=f"page:{tip_id}:{step}")
    return job is not None
