"""Retention: closed tips past their period are purged whole, audited, and leave no sealed
byte in the SQLite files (a forensic scan of hotline.db, -wal and -shm)."""

from __future__ import annotations

import io
import random
import sqlite3
import subprocess
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from arq.connections import create_pool
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import audit, casework, db, keys, retention
from hotline.accounts import add_user
from hotline.queue import redis_settings
from hotline.settings import Settings
from hotline.tables import (
    audit_log,
    metadata,
    receipt_handoffs,
    referral_services,
    sms_media,
    sms_messages,
    sms_threads,
    tip_messages,
    tip_notes,
    tip_overrides,
    tips,
)
from tests.helpers import run_cli, submit_and_read_receipt
from tests.paging_helpers import CHEAP_PASSWORDS
from tests.sms_helpers import inbound_params, new_sid, post_signed, text
from tests.twilio_standin import Media, TwilioStandIn
from web.app import HotlineApp

WINDOW = 32


class Clock:
    """The jobs' clock, moved ahead by a fixed offset."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def windows(blob: bytes) -> list[bytes]:
    """Every 32-byte stretch of an envelope past its header, end to end.

    The header (version, key id, the wrapped data key) is left out: one data key serves a
    few envelopes sealed within a second (hotline.seal), so a kept tip sealed at the same
    moment may carry the same header. The nonce and ciphertext are the envelope's own.
    """
    header = 1 + 8 + 2 + int.from_bytes(blob[9:11], "big")
    body = blob[header:]
    assert len(body) >= WINDOW
    found = [body[i : i + WINDOW] for i in range(0, len(body) - WINDOW + 1, WINDOW)]
    found.append(body[-WINDOW:])
    return found


async def sealed_blobs(engine: AsyncEngine, tip_ids: Iterable[uuid.UUID]) -> dict[str, bytes]:
    """Every sealed value that belongs to the tips: body, follow-ups, replies (both
    sealings), notes, override reasons, SMS texts and sids, pictures, the sender's number."""
    ids = list(tip_ids)
    found: dict[str, bytes] = {}
    threads = sa.select(sms_messages.c.thread_id).where(sms_messages.c.tip_id.in_(ids))
    queries = {
        "body": sa.select(tips.c.id, tips.c.body_sealed).where(tips.c.id.in_(ids)),
        "message": sa.select(tip_messages.c.id, tip_messages.c.body_sealed).where(
            tip_messages.c.tip_id.in_(ids)
        ),
        "reply-to-reporter": sa.select(tip_messages.c.id, tip_messages.c.reporter_sealed).where(
            tip_messages.c.tip_id.in_(ids)
        ),
        "note": sa.select(tip_notes.c.id, tip_notes.c.body_sealed).where(
            tip_notes.c.tip_id.in_(ids)
        ),
        "override": sa.select(tip_overrides.c.id, tip_overrides.c.reason_sealed).where(
            tip_overrides.c.tip_id.in_(ids)
        ),
        "sms": sa.select(sms_messages.c.id, sms_messages.c.body_sealed).where(
            sms_messages.c.tip_id.in_(ids)
        ),
        "sid": sa.select(sms_messages.c.id, sms_messages.c.sid_sealed).where(
            sms_messages.c.tip_id.in_(ids)
        ),
        "media": sa.select(sms_media.c.id, sms_media.c.body_sealed).where(
            sms_media.c.tip_id.in_(ids)
        ),
        "phone": sa.select(sms_threads.c.id, sms_threads.c.sender_sealed).where(
            sms_threads.c.id.in_(threads)
        ),
        "receipt": sa.select(
            receipt_handoffs.c.token_hash, receipt_handoffs.c.receipt_sealed
        ).where(receipt_handoffs.c.tip_id.in_(ids)),
    }
    async with engine.connect() as conn:
        for kind, query in queries.items():
            for key, blob in (await conn.execute(query)).all():
                if blob:
                    found[f"{kind}:{key}"] = bytes(blob)
    return found


