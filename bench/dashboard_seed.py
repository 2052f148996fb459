"""Seed a bench database with many tips, fast: a realistic mix, mostly closed.

SQLite: one transaction of ``executemany`` with ``synchronous=OFF``, the secondary indexes
dropped while seeding and built again after. PostgreSQL: ``COPY`` through asyncpg, the
same trick with the indexes, then ``VACUUM ANALYZE`` (the visibility map lets the open
queue's counts be index-only scans).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sqlite3
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hotline.verdict import PRIORITY, URGENCIES

URGENCY_WEIGHTS = (3, 17, 40, 40)
OPEN_SHARE = 0.03
OPEN_STATUSES = ("new", "new", "new", "in_progress", "in_progress", "referred", "escalated")
CATEGORIES = ("sex_trafficking", "labor_trafficking", "domestic_servitude", None)
CLOSE_REASONS = ("resolved", "duplicate", "not_trafficking", "not_enough_information")
BODY_BYTES = 600
ENTITY_SHARE = 0.10
USERS = 5
COLUMNS = (
    "id",
    "reference",
    "channel",
    "lang",
    "created_at",
    "updated_at",
    "status",
    "assessed",
    "urgency",
    "score",
    "category",
    "minors",
    "indicator_ids",
    "rules_version",
    "body_sealed",
    "dispatched_at",
    "priority",
    "urgency_override",
    "claimed_by",
    "claimed_at",
    "first_claimed_at",
    "closed_at",
    "close_reason",
)


@dataclass
class Seeded:
    tips: int
    open: int
    entities: int
    seconds: float


def generate(count: int, user_ids: list[int], *, seed: int = 5) -> Iterator[tuple[Any, ...]]:
    """Tip rows in COLUMNS order, oldest first over two years, ~3 % of them open."""
    from triage.engine import shipped_engine

    indicators = sorted(shipped_engine().rules.by_id)[:20]
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=730)
    step = (now - start) / count
    blob = os.urandom(BODY_BYTES * 64)
    for index in range(count):
        created = start + step * index
        urgency = rng.choices(URGENCIES, URGENCY_WEIGHTS)[0]
        is_open = rng.random() < OPEN_SHARE
        override = None
        if is_open and rng.random() < 0.02:
            override = rng.choice(URGENCIES)
        status = rng.choice(OPEN_STATUSES) if is_open else "closed"
        claimed = rng.choice(user_ids) if status != "new" else None
        offset = rng.randrange(0, len(blob) - BODY_BYTES)
        yield (
            uuid.UUID(int=rng.getrandbits(128), version=4),
            f"B{index:09d}",
            "web" if rng.random() < 0.7 else "sms",
            "en" if rng.random() < 0.7 else "es",
            created,
            created,
            status,
            True,
            urgency,
            round(rng.random() * 10, 2),
            rng.choice(CATEGORIES),
            rng.random() < 0.05,
            json.dumps(sorted(rng.sample(indicators, rng.randrange(0, 4)))),
            "bench",
            blob[offset : offset + BODY_BYTES],  # random bytes: the queue never opens them
            created,
            PRIORITY[override or urgency],
            override,
            claimed,
            created + timedelta(minutes=3) if claimed else None,
            created + timedelta(minutes=3) if claimed else None,
            None if is_open else created + timedelta(days=2),
            None if is_open else rng.choice(CLOSE_REASONS),
        )


def entities(tip_ids: list[uuid.UUID], *, seed: int = 7) -> list[tuple[uuid.UUID, str, bytes]]:
    """Entity digests for ~10 % of tips, drawn from a pool so that some tips share them."""
    rng = random.Random(seed)
    pool = [rng.randbytes(32) for _ in range(max(1, len(tip_ids) // 40))]
    rows = []
    for tip_id in tip_ids:
        if rng.random() < ENTITY_SHARE:
            for kind in rng.sample(("phone", "plate", "email"), rng.randrange(1, 3)):
                rows.append((tip_id, kind, rng.choice(pool)))
    return rows


# --- SQLite -----------------------------------------------------------------------------


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex  # SQLAlchemy's Uuid on SQLite: CHAR(32)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's DATETIME on SQLite
    return value


def seed_sqlite(path: Path, count: int) -> Seeded:
    started = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=OFF")  # straight into the file; WAL again after
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")
    conn.execute("PRAGMA foreign_keys=OFF")
    user_ids = _sqlite_users(conn)
    indexes = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND tbl_name IN "
        "('tips', 'tip_entities') AND sql IS NOT NULL"
    ).fetchall()
    conn.execute("BEGIN")
    for name, _sql in indexes:
        conn.execute(f'DROP INDEX "{name}"')
    placeholders = ", ".join("?" for _ in COLUMNS)
    tip_ids: list[uuid.UUID] = []
    opened = 0

    def rows() -> Iterator[tuple[Any, ...]]:
        nonlocal opened
        for row in generate(count, user_ids):
            tip_ids.append(row[0])
            opened += row[6] != "closed"
            yield tuple(_sqlite_value(value) for value in row)

    insert = f"INSERT INTO tips ({', '.join(COLUMNS)}) VALUES ({placeholders})"  # noqa: S608 - our names
    conn.executemany(insert, rows())
    linked = entities(tip_ids)
    conn.executemany(
        "INSERT OR IGNORE INTO tip_entities (tip_id, kind, digest) VALUES (?, ?, ?)",
        [(tip_id.hex, kind, digest) for tip_id, kind, digest in linked],
    )
    for _name, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    return Seeded(count, opened, len(linked), time.perf_counter() - started)


def _sqlite_users(conn: sqlite3.Connection) -> list[int]:
    now = _sqlite_value(datetime.now(UTC))
    ids = []
    for number in range(USERS):
        cursor = conn.execute(
            "INSERT INTO users (username, password_hash, role, disabled, failed_logins,"
            " created_at) VALUES (?, 'x', 'dispatcher', 0, 0, ?)",
            (f"bench-holder-{number}", now),
        )
        ids.append(int(cursor.lastrowid or 0))
    return ids


# --- PostgreSQL -------------------------------------------------------------------------


async def seed_postgresql(url: str, count: int) -> Seeded:
    import asyncpg

    started = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        user_ids = [
            await conn.fetchval(
                "INSERT INTO users (username, password_hash, role, disabled, failed_logins,"
                " created_at) VALUES ($1, 'x', 'dispatcher', false, 0, $2) RETURNING id",
                f"bench-holder-{number}",
                now,
            )
            for number in range(USERS)
        ]
        indexes = await conn.fetch(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN "
            "('tips', 'tip_entities') AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conname = i.indexname)"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        tip_ids: list[uuid.UUID] = []
        opened = 0

        def records() -> Iterator[tuple[Any, ...]]:
            nonlocal opened
            for row in generate(count, user_ids):
                tip_ids.append(row[0])
                opened += row[6] != "closed"
                yield row

        await conn.copy_records_to_table("tips", records=records(), columns=list(COLUMNS))
        linked = entities(tip_ids)
        await conn.copy_records_to_table(
            "tip_entities",
            records=list({(t, k, d): None for t, k, d in linked}),
            columns=["tip_id", "kind", "digest"],
        )
        for index in indexes:
            await conn.execute(index["indexdef"])
        await conn.execute("VACUUM ANALYZE tips")
        await conn.execute("VACUUM ANALYZE tip_entities")
    finally:
        await conn.close()
    return Seeded(count, opened, len(linked), time.perf_counter() - started)


def seed_postgresql_sync(url: str, count: int) -> Seeded:
    return asyncio.run(seed_postgresql(url, count))
