"""The audit trail is append-only and hash-chained: any edit is found, and named."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import audit, db, keys
from hotline.settings import Settings
from hotline.tables import audit_log

ALICE = audit.Actor(1, "alice")


@pytest.fixture
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    eng = db.create_engine(settings)
    yield eng
    await eng.dispose()


@pytest.fixture
def hasher(settings: Settings) -> keys.KeyedHash:
    return keys.load_hash_key(settings.keys_dir)


async def _append(engine: AsyncEngine, hasher: keys.KeyedHash, count: int) -> list[uuid.UUID]:
    tip_ids = [uuid.uuid4() for _ in range(count)]
    for tip_id in tip_ids:
        await audit.record(engine, hasher, actor=ALICE, action="view_tip", tip_id=tip_id)
    return tip_ids


async def test_an_untouched_chain_verifies(engine: AsyncEngine, hasher: keys.KeyedHash) -> None:
    await _append(engine, hasher, 5)
    check = await audit.verify(engine, hasher)
    assert check.intact
    assert check.entries == 5


async def test_editing_an_entry_names_it_as_the_first_broken(
    engine: AsyncEngine, hasher: keys.KeyedHash
) -> None:
    tip_ids = await _append(engine, hasher, 6)
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(audit_log).where(audit_log.c.id == 3).values(tip_id=tip_ids[0])
        )
    check = await audit.verify(engine, hasher)
    assert check.first_broken_id == 3
    assert check.entries == 2


async def test_deleting_an_entry_breaks_the_chain_at_the_next(
    engine: AsyncEngine, hasher: keys.KeyedHash
) -> None:
    await _append(engine, hasher, 6)
    async with engine.begin() as conn:
        await conn.execute(sa.delete(audit_log).where(audit_log.c.id == 4))
    assert (await audit.verify(engine, hasher)).first_broken_id == 5


async def test_a_chain_rewritten_without_the_key_does_not_verify(
    engine: AsyncEngine, hasher: keys.KeyedHash
) -> None:
    await _append(engine, hasher, 3)
    forger = keys.KeyedHash(b"\x01" * 32)
    async with engine.begin() as conn:
        await conn.execute(sa.delete(audit_log))
    await _append(engine, forger, 3)
    assert (await audit.verify(engine, hasher)).first_broken_id == 1


async def test_concurrent_appends_never_fork_the_chain(
    engine: AsyncEngine, hasher: keys.KeyedHash
) -> None:
    await asyncio.gather(*(_append(engine, hasher, 5) for _ in range(4)))
    check = await audit.verify(engine, hasher)
    assert check.intact
    assert check.entries == 20


async def test_an_unknown_action_is_refused(engine: AsyncEngine, hasher: keys.KeyedHash) -> None:
    with pytest.raises(ValueError, match="unknown audit action"):
        await audit.record(engine, hasher, actor=ALICE, action="peek")


def _verify_on_the_command_line(settings: Settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", "audit", "verify"],
        env={**os.environ, "HOTLINE_DATA_DIR": str(settings.data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_audit_verify_on_the_command_line_fails_naming_the_edited_entry(
    engine: AsyncEngine, hasher: keys.KeyedHash, settings: Settings
) -> None:
    await _append(engine, hasher, 4)
    intact = await asyncio.to_thread(_verify_on_the_command_line, settings)
    assert intact.returncode == 0, intact.stderr
    assert "intact: 4 entries" in intact.stdout

    async with engine.begin() as conn:
        await conn.execute(sa.update(audit_log).where(audit_log.c.id == 2).values(action="sign_in"))
    broken = await asyncio.to_thread(_verify_on_the_command_line, settings)
    assert broken.returncode == 1
    assert "BROKEN at entry 2" in broken.stderr