def database_files(data_dir: Path) -> bytes:
    return b"".join(
        path.read_bytes()
        for path in (data_dir / name for name in ("hotline.db", "hotline.db-wal", "hotline.db-shm"))
        if path.exists()
    )


def blobs_found(blobs: dict[str, bytes], haystack: bytes) -> set[str]:
    """The blobs of which any 32-byte window occurs in the files."""
    return {name for name, blob in blobs.items() if any(w in haystack for w in windows(blob))}


def blobs_whole(blobs: dict[str, bytes], haystack: bytes) -> set[str]:
    """The blobs every window of which occurs in the files."""
    return {name for name, blob in blobs.items() if all(w in haystack for w in windows(blob))}


async def rows_naming(engine: AsyncEngine, tip_id: uuid.UUID) -> dict[str, int]:
    """Rows in every table with a column that points at a tip (audit log aside)."""
    counts: dict[str, int] = {}
    async with engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name == "audit_log":
                continue
            for column in table.columns:
                if column.name in {"tip_id", "merged_into"} or (
                    table.name == "tips" and column.name == "id"
                ):
                    found = (
                        await conn.execute(
                            sa.select(sa.func.count()).select_from(table).where(column == tip_id)
                        )
                    ).scalar_one()
                    if found:
                        counts[f"{table.name}.{column.name}"] = int(found)
    return counts


def png() -> bytes:
    out = io.BytesIO()
    Image.effect_noise((48, 40), 90).convert("RGB").save(out, format="PNG")
    return out.getvalue()


async def web_tip(client: httpx.AsyncClient, engine: AsyncEngine, what: str) -> uuid.UUID:
    """A web tip whose reporter came back and added to it (so it has a reporter key)."""
    async with engine.connect() as conn:
        before = set((await conn.execute(sa.select(tips.c.id))).scalars())
    receipt = await submit_and_read_receipt(client, what)
    assert (await client.post("/followup", data={"receipt": receipt})).status_code == 200
    added = await client.post(
        "/followup/add", data={"receipt": receipt, "text": f"{what}: and they moved at night"}
    )
    assert added.status_code == 200
    async with engine.connect() as conn:
        after = set((await conn.execute(sa.select(tips.c.id))).scalars())
    (tip_id,) = after - before
    return tip_id


async def sms_tip(
    client: httpx.AsyncClient, engine: AsyncEngine, twilio: TwilioStandIn
) -> uuid.UUID:
    """An SMS tip of two texts, one of them with a picture."""
    await text(client, "Workers are kept in the basement of the laundry on 5th", sid=new_sid())
    sid = new_sid("MM")
    twilio.media[sid] = [Media("ME" + "7" * 32, "image/png", png())]
    answer = await post_signed(client, inbound_params("photo of the van", sid=sid, num_media=1))
    assert answer.status_code == 200
    async with engine.connect() as conn:
        return uuid.UUID(
            str((await conn.execute(sa.select(sms_messages.c.tip_id).limit(1))).scalar_one())
        )


async def work_the_tip(
    app: HotlineApp, settings: Settings, tip_id: uuid.UUID, actor: casework.Actor, *, close: bool
) -> None:
    """A dispatcher's note, override (with a reason), reply; then closing it."""
    engine = app.state.engine
    sealer = keys.load_sealer(settings.keys_dir)
    await casework.claim(engine, tip_id, actor)
    await casework.add_note(engine, sealer, tip_id, actor, text=f"note on {tip_id}: called NGO")
    await casework.override_urgency(
        engine, sealer, tip_id, actor, to="high", reason=f"reason for {tip_id}: minors mentioned"
    )
    await casework.reply(
        engine, app.state.committer, sealer, tip_id, actor, text="Thank you, we are on it."
    )
    if close:
        await casework.change_status(engine, tip_id, actor, to="closed", close_reason="resolved")


