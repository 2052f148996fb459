"""The suite's own database plumbing: one database per data directory, on either backend."""

from __future__ import annotations

import os
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import ON_POSTGRESQL, database_env, database_rows, make_settings


def test_a_data_directory_keeps_its_migrated_database_and_a_new_directory_gets_an_empty_one(
    data_dir: Path, tmp_path: Path
) -> None:
    first = make_settings(data_dir).resolved_database_url
    assert make_settings(data_dir, redis_url="").resolved_database_url == first
    assert database_rows(data_dir, sa.text("SELECT count(*) FROM tips")) == [(0,)]

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    other = make_settings(fresh).resolved_database_url
    assert other != first
    assert make_settings(fresh).resolved_database_url == other
    database_rows(fresh, "CREATE TABLE marker (n INTEGER)")  # empty: no tips table to clash
    assert database_rows(fresh, "SELECT count(*) FROM marker") == [(0,)]

    if ON_POSTGRESQL:
        assert first.startswith("postgresql+asyncpg://")
        # Subprocesses a test starts inherit the data directory's database.
        assert os.environ["HOTLINE_DATABASE_URL"] == make_settings(data_dir).database_url
        assert database_env(fresh) == {"HOTLINE_DATABASE_URL": make_settings(fresh).database_url}
    else:
        assert first.endswith(f"{data_dir.name}/hotline.db")
        assert database_env(fresh) == {}
