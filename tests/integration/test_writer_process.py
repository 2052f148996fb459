"""SQLite commits run in a writer child; if it dies, no report is lost or half-saved."""

from __future__ import annotations

import os
import signal

import httpx
import pytest
import sqlalchemy as sa

from hotline.tables import tips
from tests.helpers import submit
from web.app import HotlineApp

pytestmark = pytest.mark.sqlite_only("the writer child process exists only for SQLite")


async def test_if_the_writer_dies_the_reporter_is_told_not_saved_and_the_next_report_goes_through(
    app: HotlineApp, client: httpx.AsyncClient
) -> None:
    assert (await submit(client, "first report")).status_code == 303
    writer = app.state.committer._writer
    assert writer is not None, "SQLite commits go through the writer process"
    process = writer._process
    assert process is not None
    os.kill(process.pid, signal.SIGKILL)
    await process.wait()

    answers = [await submit(client, f"report {n} after the writer died") for n in range(3)]
    codes = [answer.status_code for answer in answers]
    assert set(codes) <= {303, 503}
    assert codes[-1] == 303, "a new writer took over"
    for answer in answers:
        if answer.status_code == 503:
            assert "NOT saved" in answer.text
    async with app.state.engine.connect() as conn:
        stored = (await conn.execute(sa.select(sa.func.count()).select_from(tips))).scalar_one()
    assert stored == 1 + codes.count(303)