async def run_jobs(settings: Settings, make_worker: Any, *names: str, clock: Clock) -> None:
    pool = await create_pool(redis_settings(settings.redis_url))
    try:
        for name in names:
            await pool.enqueue_job(name)
    finally:
        await pool.aclose()
    await make_worker(settings, ctx={"clock": clock}).main()


@pytest.mark.sqlite_only("a forensic scan of the SQLite file, its WAL and shared memory")
async def test_the_purge_job_removes_every_row_and_every_sealed_byte_of_purged_tips(
    sms_app: HotlineApp,
    sms_client: httpx.AsyncClient,
    sms_settings: Settings,
    twilio_api: TwilioStandIn,
    redis: aioredis.Redis,
    make_worker: Any,
) -> None:
    engine: AsyncEngine = sms_app.state.engine
    user_id = await add_user(
        engine, "supervisor-r", "a long password 1", "supervisor", hasher=CHEAP_PASSWORDS
    )
    actor = casework.Actor(user_id, supervisor=True)
    texted = await sms_tip(sms_client, engine, twilio_api)
    purged_web = await web_tip(sms_client, engine, "Girls are held above the nail salon")
    kept = await web_tip(sms_client, engine, "A man collects their wages at the farm gate")
    await make_worker(sms_settings).main()  # dispatch, fetch the picture, clean up at Twilio
    for tip_id in (texted, purged_web, kept):
        await work_the_tip(sms_app, sms_settings, tip_id, actor, close=tip_id != kept)
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(sms_media))).scalar() == 1
        assert (await conn.execute(sa.select(sms_threads.c.sender_sealed))).scalar() is not None

    doomed = await sealed_blobs(engine, [texted, purged_web])
    spared = await sealed_blobs(engine, [kept])
    kinds = {name.split(":")[0] for name in doomed}
    assert {
        "body",
        "message",
        "reply-to-reporter",
        "note",
        "override",
        "sms",
        "media",
        "phone",
    } <= kinds
    before = database_files(sms_settings.data_dir)
    assert blobs_found(doomed, before) == set(doomed)  # the scan does see sealed bytes

    # A year and a day later, as the worker's clock has it.
    await run_jobs(sms_settings, make_worker, "purge_closed_tips", clock=Clock(timedelta(days=366)))

    for tip_id in (texted, purged_web):
        assert await rows_naming(engine, tip_id) == {}
    async with engine.connect() as conn:
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(sms_threads))
        ).scalar() == 0
        entries = (
            await conn.execute(
                sa.select(audit_log.c.tip_id, audit_log.c.username, audit_log.c.detail).where(
                    audit_log.c.action == "purge_tip"
                )
            )
        ).all()
    assert {row.tip_id for row in entries} == {texted, purged_web}
    assert {row.username for row in entries} == {"system"}
    assert all(set(row.detail) == {"reference"} for row in entries)
    assert (await audit.verify(engine, keys.load_hash_key(sms_settings.keys_dir))).intact
    assert await rows_naming(engine, kept) != {}

    after = database_files(sms_settings.data_dir)
    assert blobs_found(doomed, after) == set()
    assert blobs_whole(spared, after) == set(spared)  # the kept tip is all there
    with sqlite3.connect(sms_settings.data_dir / "hotline.db") as check:
        assert check.execute("PRAGMA freelist_count").fetchone() == (0,)
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    wal = sms_settings.data_dir / "hotline.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0


