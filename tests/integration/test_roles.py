"""The public role seals with the public key alone: it never holds a case private key."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline import keys
from hotline.errors import SealError
from hotline.tables import tips
from tests.conftest import make_settings
from tests.helpers import submit_and_read_receipt
from web.app import create_app


async def test_the_public_role_takes_reports_with_no_private_key_on_disk(
    data_dir: Path, redis: aioredis.Redis
) -> None:
    private_files = list((data_dir / "keys").glob("case-*.key"))
    moved = data_dir.parent / "offline-keys"
    moved.mkdir()
    for path in private_files:
        path.rename(moved / path.name)
    settings = make_settings(data_dir)  # and no passphrase either
    app = create_app(settings, role="public")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            receipt = await submit_and_read_receipt(client, "Seen: a boy working at night")
            follow = await client.post("/followup", data={"receipt": receipt})
            assert follow.status_code == 200
        async with app.state.engine.connect() as conn:
            row = (await conn.execute(sa.select(tips.c.id, tips.c.body_sealed))).one()
    assert not list((data_dir / "keys").glob("case-*.key"))

    # Only the private key, held elsewhere, opens it, and only under its own tip id.
    for path in moved.iterdir():
        os.rename(path, data_dir / "keys" / path.name)
    opener = keys.load_opener(data_dir / "keys", "test passphrase")
    assert b"a boy working at night" in opener.open(row.body_sealed, tip_id=row.id, field="body")
    import uuid

    try:
        opener.open(row.body_sealed, tip_id=uuid.uuid4(), field="body")
    except SealError:
        pass
    else:
        raise AssertionError("a ciphertext opened under another tip id")


async def test_the_public_app_state_holds_no_private_key(
    data_dir: Path, redis: aioredis.Redis
) -> None:
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    app = create_app(make_settings(data_dir), role="public")
    seen: set[int] = set()

    def walk(value: object, depth: int = 0) -> None:
        if id(value) in seen or depth > 6:
            return
        seen.add(id(value))
        assert not isinstance(value, X25519PrivateKey)
        attributes = getattr(value, "__dict__", None)
        if isinstance(attributes, dict):
            for item in attributes.values():
                walk(item, depth + 1)
        if isinstance(value, dict):
            for item in value.values():
                walk(item, depth + 1)

    walk(app.state._state)
