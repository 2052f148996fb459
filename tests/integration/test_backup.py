"""Backups while the service writes, restores into an empty directory, and refusals."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from hotline import audit, db, keys
from hotline.casefile import UNREADABLE, load_case
from hotline.settings import Settings
from hotline.tables import tips
from tests.conftest import CHEAP, make_settings
from tests.helpers import submit
from web.app import HotlineApp, create_app

PASSPHRASE = "test passphrase"
POSTGRES_ADMIN = os.environ.get(
    "HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def hotline_env(data_dir: Path, database_url: str = "", **env: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HOTLINE_")}
    environment.update({f"HOTLINE_{k.upper()}": str(v) for k, v in CHEAP.items()})
    environment.update(HOTLINE_DATA_DIR=str(data_dir), HOTLINE_KEY_PASSPHRASE=PASSPHRASE)
    if database_url:
        environment["HOTLINE_DATABASE_URL"] = database_url
    environment.update(env)
    return environment


def hotline(
    data_dir: Path, *args: str, database_url: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hotline.cli", *args],
        env=hotline_env(data_dir, database_url, **env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def marker(index: int) -> str:
    return f"Backup-marker-{index:04d} they hold passports at the orchard"


async def submit_many(client: httpx.AsyncClient, start: int, count: int) -> list[int]:
    """Submit reports ``start`` … ``start + count - 1``; the indexes acknowledged (303)."""
    done = []
    for index in range(start, start + count):
        if (await submit(client, marker(index))).status_code == 303:
            done.append(index)
    return done


async def submit_while_backing_up(
    client: httpx.AsyncClient, data_dir: Path, dest: Path, database_url: str = ""
) -> tuple[list[int], list[int], list[int], subprocess.CompletedProcess[bytes]]:
    """Reports before, during and after a ``hotline backup`` run in another process."""
    before = await submit_many(client, 0, 12)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hotline.cli",
        "backup",
        str(dest),
        env=hotline_env(data_dir, database_url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    during: list[int] = []
    index = 1000
    waiting = asyncio.ensure_future(process.communicate())
    while not waiting.done():
        during += await submit_many(client, index, 1)
        index += 1
    out, err = await waiting
    after = await submit_many(client, 5000, 3)
    assert process.returncode is not None
    return before, during, after, subprocess.CompletedProcess([], process.returncode, out, err)


async def audit_some(engine: Any, settings: Settings, count: int = 3) -> None:
    hasher = keys.load_hash_key(settings.keys_dir)
    async with engine.connect() as conn:
        ids = list((await conn.execute(sa.select(tips.c.id).limit(count))).scalars())
    for tip_id in ids:
        await audit.record(
            engine, hasher, actor=audit.Actor(7, "dispatcher"), action="view_tip", tip_id=tip_id
        )


async def open_every_tip(settings: Settings) -> dict[str, str]:
    """marker → text, for every tip of the database, opened with the restored keys."""
    engine = db.create_engine(settings)
    opener = keys.load_opener(settings.keys_dir, PASSPHRASE)
    found: dict[str, str] = {}
    try:
        async with engine.connect() as conn:
            ids = list((await conn.execute(sa.select(tips.c.id))).scalars())
        for tip_id in ids:
            case = await load_case(engine, opener, tip_id)
            assert case.text != UNREADABLE
            found[case.text.split(" ", 1)[0]] = case.text
    finally:
        await engine.dispose()
    return found


def files_under(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.is_file()]


def check_backup_dir(dest: Path, *, backend: str, with_keys: bool = True) -> dict[str, Any]:
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    for path in files_under(dest):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    manifest = json.loads((dest / "manifest.json").read_text())
    assert manifest["backend"] == backend
    assert manifest["schema_revision"]
    assert manifest["created_at"]
    assert manifest["keys_included"] is with_keys
    listed = set(manifest["files"])
    assert listed == {p.relative_to(dest).as_posix() for p in files_under(dest)} - {"manifest.json"}
    if with_keys:
        assert manifest["private_key_encrypted"] is True
        (key_file,) = [p for p in (dest / "keys").glob("case-*.key")]
        assert '"kdf": "scrypt"' in key_file.read_text()  # still under its passphrase
    # Nothing left behind under a temporary name.
    assert [p.name for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}")] == []
    return manifest


def assert_no_plaintext(dest: Path, indexes: list[int]) -> None:
    stored = b"".join(path.read_bytes() for path in files_under(dest))
    for index in indexes:
        assert marker(index).encode() not in stored
        assert f"Backup-marker-{index:04d}".encode() not in stored
    assert b"orchard" not in stored


async def restore_and_check(
    backup: Path,
    target: Path,
    before: list[int],
    during: list[int],
    after: list[int],
    *,
    database_url: str = "",
) -> dict[str, str]:
    restored = hotline(target, "restore", str(backup), database_url=database_url)
    assert restored.returncode == 0, restored.stderr
    assert "hotline db upgrade" in restored.stdout
    upgraded = hotline(target, "db", "upgrade", database_url=database_url)
    assert upgraded.returncode == 0, upgraded.stderr
    verified = hotline(target, "audit", "verify", database_url=database_url)
    assert verified.returncode == 0, verified.stderr
    assert "audit log intact: 3 entries" in verified.stdout
    overrides: dict[str, Any] = {"key_passphrase": PASSPHRASE}
    if database_url:
        overrides["database_url"] = database_url
    texts = await open_every_tip(make_settings(target, **overrides))
    got = set(texts)
    assert {f"Backup-marker-{i:04d}" for i in before} <= got  # committed before: all there
    assert not {f"Backup-marker-{i:04d}" for i in after} & got  # a snapshot, not later
    assert got <= {f"Backup-marker-{i:04d}" for i in before + during}
    for name, text in texts.items():
        assert text.startswith(f"{name} they hold passports")
    return texts


@pytest.mark.sqlite_only("the SQLite online backup; PostgreSQL has its own test below")
async def test_a_backup_taken_while_reports_arrive_restores_a_service_that_opens_every_tip(
    app: HotlineApp, settings: Settings, tmp_path: Path
) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await submit_many(client, 9000, 3)  # then audit reads of these three
        await audit_some(app.state.engine, settings)
        backup = tmp_path / "backups" / "nightly"
        backup.parent.mkdir()
        before, during, after, result = await submit_while_backing_up(
            client, settings.data_dir, backup
        )
    before = [9000, 9001, 9002, *before]
    assert result.returncode == 0, result.stderr.decode()
    assert during, "reports were taken while the backup ran"
    assert b"encrypted under its passphrase" in result.stdout
    manifest = check_backup_dir(backup, backend="sqlite")
    assert set(manifest["files"]) == {
        "hotline.db",
        "keys/case.pub",
        "keys/hash.key",
        "keys/linkage.key",
        *(f"keys/{p.name}" for p in (backup / "keys").glob("case-*.key")),
    }
    assert_no_plaintext(backup, before + during + after)

    target = tmp_path / "restored"  # does not exist yet: made, 0700
    texts = await restore_and_check(backup, target, before, during, after)
    assert len(texts) >= len(before) + 1
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "hotline.db").stat().st_mode) == 0o600


@pytest.mark.sqlite_only("tampers with the SQLite snapshot file")
def test_a_tampered_backup_is_refused_and_the_target_stays_empty(
    settings: Settings, tmp_path: Path
) -> None:
    backup = tmp_path / "b"
    made = hotline(settings.data_dir, "backup", str(backup))
    assert made.returncode == 0, made.stderr

    altered = tmp_path / "altered"
    shutil.copytree(backup, altered)
    database = altered / "hotline.db"
    data = bytearray(database.read_bytes())
    data[len(data) // 2] ^= 0x01
    database.write_bytes(bytes(data))
    target = tmp_path / "target"
    refused = hotline(target, "restore", str(altered))
    assert refused.returncode == 1
    assert "does not match the manifest" in refused.stderr
    assert not target.exists()

    planted = tmp_path / "planted"
    shutil.copytree(backup, planted)
    (planted / "keys" / "extra.key").write_text("not ours\n")
    refused = hotline(target, "restore", str(planted))
    assert refused.returncode == 1
    assert "not in the manifest" in refused.stderr

    forged = tmp_path / "forged"
    shutil.copytree(backup, forged)
    manifest = json.loads((forged / "manifest.json").read_text())
    manifest["files"]["../outside"] = {"sha256": "0" * 64, "size": 1}
    (forged / "manifest.json").write_text(json.dumps(manifest))
    refused = hotline(target, "restore", str(forged))
    assert refused.returncode == 1
    assert "unexpected file" in refused.stderr
    assert not target.exists()

    assert hotline(target, "restore", str(backup)).returncode == 0  # the original is fine


def test_restore_into_a_directory_that_is_not_empty_is_refused(
    settings: Settings, tmp_path: Path
) -> None:
    (settings.keys_dir / "old").mkdir()  # not a key file: left out, and said so
    backup = tmp_path / "b"
    made = hotline(settings.data_dir, "backup", str(backup), database_url=settings.database_url)
    assert made.returncode == 0, made.stderr
    assert "not backed up from the keys directory: old" in made.stdout
    assert not (backup / "keys" / "old").exists()
    target = tmp_path / "busy"
    target.mkdir()
    (target / "notes.txt").write_text("someone's file\n")
    refused = hotline(target, "restore", str(backup), database_url=settings.database_url)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]
    # Nor over the live data directory itself.
    refused = hotline(settings.data_dir, "restore", str(backup), database_url=settings.database_url)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr


def test_a_backup_is_never_written_over_an_existing_path_and_can_leave_the_keys_out(
    settings: Settings, tmp_path: Path
) -> None:
    existing = tmp_path / "there"
    existing.mkdir()
    refused = hotline(
        settings.data_dir, "backup", str(existing), database_url=settings.database_url
    )
    assert refused.returncode == 1
    assert "already exists" in refused.stderr

    keyless = tmp_path / "keyless"
    made = hotline(
        settings.data_dir,
        "backup",
        str(keyless),
        "--without-keys",
        database_url=settings.database_url,
    )
    assert made.returncode == 0, made.stderr
    assert "NOT in this backup" in made.stdout
    backend = "sqlite" if settings.is_sqlite else "postgresql"
    manifest = check_backup_dir(keyless, backend=backend, with_keys=False)
    assert not any(name.startswith("keys/") for name in manifest["files"])
    assert not (keyless / "keys").exists()


# -- PostgreSQL ----------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
def two_pg_databases() -> Iterator[tuple[str, str]]:
    names = [f"hotline_backup_{secrets.token_hex(4)}" for _ in range(2)]
    for name in names:
        asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    yield f"{base}/{names[0]}", f"{base}/{names[1]}"
    for name in names:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.mark.skipif(
    shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
    reason="pg_dump and pg_restore are not installed",
)
async def test_a_postgresql_backup_taken_while_reports_arrive_restores_every_tip(
    data_dir: Path,
    two_pg_databases: tuple[str, str],
    redis: aioredis.Redis,
    tmp_path: Path,
) -> None:
    live_url, empty_url = two_pg_databases
    settings = make_settings(data_dir, database_url=live_url, key_passphrase=PASSPHRASE)
    await asyncio.to_thread(db.upgrade, settings)
    app = create_app(settings, role="all")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await submit_many(client, 9000, 3)
            await audit_some(app.state.engine, settings)
            backup = tmp_path / "pg-backup"
            before, during, after, result = await submit_while_backing_up(
                client, data_dir, backup, live_url
            )
    before = [9000, 9001, 9002, *before]
    assert result.returncode == 0, result.stderr.decode()
    assert during, "reports were taken while the backup ran"
    manifest = check_backup_dir(backup, backend="postgresql")
    assert "database.dump" in manifest["files"]
    assert_no_plaintext(backup, before + during + after)

    refused = hotline(tmp_path / "t1", "restore", str(backup), database_url=live_url)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr  # the live database is not an empty one
    await restore_and_check(
        backup, tmp_path / "restored", before, during, after, database_url=empty_url
    )