async def test_a_tip_closed_within_the_period_or_reopened_is_kept_and_retention_0_keeps_all(
    app: HotlineApp, settings: Settings, redis: aioredis.Redis, make_worker: Any
) -> None:
    engine: AsyncEngine = app.state.engine
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        recent = await web_tip(client, engine, "They sleep in the van behind the depot")
        old = await web_tip(client, engine, "The boss keeps their papers in a safe")
        child = await web_tip(client, engine, "Same depot, same van, more people")
    user_id = await add_user(
        engine, "sup", "a long password 1", "supervisor", hasher=CHEAP_PASSWORDS
    )
    actor = casework.Actor(user_id, supervisor=True)
    old_reference = await casework.reference_of(engine, old)
    assert old_reference is not None
    await casework.merge(engine, child, actor, into_reference=old_reference)
    for tip_id in (recent, old):
        await casework.change_status(engine, tip_id, actor, to="closed", close_reason="resolved")
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        for tip_id, days in ((old, 30), (child, 5), (recent, 1)):
            await conn.execute(
                sa.update(tips)
                .where(tips.c.id == tip_id)
                .values(closed_at=now - timedelta(days=days))
            )

    off = settings.model_copy(update={"retention_days": 0})
    await run_jobs(off, make_worker, "purge_closed_tips", clock=Clock(timedelta(days=3650)))
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(tips))).scalar() == 3

    month = settings.model_copy(update={"retention_days": 20})
    await run_jobs(month, make_worker, "purge_closed_tips", clock=Clock(timedelta(0)))
    async with engine.connect() as conn:
        left = {row.id: row for row in (await conn.execute(sa.select(tips))).all()}
    # The old tip went; its merged child, closed since, stays and no longer points at it.
    assert set(left) == {recent, child}
    assert left[child].merged_into is None
    assert await rows_naming(engine, old) == {}


async def test_purge_dry_run_lists_and_deletes_nothing_then_purge_deletes_and_audits(
    app: HotlineApp, settings: Settings, redis: aioredis.Redis
) -> None:
    engine: AsyncEngine = app.state.engine
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        closed = await web_tip(client, engine, "A minor serves drinks at the club after midnight")
        still_open = await web_tip(client, engine, "Men sleep in shifts in a garage")
    user_id = await add_user(
        engine, "sup", "a long password 1", "supervisor", hasher=CHEAP_PASSWORDS
    )
    await casework.change_status(
        engine, closed, casework.Actor(user_id, True), to="closed", close_reason="resolved"
    )
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(tips)
            .where(tips.c.id == closed)
            .values(closed_at=datetime.now(UTC) - timedelta(days=8))
        )
        reference = (
            await conn.execute(sa.select(tips.c.reference).where(tips.c.id == closed))
        ).scalar()

    dry = hotline(settings, "purge", "--dry-run", HOTLINE_RETENTION_DAYS="7")
    assert dry.returncode == 0, dry.stderr
    assert reference in dry.stdout
    assert "1 closed tips would be purged" in dry.stdout
    async with engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(tips))).scalar() == 2

    done = hotline(settings, "purge", HOTLINE_RETENTION_DAYS="7")
    assert done.returncode == 0, done.stderr
    assert "1 closed tips purged" in done.stdout
    async with engine.connect() as conn:
        assert set((await conn.execute(sa.select(tips.c.id))).scalars()) == {still_open}
        purges = (
            (
                await conn.execute(
                    sa.select(audit_log.c.tip_id).where(audit_log.c.action == "purge_tip")
                )
            )
            .scalars()
            .all()
        )
    assert purges == [closed]
    verify = hotline(settings, "audit", "verify")
    assert verify.returncode == 0, verify.stderr


def hotline(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, data_dir=settings.data_dir, **env)


