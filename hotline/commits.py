"""Group commit: one writer task commits many submissions per transaction.

Every submission waits until the transaction that holds it is durably committed, so an
acknowledged tip survives a crash; many waiting submissions share one fsync. A batch that
fails is retried one submission at a time, so one bad row never sinks its neighbours.

On SQLite the transaction runs in a writer child process (:mod:`hotline.writer`), so
the database work uses the second core instead of competing for the web process's GIL.
PostgreSQL uses the async engine: its server's processes are that second core already.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import logs
from hotline.errors import ConflictError, StorageUnavailableError
from hotline.writer import WriteConflictError, WriterProcess, WriteUnavailableError

log = logs.get_logger(__name__)

_FAILURES = (IntegrityError, OperationalError, WriteConflictError, WriteUnavailableError)


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
        self.batches = 0  # transactions committed, and writes in them: their ratio is
        self.writes = 0  # the mean batch size
        self._writer = WriterProcess(engine.url) if engine.dialect.name == "sqlite" else None

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
        if self._writer is not None:
            await self._writer.close()

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
            # Let the requests that are already running reach the queue: a batch of one
            # followed by a batch of fifteen costs two fsyncs where one would do.
            await asyncio.sleep(0)
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
        except _FAILURES as exc:
            if len(batch) == 1:
                _fail(batch[0], exc)
                return
            for write in batch:  # isolate the one that failed
                try:
                    await self._transaction([write])
                except _FAILURES as single_exc:
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
        if self._writer is not None:
            await self._writer.commit([(table.name, rows) for table, rows in by_table.items()])
            return
        async with self._engine.begin() as conn:
            for table, rows in by_table.items():
                await conn.execute(table.insert(), rows)

    def _succeed(self, batch: list[Write]) -> None:
        self.batches += 1
        self.writes += len(batch)
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
    if isinstance(exc, IntegrityError | WriteConflictError):
        write.done.set_exception(ConflictError("a generated identifier collided"))
    else:
        log.error("intake_commit_failed", status=type(exc).__name__)
        write.done.set_exception(StorageUnavailableError("the database could not take the write"))
