"""Prometheus metrics: on the internal listener only; counts and latencies, no content."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from hotline import exporter
from hotline.errors import SettingsError
from hotline.settings import Settings
from tests.conftest import CLIENT_ADDRESS, free_port, make_settings
from tests.helpers import submit, submit_and_read_receipt
from tests.server import ServerProcess
from web.app import HotlineApp, create_app

PHONE = "+1 202 555 0188"
REPORT = f"Zanzibarine nightclub keeps the dancers locked upstairs, the boss is on {PHONE}"


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of a scrape, 0 when absent."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                return float(found.value)
    return 0.0


def now_value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metrics_settings(data_dir: Path) -> Settings:
    return make_settings(
        data_dir, key_passphrase="test passphrase", metrics_bind=f"127.0.0.1:{free_port()}"
    )


@pytest.fixture
async def listener(
    metrics_settings: Settings,
) -> AsyncIterator[exporter.MetricsListener]:
    async with exporter.serving(metrics_settings) as running:
        assert running is not None
        yield running


async def scrape(listener: exporter.MetricsListener, path: str = "/metrics") -> httpx.Response:
    host, port = listener.address
    async with httpx.AsyncClient() as client:
        return await client.get(f"http://{host}:{port}{path}")


@pytest.mark.parametrize("role", ["public", "dashboard", "all"])
async def test_the_public_and_dashboard_apps_answer_404_for_metrics(
    settings: Settings, redis: aioredis.Redis, role: str
) -> None:
    app = create_app(settings, role=role)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
            answer = await c.get("/metrics")
    assert answer.status_code == 404
    assert "hotline_" not in answer.text


async def test_the_metrics_listener_answers_only_get_metrics(
    listener: exporter.MetricsListener,
) -> None:
    assert (await scrape(listener)).status_code == 200
    assert (await scrape(listener, "/")).status_code == 404
    assert (await scrape(listener, "/metrics/x")).status_code == 404
    assert (await scrape(listener, "/healthz")).status_code == 404
    host, port = listener.address
    async with httpx.AsyncClient() as client:
        assert (await client.post(f"http://{host}:{port}/metrics")).status_code == 405


async def test_a_scrape_after_a_submission_and_a_dispatch_shows_the_counters_moved(
    app: HotlineApp,
    client: httpx.AsyncClient,
    listener: exporter.MetricsListener,
    make_worker: Any,
) -> None:
    before = {
        "submitted": now_value("hotline_tips_submitted_total", channel="web"),
        "dispatched": now_value("hotline_tips_dispatched_total"),
        "posts": now_value(
            "hotline_request_seconds_count", route="/report", method="POST", status="3xx"
        ),
        "jobs": now_value("hotline_job_seconds_count", job="dispatch_tip", outcome="ok"),
    }
    assert (await submit(client, REPORT)).status_code == 303
    deadline = time.monotonic() + 10
    while app.state.relay.enqueued < 1:  # the relay moves the committed tip to arq
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await make_worker().main()
    text = (await scrape(listener)).text
    assert sample(text, "hotline_tips_submitted_total", channel="web") == before["submitted"] + 1
    assert sample(text, "hotline_tips_dispatched_total") == before["dispatched"] + 1
    posts = sample(
        text, "hotline_request_seconds_count", route="/report", method="POST", status="3xx"
    )
    assert posts == before["posts"] + 1
    jobs = sample(text, "hotline_job_seconds_count", job="dispatch_tip", outcome="ok")
    assert jobs == before["jobs"] + 1
    # Gauges read from the database at the scrape: this fresh database holds one open tip.
    open_tips = sum(
        sample(text, "hotline_open_tips", urgency=u) for u in ("critical", "high", "medium", "low")
    )
    assert open_tips == 1
    assert sample(text, "hotline_ready", check="database") == 1


async def test_metrics_hold_no_tip_text_receipt_address_phone_or_raw_path(
    client: httpx.AsyncClient, board_client: httpx.AsyncClient, listener: exporter.MetricsListener
) -> None:
    receipt = await submit_and_read_receipt(client, REPORT)
    secret_path = "/report/Zanzibarine-" + uuid.uuid4().hex
    tip_path = f"/dashboard/tips/{uuid.uuid4()}"
    assert (await client.get(secret_path)).status_code == 404
    assert (await client.request("BREW", "/")).status_code in (404, 405)
    await board_client.get(tip_path)
    text = (await scrape(listener)).text
    for private in (
        "Zanzibarine",
        "dancers",
        receipt,
        receipt.replace(" ", ""),
        CLIENT_ADDRESS[0],
        PHONE,
        "2025550188",
        secret_path,
        tip_path,
        "BREW",
    ):
        assert private not in text, private
    # The dashboard's tip route is one series by its template; unrouted paths are one too.
    assert 'route="/dashboard/tips/{tip_id:uuid}"' in text
    assert 'route="unmatched"' in text
    assert 'method="other"' in text


async def test_a_metrics_bind_already_taken_stops_start_up_naming_the_setting(
    data_dir: Path, listener: exporter.MetricsListener
) -> None:
    host, port = listener.address
    taken = make_settings(data_dir, metrics_bind=f"{host}:{port}")
    with pytest.raises(SettingsError, match="HOTLINE_METRICS_BIND"):
        async with exporter.serving(taken):
            pass


def wait_for_metrics(url: str, process: ServerProcess, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.process.poll() is not None:
            raise AssertionError(f"process exited early:\n{process.output()}")
        try:
            answer = httpx.get(url, timeout=5)
            if answer.status_code == 200:
                return answer.text
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"no metrics in {timeout}s:\n{process.output()}")


@pytest.mark.slow
def test_the_worker_command_serves_metrics_on_its_own_listener(
    data_dir: Path, redis: aioredis.Redis
) -> None:
    port = free_port()
    worker = ServerProcess(data_dir, 0, "worker", HOTLINE_METRICS_BIND=f"127.0.0.1:{port}")
    try:
        text = wait_for_metrics(f"http://127.0.0.1:{port}/metrics", worker)
        assert "hotline_tips_dispatched_total" in text
        # The worker's cron jobs at start-up run timed under their own names; the gauges
        # are read from the database (again every 5 s, if a first read was too slow).
        deadline = time.monotonic() + 30
        while (
            sample(text, "hotline_job_seconds_count", job="sweep_undispatched", outcome="ok") < 1
            or sample(text, "hotline_ready", check="database") != 1
        ):
            assert time.monotonic() < deadline, worker.output()
            time.sleep(0.2)
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        worker.stop()
    assert worker.process.returncode == 0, worker.output()


@pytest.mark.slow
def test_the_public_role_serves_metrics_only_on_the_internal_port(
    data_dir: Path, redis: aioredis.Redis
) -> None:
    metrics_port = free_port()
    server = ServerProcess(
        data_dir,
        free_port(),
        "serve",
        "--role",
        "public",
        HOTLINE_METRICS_BIND=f"127.0.0.1:{metrics_port}",
    )
    try:
        server.wait_ready()
        assert httpx.get(server.base_url + "/metrics", timeout=5).status_code == 404
        text = wait_for_metrics(f"http://127.0.0.1:{metrics_port}/metrics", server)
        assert 'route="/healthz"' in text
    finally:
        server.stop()
    # uvicorn ends by raising the SIGTERM it caught again, as before the listener existed.
    assert server.process.returncode in (0, -15), server.output()
    assert "Traceback" not in server.output()
