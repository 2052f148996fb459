"""Group commit: one writer task commits many submissions per transaction.

Every submission waits until the transaction that holds it is durably committed, so an
acknowledged tip survives a crash; many waiting submissions share one fsync. A batch that
fails is retried one submission at a time, so one bad row never sinks its neighbours.

On SQLite the whole transaction runs in one dedicated thread on a synchronous engine:
one hand-off from the event loop per batch instead of one per statement (aiosqlite's
thread hop, ~190 µs, was most of a naive submit). PostgreSQL uses the async engine.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import db, logs
from hotline.errors import ConflictError, StorageUnavailableError

log = logs.get_logger(__name__)


@dataclass
class Write:
    """Rows to insert together, in table order (parents first), for one submission."""

    rows: Sequence[tuple[sa.Table, dict[str, Any]]]
    tip_ids: Sequence[UUID] = ()
    done: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommitter:
    """The single writer of intake rows in this process."""

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        batch_max: int,
        on_commit: Callable[[Sequence[UUID]], None] = lambda _ids: None,
    ) -> None:
        self._engine = engine
        self._batch_max = batch_max
        self._on_commit = on_commit
        self._queue: asyncio.Queue[Write] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._sync_engine: sa.Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        if engine.dialect.name == "sqlite":
            self._sync_engine = db.create_sync_sqlite_engine(engine.url)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="hotline-commit")

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="hotline-group-commit")

    async def stop(self) -> None:
        """Finish what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._thread is not None:
            self._thread.shutdown(wait=True)
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="hotline-commit")
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def write(self, write: Write) -> None:
        """Queue ``write`` and return once it is durably committed (or raise)."""
        if self._task is None or self._task.done():
            raise StorageUnavailableError("the intake writer is not running")
        self._queue.put_nowait(write)
        # A reporter who disconnects cancels the wait, not the write: the writer skips
        # futures that are already done.
        await write.done

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._commit_batch(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _commit_batch(self, batch: list[Write]) -> None:
        try:
            await self._transaction(batch)
        except (IntegrityError, OperationalError) as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            for write in batch:  # isolate the one that failed
                try:
                    await self._transaction([write])
                except (IntegrityError, OperationalError) as single_exc:
                    _fail(write, single_exc)
                else:
                    self._succeed([write])
            return
        except Exception as exc:  # noqa: BLE001 - any other failure must reach every waiter
            log.error("intake_commit_failed", status=type(exc).__name__)
            for write in batch:
                if not write.done.done():
                    write.done.set_exception(
                        StorageUnavailableError("the database could not take the write")
                    )
            return
        self._succeed(batch)

    async def _transaction(self, batch: list[Write]) -> None:
        by_table = _rows_by_table(batch)
        if self._sync_engine is not None and self._thread is not None:
            engine = self._sync_engine

            def commit() -> None:
                with engine.begin() as conn:
                    for table, rows in by_table.items():
                        conn.execute(table.insert(), rows)

            await asyncio.get_running_loop().run_in_executor(self._thread, commit)
            return
        async with self._engine.begin() as conn:
            for table, rows in by_table.items():
                await conn.execute(table.insert(), rows)

    def _succeed(self, batch: list[Write]) -> None:
        ids: list[UUID] = []
        for write in batch:
            ids.extend(write.tip_ids)
            if not write.done.done():
                write.done.set_result(None)
        if ids:
            self._on_commit(ids)


def _rows_by_table(batch: list[Write]) -> dict[sa.Table, list[dict[str, Any]]]:
    by_table: dict[sa.Table, list[dict[str, Any]]] = {}
    for write in batch:
        for table, row in write.rows:
            by_table.setdefault(table, []).append(row)
    return by_table  # dicts keep first-seen order: parents first


def _fail(write: Write, exc: Exception) -> None:
    if write.done.done():
        return
    if isinstance(exc, IntegrityError):
        write.done.set_exception(ConflictError("a generated identifier collided"))
    else:
        log.error("intake_commit_failed", status=type(exc).__name__)
        write.done.set_exception(StorageUnavailableError("the database could not take the write"))
