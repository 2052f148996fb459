"""The SQLite writer process: where intake's group commits run, on a core of their own.

The web process is one Python interpreter, so everything it does shares one core
through the GIL, while the second core of the box sits idle. With PostgreSQL the
database's own work happens in the server's processes anyway; with SQLite it would
happen inside the web process. So the web process hands each batch of rows to this
child process over a pipe and waits for its answer: the child runs the transaction
(SQLAlchemy Core, synchronous, WAL with synchronous=FULL) and answers once the commit is
durable. docs/intake.md has the measurements that led here.

Frames on the pipe are a 4-byte big-endian length and a pickle; both ends are this
module, and nothing else can write to the pipe.

    request:  [([(table name, row), ...], triage request | None), ...]   one per write
    answer:   [(urgency | None, triage failed), ...] | "conflict" | "unavailable"

The child also runs triage, on the plaintext of each tip just before its row is
written: it is the larger part of a submission's work, and it is done here on the
second core instead of in the web process.
"""

from __future__ import annotations

import asyncio
import collections
import pickle
import struct
import sys
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from hotline import logs
from hotline.errors import HotlineError

log = logs.get_logger(__name__)

_LENGTH = struct.Struct(">I")

Batch = list[tuple[list[tuple[str, dict[str, Any]]], Any]]
Outcome = tuple[str | None, bool]


class WriteConflictError(HotlineError):
    """The writer refused a batch because a unique key collided."""


class WriteUnavailableError(HotlineError):
    """The writer could not commit a batch (locked, full, gone)."""

    status_code = 503


def _read_frame(stream: BinaryIO) -> Any:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    return pickle.loads(stream.read(length))  # noqa: S301 - our own parent process  # nosec B301


def _write_frame(stream: BinaryIO, value: Any) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def serve(
    url: str, stdin: BinaryIO, stdout: BinaryIO, *, busy_timeout_ms: int | None = None
) -> None:
    """The child's loop: one transaction per request, until the parent closes the pipe."""
    from hotline import db  # the parent imports this module too; keep that light
    from hotline.tables import insert_groups, metadata
    from hotline.verdict import complete_tip_row, default_assessor

    engine = db.create_sync_sqlite_engine(sa.make_url(url), busy_timeout_ms=busy_timeout_ms)
    tables = metadata.tables
    default_assessor("", None)  # load the rules now, not on the first reporter's time
    try:
        while (batch := _read_frame(stdin)) is not None:
            outcomes: list[Outcome] = []
            named_rows: list[tuple[str, dict[str, Any]]] = []
            for rows, triage_request in batch:
                outcome: Outcome = (None, False)
                for name, row in rows:
                    if name == "tips" and triage_request is not None:
                        outcome = complete_tip_row(row, triage_request)
                    named_rows.append((name, row))
                outcomes.append(outcome)
            answer: list[Outcome] | str = outcomes
            try:
                with engine.begin() as conn:
                    for name, table_rows in insert_groups(named_rows):
                        conn.execute(tables[name].insert(), table_rows)
            except IntegrityError:
                answer = "conflict"
            except (OperationalError, SQLAlchemyError) as exc:
                log.error("writer_commit_failed", status=type(exc).__name__)
                answer = "unavailable"
            _write_frame(stdout, answer)
    finally:
        engine.dispose()


class WriterProcess:
    """The parent's handle on the writer child.

    Several batches may be in the pipe at once: the child commits them in order and
    answers in order, so the web process prepares the next batch while the child
    commits the last one.
    """

    def __init__(self, url: sa.URL, *, busy_timeout_ms: int | None = None) -> None:
        self._url = url.set(drivername="sqlite").render_as_string(hide_password=False)
        self._busy_timeout = [] if busy_timeout_ms is None else [str(int(busy_timeout_ms))]
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._send_lock = asyncio.Lock()

    async def _ensure(self) -> asyncio.subprocess.Process:
        process = self._process
        if process is None or process.returncode is not None:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "hotline.writer",
                self._url,
                *self._busy_timeout,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            self._process = process
            self._reader = asyncio.create_task(self._read_answers(process))
        return process

    async def _read_answers(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None  # noqa: S101 - created with pipes
        try:
            while True:
                head = await process.stdout.readexactly(_LENGTH.size)
                body = await process.stdout.readexactly(_LENGTH.unpack(head)[0])
                answer = pickle.loads(body)  # noqa: S301 - our own child process  # nosec B301
                future = self._waiting.popleft()
                if not future.done():
                    future.set_result(answer)
        except (OSError, asyncio.IncompleteReadError, IndexError):
            pass
        finally:
            if self._process is process:
                self._process = None
            while self._waiting:
                future = self._waiting.popleft()
                if not future.done():
                    future.set_exception(WriteUnavailableError("the writer process is gone"))

    async def commit(self, batch: Batch) -> list[Outcome]:
        """Triage and commit ``batch`` in one transaction; one outcome per write.

        Raises on a conflict or any failure.
        """
        data = pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        async with self._send_lock:
            try:
                process = await self._ensure()
                assert process.stdin is not None  # noqa: S101 - created with pipes
                self._waiting.append(future)
                process.stdin.write(_LENGTH.pack(len(data)) + data)
                await process.stdin.drain()
            except OSError as exc:
                if not future.done():
                    future.set_exception(WriteUnavailableError("the writer process is gone"))
                raise WriteUnavailableError("the writer process is gone") from exc
        answer = await future
        if answer == "conflict":
            raise WriteConflictError("a generated identifier collided")
        if not isinstance(answer, list):
            raise WriteUnavailableError("the database could not take the write")
        return answer

    async def start(self) -> None:
        """Start the child ahead of the first write (it loads the triage rules)."""
        async with self._send_lock:
            await self._ensure()

    async def close(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            assert process.stdin is not None  # noqa: S101 - created with pipes
            process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), timeout=10)
            except TimeoutError:
                process.kill()
                await process.wait()
        if self._reader is not None:
            await self._reader
            self._reader = None


def main() -> None:
    logs.configure("info")
    busy_timeout_ms = int(sys.argv[2]) if len(sys.argv) > 2 else None
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer, busy_timeout_ms=busy_timeout_ms)


if __name__ == "__main__":
    main()
