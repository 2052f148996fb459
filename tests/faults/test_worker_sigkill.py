"""The worker SIGKILLed in the middle of a page: the job runs again and pages nobody twice.

The Twilio stand-in holds its answer to the first page, so the worker is inside the send
(the carrier has the message, the worker has not heard back) when it is killed. A new
worker takes over: the killed job runs again once arq's claim on it lapses (the job
timeout plus ten seconds) and sends nothing, the chain goes on to the next layers, each
paged exactly once, and the tip was dispatched exactly once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from hotline import db
from hotline.worker import page_job_id
from tests.conftest import (
    SMS_PUBLIC_URL,
    TWILIO_ACCOUNT_SID,
    TWILIO_FROM,
    TWILIO_TOKEN,
)
from tests.faults.support import processes, record, stored, wait_until
from tests.paging_helpers import (
    CRITICAL,
    NUMBERS,
    page_rows,
    paging_settings,
    public_site,
    report,
    staff_rota,
    texts_to,
    tip_row,
)
from tests.twilio_standin import TwilioStandIn

pytestmark = pytest.mark.slow

JOB_TIMEOUT_S = 1  # so a dead worker's job is free again after 11 s, not 130
WINDOW_MINUTES = 0.02  # 1.2 s between the layers of the chain


async def test_a_worker_killed_mid_page_leaves_each_layer_paged_exactly_once(
    data_dir: Path, twilio_api: TwilioStandIn, redis: aioredis.Redis
) -> None:
    escalation = {"critical": WINDOW_MINUTES, "high": WINDOW_MINUTES}
    settings = paging_settings(
        data_dir, twilio_api, escalation_rounds=1, escalation_minutes=escalation
    )
    worker_env = {
        "HOTLINE_PUBLIC_URL": SMS_PUBLIC_URL,
        "HOTLINE_TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT_SID,
        "HOTLINE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "HOTLINE_TWILIO_FROM": TWILIO_FROM,
        "HOTLINE_TWILIO_API_URL": twilio_api.url,
        "HOTLINE_ESCALATION_ROUNDS": "1",
        "HOTLINE_ESCALATION_MINUTES": json.dumps(escalation),
        "HOTLINE_JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT_S),
    }
    engine = db.create_engine(settings)
    try:
        with processes(data_dir) as started:
            async with public_site(settings) as (app, client):
                await staff_rota(settings, app.state.engine)
                tip_id, reference = await report(app, client, CRITICAL)

            twilio_api.hold_sends()
            first = started.worker(**worker_env)
            await wait_until(
                lambda: len(twilio_api.sent()) == 1,
                within=30,
                what="the primary's page reaching the carrier",
                explain=first.output,
            )
            step0 = page_job_id(tip_id, 0)
            assert await redis.exists(f"arq:in-progress:{step0}"), "the worker is in the job"
            first.kill()
            killed = time.monotonic()
            twilio_api.release_sends()
            (page,) = await page_rows(engine, tip_id)
            assert page.status == "sending", "killed before it heard back from the carrier"

            second = started.worker(**worker_env)

            async def chain_ended() -> bool:
                return (await tip_row(engine, tip_id)).page_state != "active"

            await wait_until(chain_ended, within=30, what="the chain's end", explain=second.output)

            async def killed_job_ran_again() -> bool:
                return not await redis.exists(f"arq:job:{step0}")

            await wait_until(
                killed_job_ran_again,
                within=JOB_TIMEOUT_S + 10 + 20,
                what="the killed job to run again",
                explain=second.output,
            )
            rerun_after = time.monotonic() - killed
            assert second.process.poll() is None, second.output()
        rows = await page_rows(engine, tip_id)
        tip = await tip_row(engine, tip_id)
    finally:
        await engine.dispose()
    found = await stored(settings.resolved_database_url, data_dir / "keys")

    assert [(r.layer, r.status) for r in rows] == [
        ("primary", "sending"),  # the carrier took it; at most once, so never again
        ("backup", "sent"),
        ("supervisor", "sent"),
    ]
    per_layer = {layer: len(texts_to(twilio_api, number)) for layer, number in NUMBERS.items()}
    assert per_layer == {"primary": 1, "backup": 1, "supervisor": 1}
    assert all(reference in r.form["Body"] for r in twilio_api.sent())
    assert tip.page_state == "exhausted"
    assert found.dispatch_events == {tip_id: 1}
    record(
        "worker_sigkill_mid_page",
        pages_sent_per_layer=per_layer,
        duplicate_pages=len(twilio_api.sent()) - len(rows),
        dispatched_events=found.dispatch_events[tip_id],
        job_timeout_s=JOB_TIMEOUT_S,
        killed_job_ran_again_after_s=round(rerun_after, 1),
    )
