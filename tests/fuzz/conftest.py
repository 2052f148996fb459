"""Fixtures of the fuzz suite: one app per test with limits out of the way, and a counter
of examples whose total goes to artifacts/reliability.jsonl."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import CLIENT_ADDRESS, make_settings
from tests.fuzz.profiles import PROFILE
from tests.fuzz.reliability import Counter, record_figures
from web.app import HotlineApp, create_app

# So that a 429 never hides a code path: every bucket is far larger than a run can empty.
UNLIMITED = {
    "intake_per_minute": 10**7,
    "intake_burst": 10**7,
    "followup_failures_per_minute": 10**7,
    "followup_attempts_per_code": 10**7,
}


@pytest.fixture
async def fuzz_app(data_dir: Path, redis: aioredis.Redis) -> AsyncIterator[HotlineApp]:
    settings = make_settings(data_dir, key_passphrase="test passphrase", **UNLIMITED)
    application = create_app(settings, role="all")
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def fuzz_client(fuzz_app: HotlineApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=fuzz_app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item, so a fixture can tell whether the test passed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture
def examples(request: pytest.FixtureRequest) -> Iterator[Counter]:
    """Count examples in the test body; the total is recorded when the test passed."""
    counter = Counter()
    yield counter
    report = getattr(request.node, "report_call", None)
    if report is not None and report.passed:
        record_figures(
            "fuzz",
            request.node.name,
            examples=counter.examples,
            profile=PROFILE,
            **({"outcomes": counter.outcomes} if counter.outcomes else {}),
        )
