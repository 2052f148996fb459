"""Case key rotation: new tips sealed to the new key, old ones still open, re-seal, retire."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline import casework, keys, rota, rotation
from hotline.audit import Actor
from hotline.errors import ConflictError
from hotline.seal import envelope_key_id
from hotline.settings import Settings
from hotline.tables import audit_log, oncall_contacts, tip_entities, tip_notes, tips
from tests.conftest import CLIENT_ADDRESS
from tests.dashboard_helpers import sign_in
from tests.helpers import run_cli, submit
from web.app import HotlineApp, create_app

PASSPHRASE = "test passphrase"
OLD_REPORT = "Old tip: workers locked in at 12 Elm Street, mail boss@example.com"
NEW_REPORT = "New tip: girls kept in the back room at 40 Oak Avenue, write to x41@example.net"


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[HotlineApp]:
    """The web app as a (re)started process builds it: keys are read at start-up."""
    app = create_app(settings, role="all")
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: HotlineApp, scheme: str = "http") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    return httpx.AsyncClient(transport=transport, base_url=f"{scheme}://testserver")


async def tip_ids(app: HotlineApp) -> set[uuid.UUID]:
    async with app.state.engine.connect() as conn:
        return {uuid.UUID(str(i)) for i in (await conn.execute(sa.select(tips.c.id))).scalars()}


async def file_tip(app: HotlineApp, what: str) -> uuid.UUID:
    """File a tip through the public form; return its id."""
    before = await tip_ids(app)
    async with client_of(app) as client:
        assert (await submit(client, what)).status_code == 303
    (tip_id,) = await tip_ids(app) - before
    return tip_id


async def key_of_tip(app: HotlineApp, tip_id: uuid.UUID) -> bytes | None:
    async with app.state.engine.connect() as conn:
        body = (
            await conn.execute(sa.select(tips.c.body_sealed).where(tips.c.id == tip_id))
        ).scalar_one()
    return envelope_key_id(bytes(body))


async def read_in_dashboard(app: HotlineApp, tip_id: uuid.UUID) -> str:
    """The tip view's page, for a signed-in dispatcher."""
    async with client_of(app, "https") as board:
        await sign_in(app, board)
        page = await board.get(f"/dashboard/tips/{tip_id}")
    assert page.status_code == 200, page.status_code
    return page.text


def rotate(settings: Settings) -> bytes:
    return keys.rotate_case_key(
        settings.keys_dir, passphrase=PASSPHRASE, scrypt_log2n=settings.key_file_scrypt_log2n
    )


async def test_after_rotation_old_and_new_tips_open_in_the_dashboard_tip_view(
    settings: Settings, redis: aioredis.Redis
) -> None:
    old_key = keys.current_key_id(settings.keys_dir)
    async with running(settings) as app:
        old_tip = await file_tip(app, OLD_REPORT)
    new_key = rotate(settings)
    assert new_key != old_key
    assert keys.current_key_id(settings.keys_dir) == new_key
    async with running(settings) as app:  # the restart the docs ask for
        new_tip = await file_tip(app, NEW_REPORT)
        assert await key_of_tip(app, old_tip) == old_key
        assert await key_of_tip(app, new_tip) == new_key
        assert "mail boss@example.com" in await read_in_dashboard(app, old_tip)
        assert "write to x41@example.net" in await read_in_dashboard(app, new_tip)


async def test_the_public_role_after_rotation_holds_only_the_new_public_key(
    settings: Settings,
) -> None:
    new_key = rotate(settings)
    sealer = keys.load_sealer(settings.keys_dir)
    assert sealer.key_id == new_key
    assert not hasattr(sealer, "private_keys")
    assert set(keys.case_key_ids(settings.keys_dir)) >= {new_key}
    assert len(keys.case_key_ids(settings.keys_dir)) == 2


async def test_after_rotation_the_worker_dispatches_and_reads_old_and_new_tips(
    settings: Settings, redis: aioredis.Redis, make_worker: Any
) -> None:
    async with running(settings) as app:
        old_tip = await file_tip(app, OLD_REPORT)
    rotate(settings)
    async with running(settings) as app:
        new_tip = await file_tip(app, NEW_REPORT)
        # The worker starts after the rotation, as the docs ask: it holds both private keys.
        worker = make_worker()
        await worker.main()
        async with app.state.engine.connect() as conn:
            dispatched = set(
                (
                    await conn.execute(
                        sa.select(tips.c.id).where(tips.c.dispatched_at.is_not(None))
                    )
                ).scalars()
            )
            # Entities are extracted from the opened text: rows for both tips prove it opened.
            linked = set(
                (
                    await conn.execute(
                        sa.select(tip_entities.c.tip_id).where(tip_entities.c.kind == "email")
                    )
                ).scalars()
            )
    assert {old_tip, new_tip} <= dispatched
    assert {old_tip, new_tip} <= linked


async def seed_every_kind_of_envelope(app: HotlineApp, settings: Settings) -> uuid.UUID:
    """A tip, a dispatcher's note on it and a pager number, all sealed to the current key."""
    tip_id = await file_tip(app, OLD_REPORT)
    board = app.state.dashboard
    async with client_of(app, "https") as client:
        who = await sign_in(app, client)
    await casework.add_note(
        board.engine, board.sealer, tip_id, Actor(who.user_id, who.username), text="call back"
    )
    await rota.set_contact(
        board.engine, board.sealer, board.hasher, who.user_id, "+1 202 555 0143", region="US"
    )
    return tip_id


