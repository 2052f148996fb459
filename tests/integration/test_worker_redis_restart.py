"""The worker survives a Redis restart: it reconnects and goes on dispatching."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import database_rows, free_port, make_settings
from tests.server import PrivateRedis, ServerProcess
from web.app import create_app

pytestmark = pytest.mark.slow


def undispatched(data_dir: Path) -> int:
    [(count,)] = database_rows(data_dir, "SELECT count(*) FROM tips WHERE dispatched_at IS NULL")
    return int(count)


async def submit_tips(data_dir: Path, redis_url: str, count: int) -> None:
    app = create_app(make_settings(data_dir, redis_url=redis_url), role="public")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for n in range(count):
                answer = await client.post("/report", data={"what": f"tip {n}"})
                assert answer.status_code == 303
        deadline = asyncio.get_running_loop().time() + 10
        while app.state.relay.enqueued < count:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)


def wait_all_dispatched(data_dir: Path, worker: ServerProcess, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while undispatched(data_dir):
        assert worker.process.poll() is None, worker.output()
        assert time.monotonic() < deadline, worker.output()
        time.sleep(0.1)


def test_the_worker_reconnects_after_redis_restarts_and_dispatches_new_tips(
    data_dir: Path, tmp_path: Path
) -> None:
    redis = PrivateRedis(free_port(), tmp_path)
    redis.start()
    redis_url = redis.url
    worker = ServerProcess(data_dir, 0, "worker", HOTLINE_REDIS_URL=redis_url)
    try:
        asyncio.run(submit_tips(data_dir, redis_url, 3))
        wait_all_dispatched(data_dir, worker)
        redis.stop()
        time.sleep(2)  # the worker notices Redis is gone
        redis.start()
        asyncio.run(submit_tips(data_dir, redis_url, 3))
        wait_all_dispatched(data_dir, worker)
        assert worker.process.poll() is None, "the worker kept running"
    finally:
        worker.stop()
        redis.stop()
    assert "worker_redis_lost" in worker.output()
    assert "Traceback" not in worker.output()
