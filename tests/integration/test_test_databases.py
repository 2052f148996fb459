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


def test_databases_left_by_a_killed_run_are_dropped_and_a_live_runs_are_kept() -> None:
    from tests.conftest import _drop_databases_of_dead_runs, _postgres_admin, run_sync

    dead_pid = 2**22 + 1  # above the kernel's largest pid: no such process
    dead = f"hotline_t_{dead_pid}_abc123_7"
    live = f"hotline_t_{os.getpid()}_abc123_7"
    _postgres_admin(f"CREATE DATABASE {dead}", f"CREATE DATABASE {live}")
    try:
        _drop_databases_of_dead_runs()
        left = set(run_sync(_database_names))
        assert dead not in left
        assert live in left
    finally:
        _postgres_admin(
            f"DROP DATABASE IF EXISTS {dead} WITH (FORCE)",
            f"DROP DATABASE IF EXISTS {live} WITH (FORCE)",
        )


async def _database_names() -> list[str]:
    import asyncpg

    from tests.conftest import POSTGRES_ADMIN_DSN

    conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
    try:
        return [str(r["datname"]) for r in await conn.fetch("SELECT datname FROM pg_database")]
    finally:
        await conn.close()
