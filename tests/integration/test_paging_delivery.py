"""Twilio's delivery reports reach the pages: a page that never reached the phone escalates
at once instead of waiting out the window. Real Redis, real burst workers, the real twilio
client against the stand-in, and status callbacks signed with the real RequestValidator,
posted to the real webhook of the public site."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from arq.connections import ArqRedis
from arq.jobs import deserialize_job

from hotline import paging, queue, rota
from hotline.tables import sms_messages, tip_events
from tests.conftest import TWILIO_ACCOUNT_SID, TWILIO_FROM
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
from tests.sms_helpers import post_signed
from tests.twilio_standin import TwilioStandIn

STATUS_PATH = "/sms/twilio/status"
# Every form the primary's pager number could take in a log line.
PRIMARY_FORMS = ("+14155550101", "14155550101", "4155550101", "555-0101", "5550101")
WINDOW_S = 300  # the real critical window: nothing in these tests may wait it out


def status_callback(
    sid: str, status: str, *, to: str, error_code: int | None = None
) -> dict[str, str]:
    """A status callback as Twilio posts it for an outbound message."""
    params = {
        "SmsSid": sid,
        "SmsStatus": status,
        "MessageStatus": status,
        "To": to,
        "MessageSid": sid,
        "AccountSid": TWILIO_ACCOUNT_SID,
        "From": TWILIO_FROM,
        "ApiVersion": "2010-04-01",
    }
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


async def report_status(
    client: httpx.AsyncClient, sid: str, status: str, *, to: str, error_code: int | None = None
) -> None:
    params = status_callback(sid, status, to=to, error_code=error_code)
    answer = await post_signed(client, params, path=STATUS_PATH)
    assert answer.status_code == 204, answer.status_code


async def step_waits(redis: aioredis.Redis, tip_id: uuid.UUID, step: int) -> float | None:
    """Seconds until the step's job runs, or None when no job of that step waits."""
    score = await redis.zscore("arq:queue", queue.page_job_id(tip_id, step))
    return None if score is None else score / 1000 - datetime.now(UTC).timestamp()


async def failures(engine: Any, tip_id: uuid.UUID) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(tip_events.c.detail)
                    .where(tip_events.c.tip_id == tip_id, tip_events.c.kind == "page_failed")
                    .order_by(tip_events.c.id)
                )
            ).scalars()
        )


async def settled(app: Any, tip_id: uuid.UUID, count: int, *, within: float = 10) -> None:
    """Wait for the tip's first ``count`` pages to be recorded, none still "sending"."""

    async def done() -> bool:
        rows = await page_rows(app.state.engine, tip_id)
        return len(rows) >= count and all(r.status != "sending" for r in rows[:count])

    await wait_for(done, within=within, what=f"{count} pages recorded")


async def primary_paged(app: Any, twilio_api: TwilioStandIn, tip_id: uuid.UUID) -> str:
    """Wait for the primary's page to be sent; the message sid the carrier gave it."""

    async def sent() -> bool:
        rows = await page_rows(app.state.engine, tip_id)
        return bool(rows) and rows[0].status == "sent"

    await wait_for(sent, what="the primary's page")
    (sid,) = twilio_api.created
    return sid


