"""Database engines: SQLite through aiosqlite (WAL, full sync) or PostgreSQL through asyncpg."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from hotline.settings import Settings

MIGRATIONS = Path(__file__).parent / "migrations"

# Each acknowledged tip must survive power loss: WAL with synchronous=FULL fsyncs the log
# on every commit. secure_delete overwrites deleted content; trusted_schema=OFF keeps a
# tampered schema from running functions.
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=FULL",
    "PRAGMA secure_delete=ON",
    "PRAGMA trusted_schema=OFF",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=10000",
)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in SQLITE_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def create_engine(settings: Settings, *, url: str | None = None) -> AsyncEngine:
    url = url or settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, pool_size=4, max_overflow=0)
        sa.event.listen(engine.sync_engine, "connect", _on_sqlite_connect)
        return engine
    # Without a lock timeout a statement waits on a lock for ever: a locked table would
    # hold every reporter's request open instead of answering "not saved".
    lock_timeout = {"lock_timeout": str(settings.postgres_lock_timeout_ms)}
    return create_async_engine(
        url,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=True,
        connect_args={"server_settings": lock_timeout},
    )


def create_sync_sqlite_engine(url: sa.URL, *, busy_timeout_ms: int | None = None) -> sa.Engine:
    """A synchronous engine on the same SQLite file (the writer process, quick reads).

    ``busy_timeout_ms`` shortens how long a call may wait on a lock: a read made on the
    event loop must give up quickly rather than stall every request behind it.
    """
    engine = sa.create_engine(url.set(drivername="sqlite"), pool_size=1, max_overflow=0)
    sa.event.listen(engine, "connect", _on_sqlite_connect)
    if busy_timeout_ms is not None:

        def _short_wait(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")

        sa.event.listen(engine, "connect", _short_wait)
    return engine


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(settings: Settings, revision: str = "head") -> None:
    """Apply migrations (synchronously; call it before the event loop starts serving)."""
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(settings.resolved_database_url), revision)


def downgrade(settings: Settings, revision: str) -> None:
    command.downgrade(alembic_config(settings.resolved_database_url), revision)
