"""A small closed-loop HTTP/1.1 load generator, for when wrk is not installed.

Each connection sends a GET, reads the whole answer (Content-Length bodies), and sends
the next: latency is measured per request, from the first byte written to the last read.
Raw asyncio streams rather than an HTTP client library, so the client's own cost stays
small beside the server's on a 2-core box.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from urllib.parse import urlsplit


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def _connection(
    host: str, port: int, request: bytes, count: int, latencies: list[float], bad: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(count):
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                bad.append(status)
    finally:
        writer.close()
        await writer.wait_closed()


async def _load(url: str, cookie: str, connections: int, requests: int) -> dict[str, float]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nCookie: {cookie}\r\n"
        "Accept: text/html\r\n\r\n"
    ).encode("latin-1")
    latencies: list[float] = []
    bad: list[int] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _connection(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                request,
                requests // connections,
                latencies,
                bad,
            )
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies),
        "p99": _percentile(latencies, 0.99),
        "errors": float(len(bad)),
        "requests": float(len(latencies)),
    }


def run_load(url: str, cookie: str, connections: int, requests: int) -> dict[str, float]:
    """Requests/s, p50 and p99 in ms, and the count of answers that were not 200."""
    return asyncio.run(_load(url, cookie, connections, requests))