@pytest.mark.sqlite_only("how SQLite leaves copies of moved rows in its pages")
async def test_the_scrub_leaves_no_copy_of_deleted_rows_that_sqlite_moved_between_pages(
    settings: Settings,
) -> None:
    """secure_delete zeroes a deleted cell, not the copies a b-tree rebalance left in the
    unused middle of live pages (rows inserted out of key order, rows that grew): only the
    VACUUM in the scrub removes those."""
    rng = random.Random(7)
    path = settings.data_dir / "churn.db"
    engine = db.create_engine(settings, url=f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(
                "CREATE TABLE churn (id INTEGER PRIMARY KEY, tip INTEGER, body BLOB, extra BLOB)"
            )
            for index in range(3000):
                await conn.exec_driver_sql(
                    "INSERT INTO churn (id, tip, body) VALUES (?, ?, ?)",
                    (rng.randrange(1, 10**12), index % 50, rng.randbytes(rng.randint(100, 400))),
                )
                if index % 3 == 0:  # a row grows: it moves, and may split its page
                    await conn.exec_driver_sql(
                        "UPDATE churn SET extra = ? WHERE id = (SELECT id FROM churn "
                        "ORDER BY id LIMIT 1 OFFSET ?)",
                        (rng.randbytes(rng.randint(50, 300)), rng.randrange(index + 1)),
                    )
        async with engine.begin() as conn:
            rows = (await conn.exec_driver_sql("SELECT tip, body, extra FROM churn")).all()
            await conn.exec_driver_sql("DELETE FROM churn WHERE tip < 10")
        doomed = [value for row in rows if row[0] < 10 for value in row[1:] if value]
        spared = [value for row in rows if row[0] >= 10 for value in row[1:] if value]
        scrub = await retention.scrub_sqlite(engine)
    finally:
        await engine.dispose()
    data = path.read_bytes()

    def seen(value: bytes) -> bool:
        return any(value[i : i + WINDOW] in data for i in range(0, len(value) - WINDOW + 1, WINDOW))

    assert scrub.checkpointed
    assert sum(map(seen, doomed)) == 0
    assert all(map(seen, spared))


def test_the_worker_runs_the_purge_once_a_day_at_a_quiet_hour(settings: Settings) -> None:
    from hotline.worker import worker_settings

    options = worker_settings(settings, redis_settings(settings.redis_url))
    (job,) = [c for c in options["cron_jobs"] if c.name == "cron:purge_closed_tips"]
    assert (job.hour, job.minute, job.second, job.unique) == (3, 17, 0, True)
    # Also enqueued by name, as the tests above do.
    assert "purge_closed_tips" in [f.__name__ for f in options["functions"]]


@pytest.mark.sqlite_only("VACUUM and the SQLite freelist")
async def test_a_scrub_an_earlier_run_left_pending_is_done_by_the_next_run_and_only_then(
    settings: Settings, redis: aioredis.Redis, make_worker: Any
) -> None:
    from hotline.worker import SCRUB_PENDING

    engine = db.create_engine(settings)

    async def churn_and_count_free_pages() -> int:
        async with engine.begin() as conn:
            for index in range(200):
                await conn.execute(
                    sa.insert(referral_services).values(
                        kind="shelter",
                        name=f"churn {index}",
                        description="x" * 900,
                        created_at=datetime.now(UTC),
                        updated_at=datetime.now(UTC),
                    )
                )
            await conn.execute(sa.delete(referral_services))
        async with engine.connect() as conn:
            return int((await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one())

    try:
        assert await churn_and_count_free_pages() > 0
        await redis.set(SCRUB_PENDING, b"1")  # the last run was cut short in its VACUUM
        await run_jobs(settings, make_worker, "purge_closed_tips", clock=Clock(timedelta(0)))
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one() == 0
        assert not await redis.exists(SCRUB_PENDING)

        free = await churn_and_count_free_pages()
        await run_jobs(settings, make_worker, "purge_closed_tips", clock=Clock(timedelta(0)))
        async with engine.connect() as conn:  # nothing purged, nothing pending: no VACUUM
            assert (await conn.exec_driver_sql("PRAGMA freelist_count")).scalar_one() == free
        assert not await redis.exists(SCRUB_PENDING)
    finally:
        await engine.dispose()


def test_every_table_that_points_at_a_tip_is_purged_with_it() -> None:
    """A new table with a foreign key to tips must be added to the purge, or this fails."""
    pointing = {
        fk.parent.table.name
        for table in metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table is tips
    }
    handled = {table.name for table in retention.TIP_CHILDREN} | retention.HANDLED_APART
    assert pointing == handled
    # The audit log names tips without a foreign key, on purpose: it outlives them.
    assert "tip_id" in audit_log.c
    assert not audit_log.c.tip_id.foreign_keys
