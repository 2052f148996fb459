"""Redis killed (SIGKILL) in the middle of a burst of reports and restarted empty: every
reporter still got a receipt, nothing was lost, and every tip is dispatched exactly once
once Redis is back (the relay's sweep re-offers the tips whose jobs died with Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import free_port, make_settings
from tests.faults.support import (
    Load,
    dispatched_once,
    processes,
    receipts_found,
    record,
    stored,
    undispatched,
    wait_until,
)
from tests.server import PrivateRedis

pytestmark = pytest.mark.slow

PER_PHASE = 40  # reports acknowledged before the kill, while Redis is down, and after


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


async def test_a_redis_restart_mid_burst_loses_no_report_and_each_is_dispatched_once(
    data_dir: Path, private_redis: PrivateRedis
) -> None:
    url = make_settings(data_dir).resolved_database_url
    env = {
        "HOTLINE_REDIS_URL": private_redis.url,
        "HOTLINE_SWEEP_INTERVAL_SECONDS": "1",
        "HOTLINE_SWEEP_GRACE_SECONDS": "0",
    }
    with processes(data_dir) as started:
        worker = started.worker(**env)
        web = started.web(**env)
        load = Load([web.base_url])
        load.start()
        try:
            await load.until(PER_PHASE, what="reports before Redis dies")
            private_redis.kill()  # queued jobs die with it
            during_from = len(load.acknowledged)
            await load.until(during_from + PER_PHASE, what="reports while Redis is down")
            during = len(load.acknowledged) - during_from
            waiting = await undispatched(url)  # the sweep's work once Redis is back
            private_redis.start()  # empty: it saves nothing
            await load.until(during_from + during + PER_PHASE, what="reports after")
        finally:
            await load.stop()

        async def all_dispatched() -> bool:
            return await undispatched(url) == 0

        await wait_until(
            all_dispatched, within=60, what="every tip dispatched", explain=started.outputs
        )
        assert worker.process.poll() is None, worker.output()
    found = await stored(url, data_dir / "keys")

    lost = [text for text in load.acknowledged if text not in found.texts]
    assert load.refused == {}, "Redis never stands between a reporter and the database"
    assert load.unanswered == 0
    assert lost == []
    assert waiting >= during, "what came in while Redis was down waited for it"
    assert found.unopened == 0
    assert len(load.receipts) == len(load.acknowledged), "every reporter saw a receipt"
    assert receipts_found(load, found, data_dir / "keys") == len(load.receipts)
    assert dispatched_once(found) == found.tips
    assert sum(found.dispatch_events.values()) == found.tips
    record(
        "redis_sigkill_mid_burst",
        reporters=load.reporters,
        acknowledged=len(load.acknowledged),
        acknowledged_while_redis_down=during,
        undispatched_when_redis_returned=waiting,
        receipts_shown=len(load.receipts),
        refused=sum(load.refused.values()),
        lost=len(lost),
        dispatched_exactly_once=dispatched_once(found),
    )
