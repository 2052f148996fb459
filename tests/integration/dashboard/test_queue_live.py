"""The live queue: a real server streams ``queue`` events when tips arrive (SSE)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from hotline import db, keys
from hotline.accounts import add_user
from hotline.sessions import SessionStore
from hotline.tables import tips, users
from tests.conftest import free_port, make_settings
from tests.dashboard_helpers import PASSWORD
from tests.server import ServerProcess
from web.app import HotlineApp
from web.dashboard.core import SESSION_COOKIE, sign_token
from web.dashboard.queue import Broadcaster

DEADLINE = 15.0
GRACEFUL_SHUTDOWN = 10  # hotline.cli's uvicorn timeout_graceful_shutdown


@pytest.fixture
def server(data_dir: Path) -> Iterator[ServerProcess]:
    process = ServerProcess(data_dir, free_port())
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


async def open_session(data_dir: Path) -> str:
    """A dispatcher with 2FA done and a full session, as the server's database holds it;
    the ``Cookie`` header that presents it."""
    settings = make_settings(data_dir, key_passphrase="test passphrase")
    engine = db.create_engine(settings)
    try:
        user_id = await add_user(engine, "live-dispatcher", PASSWORD, "dispatcher")
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(users)
                .where(users.c.id == user_id)
                .values(totp_confirmed_at=datetime.now(UTC))
            )
        store = SessionStore(engine, idle=timedelta(hours=1), max_age=timedelta(hours=8))
        token = await store.create(user_id, "full")
    finally:
        await engine.dispose()
    return f"{SESSION_COOKIE}={sign_token(keys.load_hash_key(settings.keys_dir), token)}"


async def add_tip_row(app: HotlineApp) -> None:
    board = app.state.dashboard
    tip_id, now = uuid.uuid4(), datetime.now(UTC)
    async with board.engine.begin() as conn:
        await conn.execute(
            sa.insert(tips).values(
                id=tip_id,
                reference=f"L-{tip_id.hex[:10]}",
                channel="web",
                lang="en",
                created_at=now,
                updated_at=now,
                dispatched_at=now,
                body_sealed=board.sealer.seal(b"words", tip_id=tip_id, field="body"),
            )
        )


async def next_event(lines: AsyncIterator[str]) -> tuple[str, str]:
    """The next ``event:`` and its ``data:`` (comments and ``retry:`` skipped)."""
    event, data = "", ""
    async for line in lines:
        if line.startswith("event: "):
            event = line.removeprefix("event: ")
        elif line.startswith("data: "):
            data = line.removeprefix("data: ")
        elif line == "" and event:
            return event, data
    raise AssertionError("the stream ended")


async def test_a_tip_filed_on_the_public_form_reaches_an_open_event_stream(
    data_dir: Path, server: ServerProcess
) -> None:
    cookie = await open_session(data_dir)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=DEADLINE) as http,
        http.stream("GET", "/dashboard/events", headers={"Cookie": cookie}) as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-store"
        lines = stream.aiter_lines()
        async with asyncio.timeout(DEADLINE):
            event, before = await next_event(lines)  # the queue as it is now
        assert event == "queue"

        filed = await http.post("/report", data={"what": "Two girls are kept in a van."})
        assert filed.status_code == 303
        async with asyncio.timeout(DEADLINE):
            event, after = await next_event(lines)

    assert event == "queue"
    assert after != before


async def test_the_event_stream_needs_a_full_session(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=DEADLINE) as http:
        answer = await http.get("/dashboard/events")
        forged = await http.get(
            "/dashboard/events", headers={"Cookie": f"{SESSION_COOKIE}=made-up.signature"}
        )

    for refused in (answer, forged):
        assert refused.status_code == 303
        assert refused.headers["location"] == "/dashboard/login"
        assert "event-stream" not in refused.headers.get("content-type", "")


async def test_a_server_with_an_open_stream_still_stops(
    data_dir: Path, server: ServerProcess
) -> None:
    cookie = await open_session(data_dir)
    async with (
        httpx.AsyncClient(base_url=server.base_url, timeout=DEADLINE) as http,
        http.stream("GET", "/dashboard/events", headers={"Cookie": cookie}) as stream,
    ):
        lines = stream.aiter_lines()
        async with asyncio.timeout(DEADLINE):
            await next_event(lines)
        server.process.terminate()
        # The stream ends (at the latest when uvicorn's graceful shutdown gives up) ...
        # (cleanly when the server ends its streams first; cut off when it cancels them).
        async with asyncio.timeout(GRACEFUL_SHUTDOWN + 5):
            with contextlib.suppress(httpx.RemoteProtocolError):
                async for _line in lines:
                    pass
        # ... and the process exits: nothing the stream started keeps it alive.
        async with asyncio.timeout(DEADLINE):
            await asyncio.to_thread(server.process.wait)

    assert server.process.returncode in (0, -signal.SIGTERM), server.output()
    assert "Task was destroyed" not in server.output()


async def test_the_broadcaster_polls_only_while_someone_listens_and_sees_each_change(
    app: HotlineApp,
) -> None:
    board = app.state.dashboard
    broadcaster = Broadcaster(board.engine, interval=0.05)
    assert not broadcaster.running

    async with broadcaster.listening():
        assert broadcaster.running
        before = await broadcaster.wait_change("", within=DEADLINE)
        assert before
        await add_tip_row(app)
        after = await broadcaster.wait_change(before, within=DEADLINE)
        assert after != before

    async with asyncio.timeout(DEADLINE):
        await broadcaster.wait_stopped()
    assert not broadcaster.running


async def test_ending_the_streams_wakes_every_listener_at_once(app: HotlineApp) -> None:
    board = app.state.dashboard
    broadcaster = Broadcaster(board.engine, interval=0.05)
    async with broadcaster.listening():
        stamp = await broadcaster.wait_change("", within=DEADLINE)
        waiting = asyncio.create_task(broadcaster.wait_change(stamp, within=600))
        await broadcaster.close()
        async with asyncio.timeout(DEADLINE):
            assert await waiting == stamp
        assert broadcaster.closed
    assert not broadcaster.running
