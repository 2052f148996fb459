"""Shared fixtures: real SQLite files, a real Redis, real keys with cheap KDF settings."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from arq.worker import Worker

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


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
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


@pytest.fixture(scope="session")
def template_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated database and keys, made once; each test gets a copy."""
    data_dir = tmp_path_factory.mktemp("template")
    settings = make_settings(data_dir)
    db.upgrade(settings)
    keys.init_keys(settings.keys_dir, passphrase="test passphrase", scrypt_log2n=10)
    return data_dir


@pytest.fixture
def data_dir(template_data_dir: Path, tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(template_data_dir, target)
    return target


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
