"""SIGKILL the web process mid-load: every submission that got its 303 survives."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest

from hotline.receipts import handoff_token_hash
from tests.conftest import free_port
from tests.server import ServerProcess

pytestmark = pytest.mark.slow


async def test_every_acknowledged_submission_survives_a_sigkill(data_dir: Path) -> None:
    server = ServerProcess(data_dir, free_port())
    try:
        server.wait_ready()
        acknowledged: list[str] = []
        stop = asyncio.Event()

        async def reporter(n: int) -> None:
            async with httpx.AsyncClient(base_url=server.base_url, timeout=5) as client:
                i = 0
                while not stop.is_set():
                    try:
                        answer = await client.post(
                            "/report", data={"what": f"crash test tip {n}-{i}"}
                        )
                    except httpx.HTTPError:
                        return  # the server died under us: that request was never answered
                    if answer.status_code == 303:
                        location = answer.headers["location"]
                        acknowledged.append(location.split("/")[-1].split("?")[0])
                    i += 1

        tasks = [asyncio.create_task(reporter(n)) for n in range(16)]
        deadline = asyncio.get_running_loop().time() + 20
        while len(acknowledged) < 150:
            assert asyncio.get_running_loop().time() < deadline, server.output()
            await asyncio.sleep(0.01)
        server.kill()  # SIGKILL while requests are in flight
        stop.set()
        await asyncio.gather(*tasks)
    finally:
        server.stop()

    database = sqlite3.connect(data_dir / "hotline.db")
    try:
        found = 0
        for token in acknowledged:
            row = database.execute(
                "SELECT tips.id FROM receipt_handoffs"
                " JOIN tips ON tips.id = receipt_handoffs.tip_id"
                " WHERE token_hash = ?",
                (handoff_token_hash(token),),
            ).fetchone()
            found += row is not None
        total = database.execute("SELECT count(*) FROM tips").fetchone()[0]
    finally:
        database.close()
    assert found == len(acknowledged)
    assert total >= len(acknowledged)
