"""Every revision upgrades and downgrades with data, and head matches the metadata."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from hotline import db
from hotline.tables import metadata
from tests.conftest import make_settings


def test_upgrade_downgrade_upgrade_keeps_working_with_data(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db.upgrade(settings)
    path = tmp_path / "hotline.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO tips (id, reference, channel, lang, created_at, updated_at, status,"
            " assessed, body_sealed) VALUES (?, 'AAAAA-BBBBB', 'web', 'en', '2026-01-01',"
            " '2026-01-01', 'new', 0, x'00')",
            (uuid.uuid4().hex,),
        )
    db.downgrade(settings, "base")
    db.upgrade(settings)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM tips").fetchone()[0] == 0


def test_the_head_revision_matches_the_tables(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db.upgrade(settings)
    engine = create_engine(f"sqlite:///{tmp_path / 'hotline.db'}")
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_sqlite_runs_with_wal_full_sync_secure_delete_and_foreign_keys(tmp_path: Path) -> None:
    import asyncio

    settings = make_settings(tmp_path)
    db.upgrade(settings)

    async def pragmas() -> dict[str, object]:
        engine = db.create_engine(settings)
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            cursor = await raw.driver_connection.cursor()  # type: ignore[union-attr]
            values = {}
            for name in (
                "journal_mode",
                "synchronous",
                "secure_delete",
                "trusted_schema",
                "foreign_keys",
            ):
                await cursor.execute(f"PRAGMA {name}")
                values[name] = (await cursor.fetchone())[0]
        await engine.dispose()
        return values

    values = asyncio.run(pragmas())
    assert values == {
        "journal_mode": "wal",
        "synchronous": 2,
        "secure_delete": 1,
        "trusted_schema": 0,
        "foreign_keys": 1,
    }
