"""Shared fixtures: a real database, a real Redis, real keys with cheap KDF settings.

The database is a SQLite file in the data directory, or, with
``HOTLINE_TEST_DATABASE=postgresql``, a PostgreSQL database of the test's own: cloned from
a template migrated once per run, dropped after the test. :func:`make_settings` hands out
the database of a data directory; the ``data_dir`` fixture also sets
``HOTLINE_DATABASE_URL`` so the subprocesses and the CLI a test starts use it too. A test
that starts a subprocess on a data directory of its own adds :func:`database_env`.
Tests about SQLite itself carry ``@pytest.mark.sqlite_only(reason)``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from arq.worker import Worker
from sqlalchemy.ext.asyncio import create_async_engine

from hotline import db, keys
from hotline.queue import redis_settings
from hotline.settings import Settings, load_settings
from hotline.worker import worker_settings
from web.app import HotlineApp, create_app

REDIS_URL = os.environ.get("HOTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
CLIENT_ADDRESS = ("203.0.113.77", 40321)  # TEST-NET-3: a client address the tests look for

# Cheap key derivation, only through settings the tests build.
CHEAP = {"reporter_kdf_log2n": 4, "key_file_scrypt_log2n": 10}


def free_port() -> int:
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


DATABASE = os.environ.get("HOTLINE_TEST_DATABASE", "sqlite")
ON_POSTGRESQL = DATABASE == "postgresql"
POSTGRES_ADMIN_DSN = os.environ.get(
    "HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Names unique to this run, so concurrent runs on one server never meet.
_RUN = f"{os.getpid()}_{secrets.token_hex(3)}"
_TEMPLATE = f"hotline_tpl_{_RUN}"
_names = itertools.count()
_databases: dict[Path, str] = {}  # data directory -> the URL of its PostgreSQL database
_made_by_this_test: list[str] = []

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to its end from sync code, or from a test already in an event loop."""

    async def main() -> T:
        return await make()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


def _run_admin(*statements: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _postgres_admin(*statements: str) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(_run_admin, *statements).result()


def _postgres_url(name: str) -> str:
    return f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{name}"


def _new_database_name() -> str:
    return f"hotline_t_{_RUN}_{next(_names)}"


def _create_postgres_database() -> str:
    name = _new_database_name()
    _postgres_admin(f"CREATE DATABASE {name}")
    _made_by_this_test.append(name)
    return _postgres_url(name)


class _Clones:
    """Copies of the template made ahead, and databases dropped, by background threads.

    A clone or a drop costs PostgreSQL a few hundred milliseconds of fsyncs; made on the
    test's path they would add minutes to a pass.
    """

    AHEAD = 2

    def __init__(self, template: str) -> None:
        self._template = template
        self._maker = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pg-clone")
        self._dropper = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pg-drop")
        self._ready: list[tuple[str, concurrent.futures.Future[None]]] = []
        self._drops: list[concurrent.futures.Future[None]] = []
        for _ in range(self.AHEAD):
            self._make_one()

    def _make_one(self) -> None:
        name = _new_database_name()
        made = self._maker.submit(_run_admin, f"CREATE DATABASE {name} TEMPLATE {self._template}")
        self._ready.append((name, made))

    def take(self) -> str:
        name, made = self._ready.pop(0)
        self._make_one()
        made.result()
        return name

    def drop(self, names: list[str]) -> None:
        statements = (f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in names)
        self._drops.append(self._dropper.submit(_run_admin, *statements))

    def close(self) -> None:
        self._maker.shutdown(wait=True)
        self.drop([name for name, _made in self._ready])
        self._dropper.shutdown(wait=True)
        for dropped in self._drops:
            dropped.result()  # a failed drop fails the run rather than leaving databases


_clones: _Clones | None = None


def database_url_for(data_dir: Path) -> str:
    """The PostgreSQL database of a data directory: an empty one for a directory not seen."""
    key = data_dir.resolve()
    if key not in _databases:
        _databases[key] = _create_postgres_database()
    return _databases[key]


def database_env(data_dir: Path) -> dict[str, str]:
    """What a subprocess on ``data_dir`` needs in its environment to use the test's database."""
    return {"HOTLINE_DATABASE_URL": database_url_for(data_dir)} if ON_POSTGRESQL else {}


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    if ON_POSTGRESQL and "database_url" not in overrides:
        overrides["database_url"] = database_url_for(data_dir)
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "redis_url": REDIS_URL,
        "environment": "development",
        "sweep_interval_seconds": 0.5,
        "sweep_grace_seconds": 0.0,
        **CHEAP,
        **overrides,
    }
    return load_settings(**values)


