"""Paging the on-call dispatcher on arq: real Redis, a real burst worker, real SQLite, the
real twilio client against the stand-in, and the jobs' clock in the test's hands."""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from arq.connections import ArqRedis
from arq.jobs import deserialize_job

from hotline import casework, paging
from hotline.casework import Actor
from hotline.tables import sms_messages, tip_events
from tests.paging_helpers import (
    CRITICAL,
    HIGH,
    NUMBERS,
    TIP_WORDS,
    Clock,
    finish,
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

# A window small enough that a whole chain runs in a second or two of real time.
QUICK = {"critical": 0.005, "high": 0.005}  # minutes: 0.3 s


async def test_a_critical_tip_pages_the_primary_with_its_reference_and_code_only(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api)  # the real 5-minute window
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, reference = await report(app, client, CRITICAL)
        worker = make_worker(settings, ctx={"clock": Clock()})
        task = start(worker)

        async def paged() -> bool:
            return len(twilio_api.sent()) >= 1

        await wait_for(paged, what="the page")
        (row,) = await page_rows(app.state.engine, tip_id)
        (body,) = texts_to(twilio_api, NUMBERS["primary"])
        assert body == (
            f"Hotline: CRITICAL tip {reference}. Reply ACK {row.code} or open the dashboard."
        )
        assert re.fullmatch(r"\d{4,6}", row.code)
        words = set(re.findall(r"\w+", body.lower()))
        assert not words & set(TIP_WORDS)
        assert (row.step, row.layer, row.user_id) == (0, "primary", staff["primary"])

        async def recorded() -> bool:
            rows = await page_rows(app.state.engine, tip_id)
            return rows[0].status == "sent" and rows[0].sent_at is not None

        await wait_for(recorded, what="the page's status")
        tip = await tip_row(app.state.engine, tip_id)
        assert tip.page_state == "active"
        assert tip.dispatched_at <= row.created_at
        assert await paging.tip_for_code(app.state.engine, row.code) == tip_id
        async with app.state.engine.connect() as conn:
            kinds = (
                await conn.execute(sa.select(sms_messages.c.kind, sms_messages.c.direction))
            ).all()
        assert [tuple(k) for k in kinds] == [("page", "out")]
        # The next step waits in Redis for the window, holding ids only.
        raw = await redis.get(f"arq:job:page:{tip_id}:1")
        assert raw is not None
        job = deserialize_job(raw)
        assert (job.function, job.args, job.kwargs) == ("page_step", (str(tip_id), 1), {})
        for private in (*TIP_WORDS[2:], NUMBERS["primary"], NUMBERS["primary"][2:], reference):
            assert private.encode() not in raw
        score = await redis.zscore("arq:queue", f"page:{tip_id}:1")
        assert score is not None
        waits = score / 1000 - row.created_at.timestamp()
        assert 280 < waits < 320  # the critical window, five minutes
        await kill(task, worker)


@pytest.mark.parametrize(("page_urgencies", "pages_sent"), [("critical", 0), ("critical,high", 1)])
async def test_a_high_tip_pages_only_when_high_urgencies_are_paged(
    data_dir: Path,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    make_worker: Any,
    page_urgencies: str,
    pages_sent: int,
) -> None:
    settings = paging_settings(data_dir, twilio_api, page_urgencies=page_urgencies)
    async with public_site(settings) as (app, client):
        await staff_rota(settings, app.state.engine)
        tip_id, reference = await report(app, client, HIGH)
        worker = make_worker(settings, ctx={"clock": Clock()})
        task = start(worker)

        async def dispatched() -> bool:
            return (await tip_row(app.state.engine, tip_id)).dispatched_at is not None

        await wait_for(dispatched, what="the dispatch")
        if pages_sent:

            async def paged() -> bool:
                return len(twilio_api.sent()) >= 1

            await wait_for(paged, what="the page")
            (body,) = texts_to(twilio_api, NUMBERS["primary"])
            assert body.startswith(f"Hotline: HIGH tip {reference}.")
            assert (await tip_row(app.state.engine, tip_id)).page_state == "active"
            await kill(task, worker)
        else:
            await finish(task)  # nothing deferred: the burst worker ends
            assert twilio_api.sent() == []
            assert await page_rows(app.state.engine, tip_id) == []
            assert (await tip_row(app.state.engine, tip_id)).page_state is None


async def test_without_an_acknowledgement_the_backup_then_the_supervisor_is_paged(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_minutes=QUICK, escalation_rounds=1)
    window = settings.escalation_window("critical")
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, reference = await report(app, client, CRITICAL)
        await finish(start(make_worker(settings, ctx={"clock": Clock()})))

        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.step, r.layer, r.user_id, r.status) for r in rows] == [
            (0, "primary", staff["primary"], "sent"),
            (1, "backup", staff["backup"], "sent"),
            (2, "supervisor", staff["supervisor"], "sent"),
        ]
        for earlier, later in itertools.pairwise(rows):
            assert later.created_at - earlier.created_at >= timedelta(seconds=window)
        assert len({r.code for r in rows}) == 1  # one code for the whole chain
        for layer in ("primary", "backup", "supervisor"):
            (body,) = texts_to(twilio_api, NUMBERS[layer])
            assert reference in body
            assert rows[0].code in body
        tip = await tip_row(app.state.engine, tip_id)
        assert tip.page_state == "exhausted"
        async with app.state.engine.connect() as conn:
            ended = (
                await conn.execute(
                    sa.select(tip_events.c.detail).where(
                        tip_events.c.tip_id == tip_id, tip_events.c.kind == "paging_ended"
                    )
                )
            ).scalar_one()
        assert ended == {"state": "exhausted", "steps": 3}
        assert await paging.tip_for_code(app.state.engine, rows[0].code) is None


