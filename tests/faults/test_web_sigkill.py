"""The web process SIGKILLed under a load of reports: every report that was acknowledged
is in the database after the restart, opens, and is dispatched exactly once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.conftest import make_settings
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

pytestmark = pytest.mark.slow

KILL_AFTER = 100


async def test_every_acknowledged_report_survives_a_sigkill_and_is_dispatched_once_after(
    data_dir: Path, redis: aioredis.Redis
) -> None:
    url = make_settings(data_dir).resolved_database_url
    began = time.monotonic()
    with processes(data_dir) as started:
        web = started.web()
        load = Load([web.base_url])
        load.start()
        loaded = time.monotonic()
        try:
            await load.until(KILL_AFTER, what="reports acknowledged before the kill")
            web.kill()  # SIGKILL while requests are in flight
            killed = time.monotonic()
        finally:
            await load.stop()
        acknowledged = dict(load.acknowledged)
        receipted = dict(load.receipts)

        # Before anything else runs: every acknowledged report is there, and opens.
        found = await stored(url, data_dir / "keys")
        lost = [text for text in acknowledged if text not in found.texts]
        assert found.unopened == 0
        assert lost == []
        assert receipts_found(load, found, data_dir / "keys") == len(receipted)

        # Restarted with a worker: the relay's first sweep finds what the dead process
        # committed but never enqueued; each tip is dispatched once.
        worker = started.worker()
        started.web()
        restarted = time.monotonic()

        async def all_dispatched() -> bool:
            return await undispatched(url) == 0

        await wait_until(
            all_dispatched, within=30, what="every tip dispatched", explain=worker.output
        )
        after = await stored(url, data_dir / "keys")
        recovered = time.monotonic()

    assert dispatched_once(after) == after.tips
    assert sum(after.dispatch_events.values()) == after.tips
    record(
        "web_sigkill_under_load",
        reporters=load.reporters,
        acknowledged=len(acknowledged),
        receipts_shown=len(receipted),
        stored_after_restart=found.tips,
        acknowledged_found=len(acknowledged) - len(lost),
        lost=len(lost),
        dispatched_exactly_once=dispatched_once(after),
        unanswered_when_killed=load.unanswered,
        seconds={
            "start": round(loaded - began, 1),
            "load": round(killed - loaded, 1),
            "restart": round(restarted - killed, 1),
            "dispatch_after_restart": round(recovered - restarted, 1),
        },
    )