def database_rows(data_dir: Path, *statements: Any, **params: Any) -> list[sa.Row[Any]]:
    """Run statements (Core, or SQL text with ``:name`` parameters) on the database of
    ``data_dir`` in one transaction of their own, as another process would; the rows of
    the last, if any."""
    url = make_settings(data_dir).resolved_database_url

    async def run() -> list[sa.Row[Any]]:
        engine = create_async_engine(url, poolclass=sa.NullPool)
        try:
            async with engine.begin() as conn:
                rows: list[sa.Row[Any]] = []
                for statement in statements:
                    if isinstance(statement, str):
                        statement = sa.text(statement)
                    result = await conn.execute(statement, params)
                    rows = list(result.all()) if result.returns_rows else []
                return rows
        finally:
            await engine.dispose()

    return run_sync(run)


def stored_bytes(data_dir: Path) -> bytes:
    """Everything the database holds, for scans that look for words stored in clear: the
    SQLite file and its log, or on PostgreSQL the raw value of every column of every row."""
    if not ON_POSTGRESQL:
        return b"".join(
            path.read_bytes()
            for path in (data_dir / "hotline.db", data_dir / "hotline.db-wal")
            if path.exists()
        )
    url = make_settings(data_dir).resolved_database_url

    async def run() -> bytes:
        engine = create_async_engine(url, poolclass=sa.NullPool)
        chunks: list[bytes] = []
        try:
            async with engine.connect() as conn:
                reflected = sa.MetaData()
                await conn.run_sync(reflected.reflect)
                for table in reflected.sorted_tables:
                    for row in await conn.execute(sa.select(table)):
                        for value in row:
                            if isinstance(value, bytes | memoryview):
                                chunks.append(bytes(value))
                            elif value is not None:
                                chunks.append(str(value).encode())
        finally:
            await engine.dispose()
        return b"\n".join(chunks)

    return run_sync(run)


def pytest_configure(config: pytest.Config) -> None:
    if DATABASE not in ("sqlite", "postgresql"):
        raise pytest.UsageError("HOTLINE_TEST_DATABASE: expected sqlite or postgresql")


def pytest_report_header(config: pytest.Config) -> str:
    where = f" at {POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}" if ON_POSTGRESQL else ""
    return f"hotline database: {DATABASE}{where}; redis: {REDIS_URL}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not ON_POSTGRESQL:
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.args[0] if marker.args else "about SQLite itself"
            item.add_marker(pytest.mark.skip(reason=f"sqlite_only: {reason}"))


@pytest.fixture(autouse=True)
def _drop_test_databases() -> Iterator[None]:
    """Every PostgreSQL database a test made is dropped after it, connections and all."""
    yield
    if _made_by_this_test:
        names = list(_made_by_this_test)
        _made_by_this_test.clear()
        for key in [key for key, url in _databases.items() if url.rsplit("/", 1)[1] in names]:
            del _databases[key]
        if _clones is not None:
            _clones.drop(names)
        else:
            _postgres_admin(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in names))


_RUN_DATABASE = re.compile(r"hotline_(?:t|tpl)_(\d+)_[0-9a-f]{6}(?:_\d+)?")


def _drop_databases_of_dead_runs() -> None:
    """Drop what runs killed before their teardown left behind (their process is gone).

    Only against a server on this machine, where a run's process id means something.
    """
    if not re.search(r"@(127\.0\.0\.1|localhost|\[::1\])[:/]", POSTGRES_ADMIN_DSN):
        return

    import asyncpg

    async def names() -> list[str]:
        conn = await asyncpg.connect(POSTGRES_ADMIN_DSN)
        try:
            rows = await conn.fetch("SELECT datname FROM pg_database WHERE datname ~ '^hotline_'")
        finally:
            await conn.close()
        return [str(row["datname"]) for row in rows]

    found = run_sync(names)
    stale = []
    for name in found:
        matched = _RUN_DATABASE.fullmatch(name)
        if matched is None:
            continue
        try:
            os.kill(int(matched.group(1)), 0)
        except ProcessLookupError:
            stale.append(name)
        except PermissionError:
            continue  # alive, another user's
    if stale:
        _postgres_admin(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in stale))


