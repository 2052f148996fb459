"""Alembic environment: runs revisions on the async engine the service uses."""

from __future__ import annotations

import asyncio
from typing import Any

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from hotline.db import _on_sqlite_connect
from hotline.tables import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            # Foreign keys are off while migrating (see _migration_connect); prove that the
            # rebuilt tables still hold together before committing.
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left {len(broken)} rows with broken references")


def _migration_connect(dbapi_connection: Any, record: Any) -> None:
    """The service's pragmas, but foreign keys OFF: batch mode rebuilds a table by copying
    it and dropping the old one, and with foreign keys on that DROP cascades, deleting every
    child row (tip events, messages, notes, pages ...) of every tip. Set at connect time,
    outside any transaction, where SQLite honours it."""
    _on_sqlite_connect(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=OFF")
    cursor.close()


async def _run_async() -> None:
    url = config.get_main_option("sqlalchemy.url") or ""
    engine = create_async_engine(url, poolclass=sa.NullPool)
    if url.startswith("sqlite"):
        sa.event.listen(engine.sync_engine, "connect", _migration_connect)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    asyncio.run(_run_async())


run()
