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

from hotline import logs, metrics
from hotline.errors import ConflictError, StorageUnavailableError
from hotline.tables import insert_groups, metadata
from hotline.verdict import Assessor, TriageRequest, complete_tip_row, default_assessor
from hotline.writer import Outcome, WriteConflictError, WriterProcess, WriteUnavailableError

log = logs.get_logger(__name__)

IN_FLIGHT = 2
_FAILURES = (IntegrityError, OperationalError, WriteConflictError, WriteUnavailableError)
_CONFLICTS = (IntegrityError, WriteConflictError)


@dataclass
class Write:
    """Rows to insert together, in table order (parents first), for one submission.

    With ``triage``, the row of table ``tips`` gets triage's verdict just before it is
    written, and ``done`` resolves to the tip's urgency.
    """

    rows: Sequence[tuple[sa.Table, dict[str, Any]]]
    tip_ids: Sequence[UUID] = ()
    triage: TriageRequest | None = None
    done: asyncio.Future[str | None] = field(
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
        assess: Assessor = default_assessor,
        busy_timeout_ms: int | None = None,
    ) -> None:
        """``assess`` serves where triage runs in this process (PostgreSQL); the SQLite
        writer process always uses the shipped rules. ``busy_timeout_ms``: how long the
        SQLite writer waits on another writer's lock before the batch fails."""
        self._engine = engine
        self._assess = assess
        self._batch_max = batch_max
        self._on_commit = on_commit
        self._queue: asyncio.Queue[Write] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # transactions committed, and writes in them: their ratio is
        self.writes = 0  # the mean batch size
        self._writer = (
            WriterProcess(engine.url, busy_timeout_ms=busy_timeout_ms)
            if engine.dialect.name == "sqlite"
            else None
        )

    async def start(self) -> None:
        if self._task is None:
            if self._writer is not None:
                await self._writer.start()
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

    async def write(self, write: Write) -> str | None:
        """Queue ``write``; return once it is durably committed (or raise), with the
        tip's urgency when the write asked for triage."""
        if self._task is None or self._task.done():
            raise StorageUnavailableError("the intake writer is not running")
        self._queue.put_nowait(write)
        # A reporter who disconnects cancels the wait, not the write: the writer skips
        # futures that are already done.
        return await write.done

    async def _run(self) -> None:
        # Two batches in flight: the next is gathered and sent while the last commits,
        # so the web process and the writer process work at the same time.
        in_flight = asyncio.Semaphore(IN_FLIGHT)
        running: set[asyncio.Task[None]] = set()
        while True:
            batch = [await self._queue.get()]
            # Let the requests that are already running reach the queue: a batch of one
            # followed by a batch of fifteen costs two fsyncs where one would do.
            await asyncio.sleep(0)
            await in_flight.acquire()
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            task = asyncio.create_task(self._commit_and_release(batch, in_flight))
            running.add(task)
            task.add_done_callback(running.discard)

    async def _commit_and_release(self, batch: list[Write], in_flight: asyncio.Semaphore) -> None:
        try:
            await self._commit_batch(batch)
        finally:
            in_flight.release()
            for _ in batch:
                self._queue.task_done()

    async def _commit_batch(self, batch: list[Write]) -> None:
        try:
            outcomes = await self._transaction(batch)
        except _FAILURES as exc:
            if len(batch) == 1 or not isinstance(exc, _CONFLICTS):
                # A locked, full or missing database fails every write alike: trying each
                # alone would keep every reporter waiting one lock timeout per write.
                for write in batch:
                    _fail(write, exc)
                return
            for write in batch:  # isolate the one that collided
                try:
                    single = await self._transaction([write])
                except _FAILURES as single_exc:
                    _fail(write, single_exc)
                else:
                    self._succeed([write], single)
            return
        except Exception as exc:  # noqa: BLE001 - any other failure must reach every waiter
            log.error("intake_commit_failed", status=type(exc).__name__)
            for write in batch:
                if not write.done.done():
                    write.done.set_exception(
                        StorageUnavailableError("the database could not take the write")
                    )
            return
        self._succeed(batch, outcomes)

    async def _transaction(self, batch: list[Write]) -> list[Outcome]:
        if self._writer is not None:
            return await self._writer.commit(
                [([(table.name, row) for table, row in w.rows], w.triage) for w in batch]
            )
        outcomes: list[Outcome] = []
        for write in batch:
            tip_row = _tip_row(write)
            if write.triage is not None and tip_row is not None:
                outcomes.append(complete_tip_row(tip_row, write.triage, self._assess))
            else:
                outcomes.append((None, False))
        async with self._engine.begin() as conn:
            for name, rows in insert_groups(
                (table.name, row) for write in batch for table, row in write.rows
            ):
                await conn.execute(metadata.tables[name].insert(), rows)
        return outcomes

    def _succeed(self, batch: list[Write], outcomes: list[Outcome]) -> None:
        self.batches += 1
        self.writes += len(batch)
        ids: list[UUID] = []
        for write, (urgency, triage_failed) in zip(batch, outcomes, strict=True):
            if triage_failed:
                metrics.TRIAGE_FAILURES.inc()
                log.error("triage_failed", tip_ids=[str(tip) for tip in write.tip_ids])
            ids.extend(write.tip_ids)
            if not write.done.done():
                write.done.set_result(urgency)
        if ids:
            self._on_commit(ids)


def _tip_row(write: Write) -> dict[str, Any] | None:
    return next((row for table, row in write.rows if table.name == "tips"), None)


def _fail(write: Write, exc: Exception) -> None:
    if write.done.done():
        return
    if isinstance(exc, _CONFLICTS):
        write.done.set_exception(ConflictError("a generated identifier collided"))
    else:
        log.error("intake_commit_failed", status=type(exc).__name__)
        write.done.set_exception(StorageUnavailableError("the database could not take the write"))
