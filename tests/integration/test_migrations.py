"""Every revision upgrades and downgrades with data, and head matches the metadata."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from hotline import db
from hotline.tables import metadata, tips
from tests.conftest import database_rows, make_settings, run_sync


def test_upgrade_downgrade_upgrade_keeps_working_with_data(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db.upgrade(settings)
    created = datetime(2026, 1, 1, tzinfo=UTC)
    database_rows(
        tmp_path,
        tips.insert().values(
            id=uuid.uuid4(),
            reference="AAAAA-BBBBB",
            channel="web",
            lang="en",
            created_at=created,
            updated_at=created,
            status="new",
            assessed=False,
            body_sealed=b"\x00",
        ),
    )
    db.downgrade(settings, "base")
    db.upgrade(settings)
    assert database_rows(tmp_path, "SELECT count(*) FROM tips") == [(0,)]


def test_the_head_revision_matches_the_tables(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db.upgrade(settings)

    async def compare() -> list[Any]:
        engine = db.create_engine(settings)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
        finally:
            await engine.dispose()

    assert run_sync(compare) == []


@pytest.mark.sqlite_only("reads the PRAGMAs of a SQLite connection")
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