async def test_an_acknowledgement_stops_the_chain(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(
        data_dir, twilio_api, escalation_minutes={"critical": 0.02}, escalation_rounds=1
    )
    clock = Clock()
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        task = start(make_worker(settings, ctx={"clock": clock}))

        async def paged() -> bool:
            return len(await page_rows(app.state.engine, tip_id)) == 1

        await wait_for(paged, what="the first page")
        (first,) = await page_rows(app.state.engine, tip_id)
        assert await paging.tip_for_code(app.state.engine, first.code) == tip_id
        acknowledged = await paging.acknowledge(
            app.state.engine, tip_id, user_id=staff["primary"], via="sms", now=clock()
        )
        assert acknowledged
        assert first.created_at + timedelta(seconds=1.2) > clock()  # before the next step
        await finish(task)  # the backup's step ran, saw the acknowledgement, and stopped

        assert len(await page_rows(app.state.engine, tip_id)) == 1
        assert len(twilio_api.sent()) == 1
        assert texts_to(twilio_api, NUMBERS["backup"]) == []
        tip = await tip_row(app.state.engine, tip_id)
        assert (tip.page_state, tip.acknowledged_by) == ("acknowledged", staff["primary"])
        assert await redis.zcard("arq:queue") == 0
        assert await paging.tip_for_code(app.state.engine, first.code) is None
        assert not await paging.acknowledge(
            app.state.engine, tip_id, user_id=staff["backup"], via="dashboard", now=clock()
        )


async def test_claiming_the_tip_stops_the_chain(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(
        data_dir, twilio_api, escalation_minutes={"critical": 0.02}, escalation_rounds=1
    )
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        task = start(make_worker(settings, ctx={"clock": Clock()}))

        async def paged() -> bool:
            return len(await page_rows(app.state.engine, tip_id)) == 1

        await wait_for(paged, what="the first page")
        actor = Actor(user_id=staff["backup"])
        await casework.claim(app.state.engine, tip_id, actor)
        await finish(task)

        assert len(await page_rows(app.state.engine, tip_id)) == 1
        assert len(twilio_api.sent()) == 1
        tip = await tip_row(app.state.engine, tip_id)
        assert (tip.page_state, tip.acknowledged_by) == ("acknowledged", staff["backup"])
        async with app.state.engine.connect() as conn:
            via = (
                await conn.execute(
                    sa.select(tip_events.c.detail).where(
                        tip_events.c.tip_id == tip_id, tip_events.c.kind == "acknowledged"
                    )
                )
            ).scalar_one()
        assert via == {"via": "claim"}


async def test_running_a_step_twice_sends_one_page(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api)
    async with public_site(settings) as (app, client):
        await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        worker = make_worker(settings, ctx={"clock": Clock()})
        task = start(worker)

        async def sent() -> bool:
            rows = await page_rows(app.state.engine, tip_id)
            return bool(rows) and rows[0].status == "sent"

        await wait_for(sent, what="the first page")
        await kill(task, worker)
        # The same step, twice more at once, under other job ids (as a stale duplicate would).
        for copy in ("a", "b"):
            await worker_pool_enqueue(redis, tip_id, copy)
        await make_worker(settings, ctx={"clock": Clock()}, max_burst_jobs=2).main()

        assert len(await page_rows(app.state.engine, tip_id)) == 1
        assert len(twilio_api.sent()) == 1


async def worker_pool_enqueue(redis: aioredis.Redis, tip_id: Any, copy: str) -> None:
    pool = ArqRedis(connection_pool=redis.connection_pool)
    job = await pool.enqueue_job("page_step", str(tip_id), 0, _job_id=f"copy-{copy}:{tip_id}")
    assert job is not None


async def test_an_opted_out_and_a_missing_number_are_recorded_and_the_chain_moves_on(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_minutes=QUICK, escalation_rounds=1)
    async with public_site(settings) as (app, client):
        numbers: dict[str, str | None] = {
            "primary": None,
            "backup": NUMBERS["backup"],
            "supervisor": NUMBERS["supervisor"],
        }
        staff = await staff_rota(settings, app.state.engine, numbers, opted_out=("backup",))
        tip_id, _reference = await report(app, client, CRITICAL)
        await finish(start(make_worker(settings, ctx={"clock": Clock()})))

        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.layer, r.user_id, r.status) for r in rows] == [
            ("primary", staff["primary"], "no_number"),
            ("backup", staff["backup"], "opted_out"),
            ("supervisor", staff["supervisor"], "sent"),
        ]
        assert [r.form["To"] for r in twilio_api.sent()] == [NUMBERS["supervisor"]]
        assert (await tip_row(app.state.engine, tip_id)).page_state == "exhausted"


