"""What the fault tests share: real processes, a load of reporters, and the database's view.

Every process a test starts goes through :class:`Processes`, which kills what is left at
teardown. Nothing here prints what a reporter wrote: figures are counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from hotline import keys
from hotline.errors import SealError
from hotline.intake import Report
from hotline.receipts import receipt_hash
from hotline.tables import tip_events, tips
from tests.conftest import DATABASE, free_port
from tests.fuzz.reliability import record_figures
from tests.helpers import RECEIPT
from tests.server import ServerProcess

PASSPHRASE = "test passphrase"
# Generous buckets: the load tests measure faults, not the flood limits.
NO_FLOOD_LIMIT = {"HOTLINE_INTAKE_BURST": "100000", "HOTLINE_INTAKE_PER_MINUTE": "100000"}
_names = itertools.count()


def record(test: str, **figures: Any) -> None:
    """One line of figures in artifacts/reliability.jsonl, for docs/reliability.md."""
    record_figures("faults", test, **{"database": DATABASE, **figures})


class WorkerProcess(ServerProcess):
    """``hotline worker`` in a subprocess (its output in a log file of its own).

    ``kill`` is a SIGKILL: no shutdown handler runs, jobs in progress stay claimed in Redis.
    """

    def __init__(self, data_dir: Path, **env: str) -> None:
        super().__init__(data_dir, 0, "worker", log_name=f"worker-{next(_names)}", **env)


@dataclass
class Processes:
    """The processes of one test; :meth:`stop_all` ends whichever are still running."""

    data_dir: Path
    started: list[ServerProcess | WorkerProcess] = field(default_factory=list)

    def web(self, *, role: str = "public", ready: bool = True, **env: str) -> ServerProcess:
        """``hotline serve`` on a free port; ``ready=False`` returns before it answers."""
        server = ServerProcess(
            self.data_dir, free_port(), "serve", "--role", role, **NO_FLOOD_LIMIT, **env
        )
        self.started.append(server)
        if ready:
            server.wait_ready()
        return server

    def worker(self, **env: str) -> WorkerProcess:
        worker = WorkerProcess(self.data_dir, **env)
        self.started.append(worker)
        return worker

    def outputs(self) -> str:
        return "\n".join(process.output() for process in self.started)

    def stop_all(self) -> None:
        for process in self.started:  # all at once, then wait for each
            if process.process.poll() is None:
                with contextlib.suppress(OSError):
                    process.process.terminate()
        for process in self.started:
            with contextlib.suppress(OSError, ValueError):
                process.stop()


@contextlib.contextmanager
def processes(data_dir: Path) -> Iterator[Processes]:
    started = Processes(data_dir)
    try:
        yield started
    finally:
        started.stop_all()


# -- a load of reporters -------------------------------------------------------------------


@dataclass
class Load:
    """Reporters posting the form over real HTTP, each text unique; what each got back.

    A submission is *acknowledged* when it got its 303; *receipted* when the receipt page
    after it showed a code. A connection that fails mid-request was never answered.
    """

    base_urls: list[str]
    reporters: int = 16
    text_for: Callable[[int], str] = lambda n: f"fault test report number {n}"
    acknowledged: dict[str, str] = field(default_factory=dict)  # text -> handoff token
    receipts: dict[str, str] = field(default_factory=dict)  # text -> receipt code
    refused: dict[int, int] = field(default_factory=dict)  # HTTP status -> count
    unanswered: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=itertools.count)

    def start(self) -> None:
        for n in range(self.reporters):
            base = self.base_urls[n % len(self.base_urls)]
            self._tasks.append(asyncio.create_task(self._reporter(base)))

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)

    async def until(
        self, count: int, *, within: float = 30, what: str = "acknowledgements"
    ) -> None:
        await wait_until(lambda: len(self.acknowledged) >= count, within=within, what=what)

    async def _reporter(self, base: str) -> None:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            while not self._stop.is_set():
                text = self.text_for(next(self._numbers))
                try:
                    answer = await client.post("/report", data={"what": text})
                except httpx.HTTPError:
                    self.unanswered += 1
                    await asyncio.sleep(0.05)  # a dead server: try again, as people would
                    continue
                if answer.status_code != 303:
                    self.refused[answer.status_code] = self.refused.get(answer.status_code, 0) + 1
                    continue
                location = answer.headers["location"]
                self.acknowledged[text] = location.split("/")[-1].split("?")[0]
                with contextlib.suppress(httpx.HTTPError):
                    page = await client.get(location)
                    found = RECEIPT.search(page.text) if page.status_code == 200 else None
                    if found:
                        self.receipts[text] = found.group(1).replace(" ", "")


async def wait_until(
    condition: Callable[[], bool | Awaitable[bool]],
    *,
    within: float,
    what: str,
    explain: Callable[[], str] = lambda: "",
) -> None:
    deadline = time.monotonic() + within
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{explain()}"
        await asyncio.sleep(0.1)


# -- the database's view -------------------------------------------------------------------


async def fetch(url: str, statement: Any) -> list[sa.Row[Any]]:
    engine = create_async_engine(url, poolclass=sa.NullPool)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(statement)).all())
    finally:
        await engine.dispose()


async def undispatched(url: str) -> int:
    rows = await fetch(
        url, sa.select(sa.func.count()).select_from(tips).where(tips.c.dispatched_at.is_(None))
    )
    return int(rows[0][0])


@dataclass(frozen=True)
class Stored:
    """What the database holds of the tips, opened with the private key."""

    texts: dict[str, uuid.UUID]  # what the reporter wrote -> tip id
    receipt_hashes: dict[bytes, uuid.UUID]
    unopened: int
    dispatch_events: dict[uuid.UUID, int]  # tip id -> its 'dispatched' events
    undispatched: int

    @property
    def tips(self) -> int:
        return len(self.texts) + self.unopened


async def stored(url: str, keys_dir: Path) -> Stored:
    opener = keys.load_opener(keys_dir, PASSPHRASE)
    rows = await fetch(
        url, sa.select(tips.c.id, tips.c.body_sealed, tips.c.receipt_hash, tips.c.dispatched_at)
    )
    texts: dict[str, uuid.UUID] = {}
    hashes: dict[bytes, uuid.UUID] = {}
    unopened = 0
    for row in rows:
        try:
            body = opener.open(bytes(row.body_sealed), tip_id=row.id, field="body")
        except (SealError, ValueError):  # counted: a body that does not open fails the test
            unopened += 1
            continue
        texts[Report.from_sealed_json(body).what] = row.id
        if row.receipt_hash is not None:
            hashes[bytes(row.receipt_hash)] = row.id
    events = await fetch(
        url,
        sa.select(tip_events.c.tip_id, sa.func.count())
        .where(tip_events.c.kind == "dispatched")
        .group_by(tip_events.c.tip_id),
    )
    return Stored(
        texts=texts,
        receipt_hashes=hashes,
        unopened=unopened,
        dispatch_events={row[0]: int(row[1]) for row in events},
        undispatched=sum(row.dispatched_at is None for row in rows),
    )


def receipts_found(load: Load, found: Stored, keys_dir: Path) -> int:
    """How many receipts shown to reporters open the very tip each reporter wrote."""
    hasher = keys.load_hash_key(keys_dir)
    return sum(
        found.receipt_hashes.get(receipt_hash(hasher, code)) == found.texts.get(text)
        for text, code in load.receipts.items()
    )


def dispatched_once(found: Stored) -> int:
    return sum(found.dispatch_events.get(tip_id) == 1 for tip_id in found.texts.values())