async def test_reseal_leaves_no_envelope_naming_the_old_key_and_retire_then_succeeds(
    settings: Settings, redis: aioredis.Redis
) -> None:
    old_key = keys.current_key_id(settings.keys_dir)
    async with running(settings) as app:
        old_tip = await seed_every_kind_of_envelope(app, settings)
        before = await rotation.count_envelopes(app.state.engine)
    assert before[old_key] >= 3  # the tip, the note, the pager number
    new_key = rotate(settings)
    opener = keys.load_opener(settings.keys_dir, PASSPHRASE)
    async with running(settings) as app:
        engine = app.state.engine
        report = await rotation.reseal(engine, opener, keys.load_sealer(settings.keys_dir), batch=2)
        after = await rotation.count_envelopes(engine)
        assert report.total == before[old_key]
        assert old_key not in after
        assert after[new_key] == before[old_key]
        assert not report.unopenable
        # Resumable and idempotent: a second pass finds nothing left to do.
        again = await rotation.reseal(engine, opener, keys.load_sealer(settings.keys_dir))
        assert again.total == 0
        await rotation.retire(engine, settings.keys_dir, old_key)
    assert keys.case_key_ids(settings.keys_dir) == [new_key]
    # Only the new private key is left, and every envelope still opens with it.
    async with running(settings) as app:
        assert "mail boss@example.com" in await read_in_dashboard(app, old_tip)
        new_opener = app.state.dashboard.opener
        assert set(new_opener.private_keys) == {new_key}
        async with app.state.engine.connect() as conn:
            note = (await conn.execute(sa.select(tip_notes))).one()
            pager = (await conn.execute(sa.select(oncall_contacts))).one()
        assert new_opener.open(note.body_sealed, tip_id=old_tip, field=f"note:{note.id}") == (
            b"call back"
        )
        number = new_opener.open(
            pager.phone_sealed, tip_id=rota.contact_tip_id(pager.user_id), field=rota.PHONE_FIELD
        )
        assert number == b"+12025550143"


async def test_retire_refuses_while_any_envelope_names_the_key(
    settings: Settings, redis: aioredis.Redis
) -> None:
    old_key = keys.current_key_id(settings.keys_dir)
    async with running(settings) as app:
        await file_tip(app, OLD_REPORT)
        await file_tip(app, NEW_REPORT)
    new_key = rotate(settings)
    async with running(settings) as app:
        with pytest.raises(ConflictError, match=f"2 envelopes still name key {old_key.hex()}"):
            await rotation.retire(app.state.engine, settings.keys_dir, old_key)
        with pytest.raises(ConflictError, match="current case key"):
            await rotation.retire(app.state.engine, settings.keys_dir, new_key)
    assert set(keys.case_key_ids(settings.keys_dir)) == {old_key, new_key}


async def test_reseal_skips_a_row_changed_since_it_was_read(
    settings: Settings, redis: aioredis.Redis
) -> None:
    """Each row's update is guarded on its old bytes: a concurrent writer wins."""
    async with running(settings) as app:
        tip_id = await file_tip(app, OLD_REPORT)
    rotate(settings)
    opener = keys.load_opener(settings.keys_dir, PASSPHRASE)
    sealer = keys.load_sealer(settings.keys_dir)
    async with running(settings) as app:
        engine = app.state.engine
        async with engine.connect() as conn:
            row = (await conn.execute(sa.select(tips.c.id, tips.c.body_sealed))).one()
        async with engine.begin() as conn:  # someone re-writes the envelope meanwhile
            await conn.execute(
                sa.update(tips)
                .where(tips.c.id == tip_id)
                .values(body_sealed=sealer.seal(b"{}", tip_id=tip_id, field="body"))
            )
        report = rotation.ResealReport()
        await rotation._reseal_rows(
            engine, opener, sealer, rotation.CASE_KEY_COLUMNS[0], [row], report
        )
        assert report.total == 0
        assert await key_of_tip(app, tip_id) == sealer.key_id


def hotline(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, data_dir=settings.data_dir, HOTLINE_ENVIRONMENT="development")


async def test_the_keys_commands_rotate_list_refuse_reseal_and_retire_with_an_audit_trail(
    settings: Settings, redis: aioredis.Redis
) -> None:
    old_key = keys.current_key_id(settings.keys_dir).hex()
    async with running(settings) as app:
        await file_tip(app, OLD_REPORT)
    rotated = hotline(settings, "keys", "rotate")
    assert rotated.returncode == 0, rotated.stderr
    new_key = keys.current_key_id(settings.keys_dir).hex()
    assert new_key in rotated.stdout
    assert "take it up" in rotated.stdout
    listed = hotline(settings, "keys", "list")
    assert f"{old_key}\told\t1 envelopes\tprivate key here" in listed.stdout
    assert f"{new_key}\tcurrent\t0 envelopes" in listed.stdout
    refused = hotline(settings, "keys", "retire", old_key)
    assert refused.returncode == 1
    assert "1 envelopes still name key" in refused.stderr
    resealed = hotline(settings, "keys", "reseal")
    assert resealed.returncode == 0, resealed.stderr
    assert "tips.body_sealed\t1 re-sealed" in resealed.stdout
    retired = hotline(settings, "keys", "retire", old_key)
    assert retired.returncode == 0, retired.stderr
    assert not (settings.keys_dir / f"case-{old_key}.key").exists()
    async with running(settings) as app, app.state.engine.connect() as conn:
        entries = (
            await conn.execute(
                sa.select(audit_log.c.detail).where(audit_log.c.action == "key_change")
            )
        ).scalars()
        changes = [entry["key"] for entry in entries]
    assert changes == ["rotate", "reseal", "retire"]
