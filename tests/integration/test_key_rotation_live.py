"""Running processes follow a key rotation without a restart: the public role seals new
tips to the new key within a second, and the dashboard and worker open them."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline import keys
from hotline.errors import SealError
from hotline.seal import DATA_KEY_SECONDS, Sealer
from hotline.settings import Settings
from hotline.tables import tip_entities, tips
from tests.integration.test_key_rotation import (
    NEW_REPORT,
    OLD_REPORT,
    PASSPHRASE,
    file_tip,
    key_of_tip,
    read_in_dashboard,
    rotate,
    running,
)


async def test_a_running_site_seals_to_the_rotated_key_and_opens_both_without_a_restart(
    settings: Settings, redis: aioredis.Redis, make_worker: Any
) -> None:
    old_key = keys.current_key_id(settings.keys_dir)
    async with running(settings) as app:
        old_tip = await file_tip(app, OLD_REPORT)
        new_key = rotate(settings)
        await asyncio.sleep(DATA_KEY_SECONDS + 0.1)  # the data key in use runs out
        new_tip = await file_tip(app, NEW_REPORT)
        assert await key_of_tip(app, old_tip) == old_key
        assert await key_of_tip(app, new_tip) == new_key
        # The same dashboard, started before the rotation, opens both.
        assert "mail boss@example.com" in await read_in_dashboard(app, old_tip)
        assert "write to x41@example.net" in await read_in_dashboard(app, new_tip)
    # A worker whose keys were read before the rotation also opens the new tip.
    async with running(settings) as app:
        worker = make_worker()
        worker.ctx["opener"] = keys.load_opener(settings.keys_dir, PASSPHRASE)
        rotated_again = rotate(settings)
        await asyncio.sleep(DATA_KEY_SECONDS + 0.1)
        newest = await file_tip(app, "Third tip: they hold passports, write to q7@example.org")
        assert await key_of_tip(app, newest) == rotated_again
        await worker.main()
        async with app.state.engine.connect() as conn:
            linked = set(
                (
                    await conn.execute(
                        sa.select(tip_entities.c.tip_id).where(tip_entities.c.kind == "email")
                    )
                ).scalars()
            )
            dispatched = (
                await conn.execute(sa.select(tips.c.dispatched_at).where(tips.c.id == newest))
            ).scalar_one()
    assert dispatched is not None
    assert newest in linked  # entities come from the opened text


def test_a_half_written_public_key_file_leaves_the_sealer_on_the_key_it_holds(
    settings: Settings,
) -> None:
    sealer = keys.load_sealer(settings.keys_dir)
    held = sealer.key_id
    (settings.keys_dir / keys.PUBLIC_FILE).write_text("hotline-case-public-key 00")
    sealer.forget()
    envelope = sealer.seal(b"still sealed", tip_id=_tip(), field="body")
    assert sealer.key_id == held
    assert (
        keys.load_opener(settings.keys_dir, PASSPHRASE).open(envelope, tip_id=_tip(), field="body")
        == b"still sealed"
    )


def test_an_unknown_key_id_does_not_read_the_key_files_again_until_they_change(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    opener = keys.load_opener(settings.keys_dir, PASSPHRASE)
    stranger = Sealer(keys.X25519PrivateKey.generate().public_key())
    envelope = stranger.seal(b"x", tip_id=_tip(), field="body")
    reads: list[Path] = []
    real = keys._read_private

    def counting(path: Path, passphrase: str | None) -> Any:
        reads.append(path)
        return real(path, passphrase)

    monkeypatch.setattr(keys, "_read_private", counting)
    for _ in range(3):
        with pytest.raises(SealError):
            opener.open(envelope, tip_id=_tip(), field="body")
    assert reads == []  # no scrypt bought by a key id that is not on disk
    rotate(settings)
    reads.clear()  # the rotation itself checks the passphrase against the old key
    with pytest.raises(SealError):
        opener.open(envelope, tip_id=_tip(), field="body")
    assert len(reads) == 2  # the files changed: read once, both keys
    with pytest.raises(SealError):
        opener.open(envelope, tip_id=_tip(), field="body")
    assert len(reads) == 2  # and not again


def _tip() -> uuid.UUID:
    return uuid.UUID(int=7)
