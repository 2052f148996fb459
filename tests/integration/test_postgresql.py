"""The same intake on PostgreSQL through asyncpg: migrations, a report, its dispatch."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import sqlalchemy as sa

from hotline import db, metrics
from hotline.commits import GroupCommitter
from hotline.intake import Intake, Report
from hotline.keys import load_hash_key, load_sealer
from hotline.settings import Settings
from hotline.tables import tip_events, tips
from tests.conftest import make_settings
from tests.helpers import submit, submit_and_read_receipt
from web.app import create_app

ADMIN_DSN = os.environ.get("HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def pg_database() -> Iterator[str]:
    name = f"hotline_test_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = ADMIN_DSN.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


@pytest.fixture
def pg_settings(data_dir: Path, pg_database: str) -> Settings:
    settings = make_settings(data_dir, database_url=pg_database, key_passphrase="test passphrase")
    db.upgrade(settings)
    return settings


@pytest.fixture
async def pg_app(pg_settings: Settings, redis: Any) -> AsyncIterator[Any]:
    app = create_app(pg_settings, role="all")
    async with app.router.lifespan_context(app):
        yield app


async def test_a_report_round_trips_and_is_dispatched_once_on_postgresql(
    pg_app: Any, pg_settings: Settings, make_worker: Any
) -> None:
    assert pg_app.state.engine.dialect.name == "postgresql"
    transport = httpx.ASGITransport(app=pg_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        receipt = await submit_and_read_receipt(client, "They keep our passports at the farm")
        follow = await client.post("/followup", data={"receipt": receipt})
        assert 'name="text"' in follow.text
        added = await client.post("/followup/add", data={"receipt": receipt, "text": "more"})
        assert added.status_code == 200
    deadline = asyncio.get_running_loop().time() + 10
    while pg_app.state.relay.enqueued < 1:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await make_worker(pg_settings).main()
    async with pg_app.state.engine.connect() as conn:
        row = (await conn.execute(sa.select(tips))).one()
        events = (
            await conn.execute(
                sa.select(sa.func.count())
                .select_from(tip_events)
                .where(tip_events.c.kind == "dispatched")
            )
        ).scalar_one()
    assert row.dispatched_at is not None
    assert events == 1


async def test_a_failed_assessment_keeps_the_tip_as_high_unassessed_and_counts_it(
    pg_app: Any, pg_settings: Settings
) -> None:
    def broken(_text: str, _lang: str | None) -> Any:
        raise RuntimeError("a bug in a rule")

    committer = GroupCommitter(pg_app.state.engine, batch_max=8, assess=broken)
    await committer.start()
    intake = Intake(
        sealer=load_sealer(pg_settings.keys_dir),
        hasher=load_hash_key(pg_settings.keys_dir),
        committer=committer,
    )
    before = metrics.TRIAGE_FAILURES._value.get()
    submission = await intake.submit_web(Report(what="something happened", minors="yes"), lang="en")
    await committer.stop()
    async with pg_app.state.engine.connect() as conn:
        row = (await conn.execute(sa.select(tips).where(tips.c.id == submission.tip_id))).one()
    assert (row.urgency, row.assessed, row.minors) == ("high", False, True)
    assert metrics.TRIAGE_FAILURES._value.get() == before + 1


async def test_one_batch_of_web_and_sms_tips_commits_every_tip_on_postgresql(
    pg_settings: Settings,
) -> None:
    """Rows that name different columns (a web tip has a receipt hash, an SMS tip has not)
    share a transaction without one losing a column or failing the other."""
    from datetime import UTC, datetime
    from uuid import uuid4

    from hotline.commits import Write

    engine = db.create_engine(pg_settings)
    committer = GroupCommitter(engine, batch_max=64)
    await committer.start()
    sealer = load_sealer(pg_settings.keys_dir)
    try:
        writes = []
        for index in range(8):
            tip_id = uuid4()
            now = datetime.now(UTC)
            row: dict[str, Any] = {
                "id": tip_id,
                "reference": f"MIXED{index:04d}",
                "channel": "web" if index % 2 else "sms",
                "lang": "en",
                "created_at": now,
                "updated_at": now,
                "body_sealed": sealer.seal(b"x", tip_id=tip_id, field="body"),
            }
            if index % 2:
                row["receipt_hash"] = secrets.token_bytes(32)
            writes.append(Write(rows=((tips, row),), tip_ids=(tip_id,)))
        await asyncio.gather(*(committer.write(write) for write in writes))
        async with engine.connect() as conn:
            stored = (
                await conn.execute(
                    sa.select(tips.c.channel, tips.c.receipt_hash.is_not(None)).where(
                        tips.c.reference.like("MIXED%")
                    )
                )
            ).all()
        assert sorted(stored) == sorted([("sms", False)] * 4 + [("web", True)] * 4)
        assert committer.batches < len(writes), "the writes were batched together"
    finally:
        await committer.stop()
        await engine.dispose()


async def test_a_report_while_the_tips_table_is_locked_is_told_not_saved_and_leaves_no_row(
    pg_settings: Settings, pg_database: str, redis: Any
) -> None:
    """A lock held elsewhere (a migration, an operator's session) fails the write after the
    lock timeout with a 503 page, instead of holding the reporter's request open for ever."""
    settings = make_settings(
        pg_settings.data_dir,
        database_url=pg_database,
        key_passphrase="test passphrase",
        postgres_lock_timeout_ms=300,
    )
    app = create_app(settings, role="public")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            assert (await submit(client, "Seen before the lock")).status_code == 303
            locker = await asyncpg.connect(pg_database)
            try:
                async with locker.transaction():
                    await locker.execute("LOCK TABLE tips IN ACCESS EXCLUSIVE MODE")
                    refused = await asyncio.wait_for(submit(client, "Seen during the lock"), 20)
            finally:
                await locker.close()
            assert refused.status_code == 503
            assert "NOT saved" in refused.text
            assert (await submit(client, "Seen after the lock")).status_code == 303
        async with app.state.engine.connect() as conn:
            stored = (await conn.execute(sa.select(sa.func.count()).select_from(tips))).scalar()
    assert stored == 2