async def test_an_undelivered_page_pages_the_backup_at_once_and_keeps_the_carriers_code(
    data_dir: Path,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    make_worker: Any,
    capture_logs: list[str],
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=1)  # 5-minute window
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, reference = await report(app, client, CRITICAL)
        worker = make_worker(settings, ctx={"clock": Clock()})
        task = start(worker)
        sid = await primary_paged(app, twilio_api, tip_id)
        waits = await step_waits(redis, tip_id, 1)
        assert waits is not None
        assert waits > WINDOW_S - 30  # the backup's step waits out the window …

        await report_status(client, sid, "sent", to=NUMBERS["primary"])
        await report_status(client, sid, "undelivered", to=NUMBERS["primary"], error_code=30003)

        await settled(app, tip_id, 2)  # … unless the page never reached the phone
        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.step, r.layer, r.user_id, r.status, r.error_code) for r in rows] == [
            (0, "primary", staff["primary"], "failed", 30003),
            (1, "backup", staff["backup"], "sent", None),
        ]
        assert (rows[1].created_at - rows[0].created_at).total_seconds() < 30
        assert reference in texts_to(twilio_api, NUMBERS["backup"])[0]
        assert await failures(app.state.engine, tip_id) == [
            {"step": 0, "reason": "undelivered", "error_code": 30003}
        ]
        # Unreachable (30003) is not a refusal: the primary's number stays in use.
        assert (await rota.contact_states(app.state.engine))[staff["primary"]] is False
        async with app.state.engine.connect() as conn:
            message_status = await conn.scalar(
                sa.select(sms_messages.c.status).where(sms_messages.c.id == rows[0].message_id)
            )
        assert message_status == "undelivered"

        # The same report again, and a late "delivered": nothing moves back, nobody twice.
        await report_status(client, sid, "undelivered", to=NUMBERS["primary"], error_code=30003)
        await report_status(client, sid, "delivered", to=NUMBERS["primary"])
        assert [(r.status, r.error_code) for r in await page_rows(app.state.engine, tip_id)] == [
            ("failed", 30003),
            ("sent", None),
        ]
        assert len(await failures(app.state.engine, tip_id)) == 1
        assert len(twilio_api.sent()) == 2
        assert (await tip_row(app.state.engine, tip_id)).page_state == "active"
        waits = await step_waits(redis, tip_id, 2)  # the supervisor: after the window
        assert waits is not None
        assert waits > WINDOW_S - 30
        await kill(task, worker)
    logged = "\n".join(capture_logs)
    assert "page_undelivered" in logged
    for form in PRIMARY_FORMS:
        assert form not in logged


async def test_a_delivered_page_is_recorded_and_no_later_report_moves_it_back(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=1)
    async with public_site(settings) as (app, client):
        await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        worker = make_worker(settings, ctx={"clock": Clock()})
        task = start(worker)
        sid = await primary_paged(app, twilio_api, tip_id)

        await report_status(client, sid, "delivered", to=NUMBERS["primary"])
        (row,) = await page_rows(app.state.engine, tip_id)
        assert (row.status, row.error_code) == ("delivered", None)
        assert row.sent_at is not None
        # Out of order and repeated: "sent" after "delivered", then a stray "undelivered".
        await report_status(client, sid, "sent", to=NUMBERS["primary"])
        await report_status(client, sid, "delivered", to=NUMBERS["primary"])
        await report_status(client, sid, "undelivered", to=NUMBERS["primary"], error_code=30003)

        (row,) = await page_rows(app.state.engine, tip_id)
        assert (row.status, row.error_code) == ("delivered", None)
        assert await failures(app.state.engine, tip_id) == []
        waits = await step_waits(redis, tip_id, 1)  # the backup still waits out the window
        assert waits is not None
        assert waits > WINDOW_S - 30
        assert len(twilio_api.sent()) == 1
        await kill(task, worker)


async def test_an_undelivered_report_after_the_acknowledgement_changes_only_the_page(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=1)
    clock = Clock()
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        worker = make_worker(settings, ctx={"clock": clock})
        task = start(worker)
        sid = await primary_paged(app, twilio_api, tip_id)
        waits_before = await step_waits(redis, tip_id, 1)
        assert waits_before is not None
        assert await paging.acknowledge(
            app.state.engine, tip_id, user_id=staff["primary"], via="dashboard", now=clock()
        )

        await report_status(client, sid, "failed", to=NUMBERS["primary"], error_code=30008)

        (row,) = await page_rows(app.state.engine, tip_id)
        assert (row.status, row.error_code) == ("failed", 30008)
        tip = await tip_row(app.state.engine, tip_id)
        assert (tip.page_state, tip.acknowledged_by) == ("acknowledged", staff["primary"])
        waits_after = await step_waits(redis, tip_id, 1)  # not brought forward
        assert waits_after is not None
        assert waits_after > waits_before - 30
        assert len(twilio_api.sent()) == 1
        await kill(task, worker)


@pytest.mark.parametrize("code", [21610, 30004])
async def test_an_unsubscribed_or_blocked_delivery_report_opts_the_pager_out(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any, code: int
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=1)
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        worker = make_worker(settings, ctx={"clock": Clock()})
        task = start(worker)
        sid = await primary_paged(app, twilio_api, tip_id)
        assert (await rota.contact_states(app.state.engine))[staff["primary"]] is False

        await report_status(client, sid, "undelivered", to=NUMBERS["primary"], error_code=code)

        await settled(app, tip_id, 2)
        states = await rota.contact_states(app.state.engine)  # what the rota page warns of
        assert (states[staff["primary"]], states[staff["backup"]]) == (True, False)
        assert [(r.status, r.error_code) for r in await page_rows(app.state.engine, tip_id)] == [
            ("failed", code),
            ("sent", None),
        ]
        await kill(task, worker)


