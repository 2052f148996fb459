"""Guessing receipt codes is bounded, with no client identity at all.

A receipt is 16 decimal digits (about 53 bits). The whole site accepts
``followup_failures_per_minute`` wrong receipts a minute (a global bucket, per process), and
``followup_attempts_per_code`` wrong tries of one code an hour. While the global bucket is
empty, every receipt gets 429 — the right one too: a reporter who comes back during a
guessing flood is told to wait a few minutes, and their receipt opens once the bucket has
refilled (web/public.py checks the bucket before it looks the code up, so an attacker
learns nothing from a 429 either).
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from hotline.receipts import DIGITS
from tests.conftest import make_settings
from tests.fuzz.reliability import record_figures
from tests.helpers import submit_and_read_receipt
from web.app import HotlineApp, create_app

PER_MINUTE = 60  # a token back every second, so the test sees the refill quickly
OPENED = 'name="text"'
MINUTES_PER_YEAR = 365.25 * 24 * 60


@pytest.fixture
async def guarded_app(data_dir: Path, redis: aioredis.Redis) -> AsyncIterator[HotlineApp]:
    settings = make_settings(
        data_dir, key_passphrase="test passphrase", followup_failures_per_minute=PER_MINUTE
    )
    application = create_app(settings, role="public")
    async with application.router.lifespan_context(application):
        yield application


def stranger(app: HotlineApp, n: int) -> httpx.AsyncClient:
    """A client from its own address and port, with no cookie: a new identity each time."""
    address = str(ipaddress.ip_address("198.51.100.0") + n % 250)
    transport = httpx.ASGITransport(app=app, client=(address, 1024 + n))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def guess(app: HotlineApp, n: int, code: str) -> httpx.Response:
    async with stranger(app, n) as client:
        return await client.post("/followup", data={"receipt": code})


def wrong_code(right: str) -> str:
    while True:
        code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
        if code != right:
            return code


async def test_wrong_receipts_from_ever_new_clients_get_429_after_the_global_limit(
    guarded_app: HotlineApp,
) -> None:
    async with stranger(guarded_app, 9999) as reporter:
        receipt = (await submit_and_read_receipt(reporter, "They sleep in the van.")).replace(
            " ", ""
        )
    started = time.monotonic()
    answers = [
        (await guess(guarded_app, n, wrong_code(receipt))).status_code
        for n in range(PER_MINUTE + 20)
    ]
    refilled = (time.monotonic() - started) * PER_MINUTE / 60
    first_refusal = answers.index(429)
    # The burst is the per-minute figure, plus what the bucket refilled meanwhile.
    assert PER_MINUTE <= first_refusal <= PER_MINUTE + refilled + 1, first_refusal
    assert set(answers[:first_refusal]) == {200}
    assert answers.count(429) >= 15

    # The right receipt, typed while the bucket is empty, is refused like any guess ...
    refused = await guess(guarded_app, 10_000, receipt)
    assert refused.status_code == 429
    assert OPENED not in refused.text
    assert "Too many attempts" in refused.text
    # ... and opens once the bucket has a token again (one a second at this setting).
    bucket = guarded_app.state.public.followup_failures
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while bucket.empty():
        assert loop.time() < deadline, "the bucket refills"
        await asyncio.sleep(0.05)
    opened = await guess(guarded_app, 10_001, receipt)
    assert opened.status_code == 200
    assert OPENED in opened.text

    default = default_per_minute(guarded_app)
    record_figures(
        "abuse",
        "receipt_guessing",
        wrong_guesses_before_429=first_refusal,
        per_minute_setting=PER_MINUTE,
        default_per_minute=default,
        receipt_space=10**DIGITS,
        receipt_bits=round(math.log2(10**DIGITS), 2),
        years_to_find_one_tip_at_default=round(expected_years(default, tips=1)),
        years_to_find_any_of_a_million_tips_at_default=round(expected_years(default, tips=10**6)),
    )


async def test_one_code_tried_too_often_gets_429_while_other_codes_still_answer(
    data_dir: Path, redis: aioredis.Redis
) -> None:
    settings = make_settings(data_dir, key_passphrase="test passphrase")
    app = create_app(settings, role="public")
    limit = settings.followup_attempts_per_code
    async with app.router.lifespan_context(app):
        code = "4444 5555 6666 7777"
        tries = [(await guess(app, n, code)).status_code for n in range(limit + 2)]
        assert tries == [200] * limit + [429, 429]
        # The same digits typed another way are the same code.
        assert (await guess(app, 50, "4444-5555-6666-7777")).status_code == 429
        assert (await guess(app, 51, "1234 5678 9012 3456")).status_code == 200


def expected_years(per_minute: int, *, tips: int) -> float:
    """Expected years of guessing at the global limit to hit one of ``tips`` live receipts:
    half the space over the number of targets, at ``per_minute`` guesses a minute."""
    guesses = 10**DIGITS / 2 / tips
    return guesses / per_minute / MINUTES_PER_YEAR


def default_per_minute(app: HotlineApp) -> int:
    """The shipped default, whatever this test's settings say."""
    field = type(app.state.public.settings).model_fields["followup_failures_per_minute"]
    return int(field.default)


async def test_at_the_default_limit_guessing_one_receipt_takes_over_a_hundred_million_years(
    guarded_app: HotlineApp,
) -> None:
    default = default_per_minute(guarded_app)
    assert expected_years(default, tips=1) > 1e8
    # Even against a million live tips, one hit is centuries away.
    assert expected_years(default, tips=10**6) > 100