async def test_with_nobody_on_call_the_chain_ends_as_nobody_without_waiting(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=2)  # 5-minute window
    async with public_site(settings) as (app, client):
        tip_id, _reference = await report(app, client, CRITICAL)
        await finish(start(make_worker(settings, ctx={"clock": Clock()})))

        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.step, r.layer, r.user_id, r.status) for r in rows] == [
            (step, ("primary", "backup", "supervisor")[step % 3], None, "nobody")
            for step in range(6)
        ]
        assert twilio_api.sent() == []
        assert (await tip_row(app.state.engine, tip_id)).page_state == "nobody"


async def test_without_twilio_pages_are_recorded_as_failed_with_the_reason(
    data_dir: Path, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, None, escalation_minutes=QUICK, escalation_rounds=1)
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        await finish(start(make_worker(settings, ctx={"clock": Clock()})))

        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.user_id, r.status) for r in rows] == [
            (staff[layer], "failed") for layer in ("primary", "backup", "supervisor")
        ]
        async with app.state.engine.connect() as conn:
            reasons = (
                await conn.execute(
                    sa.select(tip_events.c.detail)
                    .where(tip_events.c.tip_id == tip_id, tip_events.c.kind == "page_failed")
                    .order_by(tip_events.c.id)
                )
            ).scalars()
            assert [r["reason"] for r in reasons] == ["sms_not_configured"] * 3
        # Every page of the round failed: the queue's banner shows "nobody reachable".
        assert (await tip_row(app.state.engine, tip_id)).page_state == "nobody"
