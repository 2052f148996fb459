"""Privacy invariants 1, 2, 4 and 5: a forensic scan after real submissions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import redis.asyncio as aioredis

from hotline.settings import Settings
from tests.conftest import CLIENT_ADDRESS
from tests.helpers import submit_and_read_receipt
from web.app import HotlineApp

MARKER = "MARKER-Zq9x7-kept-in-room-41"


async def _redis_dump(redis: aioredis.Redis) -> bytes:
    chunks: list[bytes] = []
    async for key in redis.scan_iter(count=1000):
        chunks.append(key)
        kind = (await redis.type(key)).decode()
        if kind == "string":
            chunks.append(await redis.get(key) or b"")
        elif kind == "zset":
            chunks.extend(await redis.zrange(key, 0, -1))
        elif kind == "hash":
            for field, value in (await redis.hgetall(key)).items():
                chunks += [field, value]
        elif kind == "list":
            chunks.extend(await redis.lrange(key, 0, -1))
        elif kind == "set":
            chunks.extend(await redis.smembers(key))
    return b"\n".join(chunks)


def _files_bytes(data_dir: Path) -> bytes:
    return b"".join(
        path.read_bytes()
        for path in data_dir.rglob("*")
        if path.is_file() and "keys" not in path.parts
    )


async def test_marker_address_and_receipt_appear_nowhere_at_rest_or_in_logs(
    app: HotlineApp,
    client: httpx.AsyncClient,
    redis: aioredis.Redis,
    settings: Settings,
    capture_logs: list[str],
) -> None:
    receipts = []
    for n in range(5):
        receipt = await submit_and_read_receipt(client, f"{MARKER} number {n}", where=MARKER)
        receipts.append(receipt)
        added = await client.post(
            "/followup/add", data={"receipt": receipt, "text": f"more {MARKER}"}
        )
        assert added.status_code == 200
    await client.post("/followup", data={"receipt": "0000 0000 0000 0001"})

    deadline = asyncio.get_running_loop().time() + 10
    while await redis.zcard("arq:queue") < 5:
        assert asyncio.get_running_loop().time() < deadline, "the relay enqueued the tips"
        await asyncio.sleep(0.05)

    at_rest = _files_bytes(settings.data_dir)
    in_redis = await _redis_dump(redis)
    in_logs = "\n".join(capture_logs).encode()
    assert in_logs, "the service logged something to scan"
    address = CLIENT_ADDRESS[0].encode()
    for where, blob in (("database files", at_rest), ("redis", in_redis), ("logs", in_logs)):
        for needle in (MARKER.encode(), MARKER.encode("utf-16-le"), address):
            assert needle not in blob, f"found a secret in {where}"
        for receipt in receipts:
            assert receipt.encode() not in blob, f"found a receipt in {where}"
            assert receipt.replace(" ", "").encode() not in blob, f"found a receipt in {where}"


async def test_redis_jobs_carry_tip_ids_only(
    app: HotlineApp, client: httpx.AsyncClient, redis: aioredis.Redis
) -> None:
    import pickle

    await submit_and_read_receipt(client, MARKER)
    deadline = asyncio.get_running_loop().time() + 10
    while not await redis.zcard("arq:queue"):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    job_ids = await redis.zrange("arq:queue", 0, -1)
    payload = pickle.loads(await redis.get(b"arq:job:" + job_ids[0]))  # noqa: S301 - our own job
    assert payload["f"] == "dispatch_tip"
    assert len(payload["a"]) == 1
    assert len(payload["a"][0]) == 36  # a UUID, nothing else
    assert payload["k"] == {}
