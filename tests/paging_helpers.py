"""On-call paging in tests: a controllable clock, a staffed rota, a running site and worker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from argon2 import PasswordHasher
from arq.worker import Worker
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from hotline import keys, rota
from hotline.accounts import add_user
from hotline.settings import Settings
from hotline.tables import pages, tips
from tests.conftest import (
    CLIENT_ADDRESS,
    SMS_PUBLIC_URL,
    TWILIO_ACCOUNT_SID,
    TWILIO_FROM,
    TWILIO_TOKEN,
    make_settings,
)
from tests.helpers import submit
from tests.twilio_standin import TwilioStandIn
from web.app import HotlineApp, create_app

CRITICAL = "A 15 year old girl is locked in room 214 right now"
HIGH = "They took my passport and I work every day without pay"
NUMBERS = {"primary": "+14155550101", "backup": "+14155550102", "supervisor": "+14155550103"}
CHEAP_PASSWORDS = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
# Nothing the reporter wrote may reach a pager: these words of CRITICAL are looked for.
TIP_WORDS = ("15", "year", "girl", "locked", "room", "214", "right")


class Clock:
    """The jobs' clock: real time moved by an offset the test controls."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


def paging_settings(data_dir: Path, twilio_api: TwilioStandIn | None, **overrides: Any) -> Settings:
    """Settings of a site and worker that page through the Twilio stand-in (None: no SMS)."""
    sms: dict[str, Any] = {}
    if twilio_api is not None:
        sms = {
            "public_url": SMS_PUBLIC_URL,
            "twilio_account_sid": TWILIO_ACCOUNT_SID,
            "twilio_auth_token": TWILIO_TOKEN,
            "twilio_from": TWILIO_FROM,
            "twilio_api_url": twilio_api.url,
        }
    return make_settings(data_dir, key_passphrase="test passphrase", **sms, **overrides)


async def staff_rota(
    settings: Settings,
    engine: AsyncEngine,
    numbers: dict[str, str | None] | None = None,
    *,
    opted_out: tuple[str, ...] = (),
) -> dict[str, int]:
    """One person on call in each layer for the next hours; their user ids by layer.

    ``numbers`` gives each layer's pager number (None: the person registered none).
    """
    chosen: dict[str, str | None] = dict(NUMBERS) if numbers is None else numbers
    sealer = keys.load_sealer(settings.keys_dir)
    hasher = keys.load_hash_key(settings.keys_dir)
    now = datetime.now(UTC)
    staff: dict[str, int] = {}
    for layer in rota.LAYERS:
        role = "supervisor" if layer == "supervisor" else "dispatcher"
        user_id = await add_user(
            engine, f"oncall-{layer}", "a long on-call password", role, hasher=CHEAP_PASSWORDS
        )
        await rota.add_shift(
            engine,
            layer=layer,
            user_id=user_id,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(days=2),
            tz="UTC",
            override=False,
            created_by=None,
        )
        number = chosen.get(layer)
        if number is not None:
            await rota.set_contact(engine, sealer, hasher, user_id, number, region="US")
        if layer in opted_out:
            await rota.set_opted_out(engine, user_id, True)
        staff[layer] = user_id
    return staff


@contextlib.asynccontextmanager
async def public_site(settings: Settings) -> AsyncIterator[tuple[HotlineApp, httpx.AsyncClient]]:
    """The real public site (its relay enqueues each committed tip's dispatch job)."""
    app = create_app(settings, role="public")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


async def wait_for(
    condition: Callable[[], Awaitable[bool]], *, within: float = 15, what: str = "condition"
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def report(app: HotlineApp, client: httpx.AsyncClient, text: str) -> tuple[uuid.UUID, str]:
    """File a tip through the public form; its id and reference, once its job is queued."""
    answer = await submit(client, text)
    assert answer.status_code == 303, answer.status_code
    engine = app.state.engine
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(tips.c.id, tips.c.reference).order_by(tips.c.created_at.desc()).limit(1)
            )
        ).one()

    async def queued() -> bool:
        return int(app.state.relay.enqueued) >= 1

    await wait_for(queued, what="the dispatch job")
    return row.id, row.reference


def start(worker: Worker) -> asyncio.Task[None]:
    """Run a burst worker in the background (it stops when its queue is empty)."""
    return asyncio.create_task(worker.main())


async def kill(task: asyncio.Task[None], worker: Worker) -> None:
    """Stop a worker between jobs (none running), as a crash or a restart would."""

    async def idle() -> bool:
        return all(job.done() for job in worker.tasks.values())

    await wait_for(idle, what="the worker's running jobs")
    task.cancel()  # no await since the check: no job can start in between
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await worker.close()


async def finish(task: asyncio.Task[None], *, within: float = 20) -> None:
    await asyncio.wait_for(task, timeout=within)


async def page_rows(engine: AsyncEngine, tip_id: uuid.UUID) -> list[Row[Any]]:
    async with engine.connect() as conn:
        return list(
            (
                await conn.execute(
                    sa.select(pages).where(pages.c.tip_id == tip_id).order_by(pages.c.step)
                )
            ).all()
        )


async def tip_row(engine: AsyncEngine, tip_id: uuid.UUID) -> Row[Any]:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(tips).where(tips.c.id == tip_id))).one()


def texts_to(twilio_api: TwilioStandIn, number: str) -> list[str]:
    """The bodies of the messages the stand-in was asked to send to ``number``."""
    return [r.form["Body"] for r in twilio_api.sent() if r.form.get("To") == number]
