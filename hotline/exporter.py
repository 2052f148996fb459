"""The internal metrics listener: ``GET /metrics`` in Prometheus' text format, nothing else.

Each process (a web role, the worker, or ``hotline run``) serves it on its own address when
``HOTLINE_METRICS_BIND`` is set (``127.0.0.1:9464``; empty, the default, is off). It is a
separate listener so it never shares a port with the public site or the dashboard, which
both answer 404 for ``/metrics``: bind it to loopback or a private network only.

At each scrape the gauges are read from the database, cheaply and at most every few
seconds: open tips per urgency (one grouped count over the open-queue index) and
readiness (the database answers; someone is on call in the primary layer).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anyio
import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import db, logs, metrics, rota
from hotline.errors import SettingsError
from hotline.settings import Settings
from hotline.tables import tips
from hotline.verdict import URGENCIES

log = logs.get_logger(__name__)

REFRESH_SECONDS = 5.0
READ_TIMEOUT_SECONDS = 2.0
Send = Any
Receive = Any


class MetricsApp:
    """An ASGI app that answers ``GET /metrics`` and 404 for everything else."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        *,
        registry: CollectorRegistry = REGISTRY,
        refresh_seconds: float = REFRESH_SECONDS,
    ) -> None:
        self._engine = engine
        self._registry = registry
        self._refresh_seconds = refresh_seconds
        self._refreshed = -float("inf")
        self._lock = asyncio.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] != "/metrics":
            await _answer(send, 404, b"not found\n", b"text/plain; charset=utf-8")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"method not allowed\n", b"text/plain; charset=utf-8")
            return
        await self.refresh()
        body = generate_latest(self._registry)
        await _answer(send, 200, body, CONTENT_TYPE_LATEST.encode("ascii"))

    async def refresh(self) -> None:
        """Read the gauges from the database, unless they were read a moment ago."""
        if self._engine is None:
            return
        async with self._lock:  # a scrape during a slow read waits for it, then shares it
            if time.monotonic() - self._refreshed >= self._refresh_seconds:
                await self._read_gauges(self._engine)
                self._refreshed = time.monotonic()

    async def _read_gauges(self, engine: AsyncEngine) -> None:
        database = on_call = False
        with anyio.move_on_after(READ_TIMEOUT_SECONDS):
            try:
                counts = await open_tips_by_urgency(engine)
                database = True
                holders = await rota.on_call_now(engine, datetime.now(UTC))
                on_call = holders.get("primary") is not None
            except (SQLAlchemyError, OSError) as exc:
                log.warning("metrics_read_failed", status=type(exc).__name__)
            else:
                for urgency in URGENCIES:
                    metrics.OPEN_TIPS.labels(urgency=urgency).set(counts.get(urgency, 0))
        metrics.READY.labels(check="database").set(int(database))
        metrics.READY.labels(check="on_call").set(int(on_call))


async def open_tips_by_urgency(engine: AsyncEngine) -> dict[str, int]:
    """Open tips per urgency in force: one grouped count over the open-queue index."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(tips.c.priority, sa.func.count())
            .where(tips.c.status != "closed")
            .group_by(tips.c.priority)
        )
        return {
            URGENCIES[priority]: int(count)
            for priority, count in rows
            if 0 <= priority < len(URGENCIES)
        }


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def parse_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6) as a (host, port) pair."""
    host, sep, port = bind.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError("HOTLINE_METRICS_BIND: expected host:port, such as 127.0.0.1:9464")
    return host, int(port)


def _listen(bind: str) -> socket.socket:
    host, port = parse_bind(bind)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(64)
    except OSError:
        sock.close()
        raise SettingsError(f"HOTLINE_METRICS_BIND: cannot listen on {bind}") from None
    sock.setblocking(False)
    return sock


class MetricsListener:
    """uvicorn serving a :class:`MetricsApp` beside the process's own work.

    It never installs signal handlers: the process's main server (or the arq worker) owns
    SIGTERM and SIGINT, and stops this listener when it stops.
    """

    def __init__(self, bind: str, app: MetricsApp) -> None:
        import uvicorn

        class QuietServer(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Any:
                yield

        self._socket = _listen(bind)
        self.address: tuple[str, int] = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            app,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            log_config=None,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
        self._server = QuietServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._server.serve(sockets=[self._socket]))
        deadline = time.monotonic() + 10
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise SettingsError("HOTLINE_METRICS_BIND: the metrics listener did not start")
            if time.monotonic() > deadline:
                raise SettingsError("HOTLINE_METRICS_BIND: the metrics listener did not start")
            await asyncio.sleep(0.01)
        log.info("metrics_listening", status="on")

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
        self._socket.close()


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[MetricsListener | None]:
    """The metrics listener for as long as the block runs, when ``metrics_bind`` is set."""
    if not settings.metrics_bind:
        yield None
        return
    engine = db.create_engine(settings)
    try:
        listener = MetricsListener(settings.metrics_bind, MetricsApp(engine))
        await listener.start()
        try:
            yield listener
        finally:
            await listener.stop()
    finally:
        await engine.dispose()