@pytest.fixture(scope="session")
def template_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Migrated database and keys, made once; each test gets a copy."""
    data_dir = tmp_path_factory.mktemp("template")
    if ON_POSTGRESQL:
        _drop_databases_of_dead_runs()
        _postgres_admin(f"CREATE DATABASE {_TEMPLATE}")
        settings = make_settings(data_dir, database_url=_postgres_url(_TEMPLATE))
    else:
        settings = make_settings(data_dir)
    db.upgrade(settings)  # on PostgreSQL too: every pass runs the migrations
    keys.init_keys(settings.keys_dir, passphrase="test passphrase", scrypt_log2n=10)
    if not ON_POSTGRESQL:
        yield data_dir
        return
    global _clones
    _clones = _Clones(_TEMPLATE)
    try:
        yield data_dir
    finally:
        _clones.close()
        _clones = None
        _postgres_admin(f"DROP DATABASE IF EXISTS {_TEMPLATE} WITH (FORCE)")


@pytest.fixture
def data_dir(
    template_data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    target = tmp_path / "data"
    shutil.copytree(template_data_dir, target)
    if not ON_POSTGRESQL:
        yield target
        return
    assert _clones is not None
    name = _clones.take()
    _made_by_this_test.append(name)
    url = _postgres_url(name)
    _databases[target.resolve()] = url
    # Subprocesses and the CLI a test runs on this data directory read it from here.
    monkeypatch.setenv("HOTLINE_DATABASE_URL", url)
    yield target
    # Something on the PostgreSQL pass fell back to SQLite: the pass would not test it.
    assert not (target / "hotline.db").exists(), "a SQLite database appeared in data_dir"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir, key_passphrase="test passphrase")


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def app(settings: Settings, redis: aioredis.Redis) -> AsyncIterator[HotlineApp]:
    application = create_app(settings, role="all")
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: HotlineApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def board_client(app: HotlineApp) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the dashboard: over https, since its session cookie is Secure."""
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


@pytest.fixture
async def make_worker(settings: Settings) -> AsyncIterator[Any]:
    """A factory of burst-mode arq workers on the real Redis (as arq's own tests do)."""
    made: list[Worker] = []

    def factory(for_settings: Settings | None = None, **overrides: Any) -> Worker:
        chosen = for_settings or settings
        options = worker_settings(chosen, redis_settings(chosen.redis_url))
        options.update(burst=True, handle_signals=False, poll_delay=0.01, **overrides)
        options.pop("cron_jobs", None)
        worker = Worker(**options)
        made.append(worker)
        return worker

    yield factory
    for worker in made:
        await worker.close()


@pytest.fixture
def capture_logs() -> Iterator[list[str]]:
    """Every rendered log line of the test, as the service would write it."""
    import structlog

    from hotline import logs

    lines: list[str] = []

    class Sink:
        def msg(self, message: str) -> None:
            lines.append(message)

        log = debug = info = warning = warn = error = critical = exception = fatal = msg

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.configure("debug")
    structlog.configure(logger_factory=lambda *_a: Sink())
    yield lines
    structlog.reset_defaults()
    root.handlers[:], level = saved
    root.setLevel(level)


# -- SMS: the real twilio client against a local stand-in of its REST API ----------------

TWILIO_ACCOUNT_SID = "AC" + "5ca1ab1e" * 4
TWILIO_TOKEN = "primary-auth-token-for-tests"
TWILIO_TOKEN_SECONDARY = "secondary-auth-token-for-tests"
TWILIO_FROM = "+15005550006"
SMS_PUBLIC_URL = "https://tips.example.org"


@pytest.fixture
def twilio_api() -> Iterator[Any]:
    from tests.twilio_standin import TwilioStandIn

    standin = TwilioStandIn(TWILIO_ACCOUNT_SID)
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def sms_settings(data_dir: Path, twilio_api: Any) -> Settings:
    return make_settings(
        data_dir,
        key_passphrase="test passphrase",
        public_url=SMS_PUBLIC_URL,
        twilio_account_sid=TWILIO_ACCOUNT_SID,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_auth_token_secondary=TWILIO_TOKEN_SECONDARY,
        twilio_from=TWILIO_FROM,
        twilio_api_url=twilio_api.url,
    )


@pytest.fixture
async def sms_app(sms_settings: Settings, redis: aioredis.Redis) -> AsyncIterator[HotlineApp]:
    application = create_app(sms_settings, role="public")
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def sms_client(sms_app: HotlineApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sms_app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url=SMS_PUBLIC_URL) as c:
        yield c