async def test_the_sweep_brings_forward_a_step_made_due_by_an_undelivered_page(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=1)
    clock = Clock()
    async with public_site(settings) as (app, client):
        await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        worker = make_worker(settings, ctx={"clock": clock})
        task = start(worker)
        sid = await primary_paged(app, twilio_api, tip_id)
        await kill(task, worker)
        deferred = await redis.zscore("arq:queue", queue.page_job_id(tip_id, 1))
        assert deferred is not None

        await report_status(client, sid, "undelivered", to=NUMBERS["primary"], error_code=30003)

        async def brought_forward() -> bool:
            waits = await step_waits(redis, tip_id, 1)
            return waits is not None and waits < 5

        await wait_for(brought_forward, within=10, what="the webhook's hand-off")
        # As if that hand-off to Redis had been lost: the job waits out the window again.
        await redis.zadd("arq:queue", {queue.page_job_id(tip_id, 1): deferred})
        # A worker's start runs the escalation sweep (as its cron does every 15 s).
        await make_worker(settings, ctx={"clock": clock}, max_burst_jobs=0).main()
        waits = await step_waits(redis, tip_id, 1)
        assert waits is not None
        assert waits < 5
        await make_worker(settings, ctx={"clock": clock}, max_burst_jobs=2).main()  # + clean-up

        assert len(texts_to(twilio_api, NUMBERS["backup"])) == 1
        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.layer, r.status) for r in rows] == [("primary", "failed"), ("backup", "sent")]


async def test_a_page_to_an_unsubscribed_number_is_opted_out_and_the_backup_paged_at_once(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis, make_worker: Any
) -> None:
    twilio_api.fail_number(NUMBERS["primary"], code=21610, status=400)
    settings = paging_settings(data_dir, twilio_api, escalation_rounds=1)  # 5-minute window
    async with public_site(settings) as (app, client):
        staff = await staff_rota(settings, app.state.engine)
        tip_id, _reference = await report(app, client, CRITICAL)
        worker = make_worker(settings, ctx={"clock": Clock()})
        task = start(worker)

        await settled(app, tip_id, 2)
        rows = await page_rows(app.state.engine, tip_id)
        assert [(r.layer, r.user_id, r.status) for r in rows] == [
            ("primary", staff["primary"], "opted_out"),
            ("backup", staff["backup"], "sent"),
        ]
        assert (rows[1].created_at - rows[0].created_at).total_seconds() < 30
        assert len(texts_to(twilio_api, NUMBERS["primary"])) == 1  # tried once, refused
        assert (await rota.contact_states(app.state.engine))[staff["primary"]] is True
        async with app.state.engine.connect() as conn:
            refused = await conn.scalar(
                sa.select(sms_messages.c.status).where(sms_messages.c.id == rows[0].message_id)
            )
        assert refused == "opted_out"
        await kill(task, worker)

        # The next critical tip skips the opted-out primary without asking the carrier.
        second_id, _reference = await report(app, client, CRITICAL)
        task = start(worker := make_worker(settings, ctx={"clock": Clock()}))

        await settled(app, second_id, 2)
        rows = await page_rows(app.state.engine, second_id)
        assert [(r.layer, r.status) for r in rows[:2]] == [
            ("primary", "opted_out"),
            ("backup", "sent"),
        ]
        assert len(texts_to(twilio_api, NUMBERS["primary"])) == 1
        await kill(task, worker)


async def test_enqueue_step_brings_a_waiting_step_forward_and_never_back(
    redis: aioredis.Redis,
) -> None:
    pool = ArqRedis(connection_pool=redis.connection_pool)
    tip_id = uuid.uuid4()
    job_id = queue.page_job_id(tip_id, 1)
    assert await queue.enqueue_step(pool, tip_id, 1, delay=300) == 1
    later = await redis.zscore("arq:queue", job_id)
    assert await queue.enqueue_step(pool, tip_id, 1, delay=600) == 0
    assert await redis.zscore("arq:queue", job_id) == later
    assert await queue.enqueue_step(pool, tip_id, 1, delay=0) == 2
    waits = await step_waits(redis, tip_id, 1)
    assert waits is not None
    assert waits < 5
    raw = await redis.get(f"arq:job:{job_id}")
    assert raw is not None
    job = deserialize_job(raw)
    assert (job.function, job.args, job.kwargs) == ("page_step", (str(tip_id), 1), {})
