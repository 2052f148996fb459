"""Time to page: from ``POST /report`` of a critical text to the page reaching Twilio.

A real ``hotline serve --role public`` and a real ``hotline worker`` run as subprocesses on
a fresh SQLite database and Redis db 14; the worker's Twilio client points at the local
stand-in of Twilio's REST API (tests/twilio_standin.py), which records the page. A
primary dispatcher is on call with a pager number, set up in the database with
``hotline.rota`` before the processes start. Tips are filed one after another; each is
timed from the moment its POST is sent to the moment the stand-in records the SMS to the
primary (the whole path: intake, triage, group commit, relay to Redis, the worker's
dispatch job, the page_step job, the twilio client's HTTP request). The POST round trip
alone is the baseline, measured on the same requests.

Where the time goes: the tip waits for the worker's poll twice (the dispatch job, then the
page_step job it enqueues), and the worker polls Redis every ``poll_delay`` (0.1 s, set in
hotline/worker.py). Tips filed one after another arrive just after a poll, so each waits
nearly a full delay twice: about 200 ms, against some 15 ms of work. A lower delay buys
latency with idle Redis round trips (0.05 s: ~100 ms, 0.02 s: ~60 ms, at 20 and 50 polls a
second per worker instead of 10).

    .venv/bin/python -m bench.page_latency [--tips 200]

Needs a Redis at 127.0.0.1:6379 (db 14 is flushed). Target: median under 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from bench.harness import HOTLINE, REDIS_URL, ROOT, prepare, wait_ready
from hotline import db, keys, rota
from hotline.accounts import add_user
from hotline.settings import Settings, load_settings
from tests.twilio_standin import TwilioStandIn

ACCOUNT_SID = "AC" + "be9c4" * 6 + "00"
TOKEN = "bench-auth-token"  # noqa: S105 - a throwaway token for a local benchmark
PAGER = "+14155550199"
TEXT = "A 15 year old girl is locked in room 214 right now"
PORT = 8731
WARM_UP = 5


async def _staff(settings: Settings) -> None:
    """One primary dispatcher on call for the day, with a pager number."""
    engine = db.create_engine(settings)
    try:
        user_id = await add_user(engine, "bench-primary", "a long bench password", "dispatcher")
        now = datetime.now(UTC)
        await rota.add_shift(
            engine,
            layer="primary",
            user_id=user_id,
            starts_at=now - timedelta(hours=1),
            ends_at=now + timedelta(hours=23),
            tz="UTC",
            override=False,
            created_by=None,
        )
        sealer = keys.load_sealer(settings.keys_dir)
        hasher = keys.load_hash_key(settings.keys_dir)
        await rota.set_contact(engine, sealer, hasher, user_id, PAGER, region="US")
    finally:
        await engine.dispose()


def _post(connection: http.client.HTTPConnection) -> None:
    body = urlencode({"what": TEXT})
    connection.request(
        "POST", "/report", body, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    answer = connection.getresponse()
    answer.read()
    if answer.status != 303:
        raise SystemExit(f"POST /report answered {answer.status}")


def _pages(standin: TwilioStandIn) -> int:
    return sum(1 for r in standin.sent() if r.form.get("To") == PAGER)


def _one(
    connection: http.client.HTTPConnection, standin: TwilioStandIn, *, timeout: float = 30
) -> tuple[float, float]:
    """(seconds to the page, seconds of the POST alone) for one critical tip."""
    before = _pages(standin)
    start = time.perf_counter()
    _post(connection)
    posted = time.perf_counter()
    while _pages(standin) == before:
        if time.perf_counter() - start > timeout:
            raise SystemExit("no page within 30 s")
        time.sleep(0.0005)
    return time.perf_counter() - start, posted - start


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tips", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hotline-bench-page-"))
    standin = TwilioStandIn(ACCOUNT_SID)
    standin.start()
    env = {
        **os.environ,
        "HOTLINE_DATA_DIR": str(work / "data"),
        "HOTLINE_REDIS_URL": REDIS_URL,
        "HOTLINE_PUBLIC_URL": "https://tips.example.org",
        "HOTLINE_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "HOTLINE_TWILIO_AUTH_TOKEN": TOKEN,
        "HOTLINE_TWILIO_FROM": "+15005550006",
        "HOTLINE_TWILIO_API_URL": standin.url,
        "HOTLINE_LOG_LEVEL": "warning",
        "HOTLINE_INTAKE_BURST": str(max(200, 2 * args.tips)),
    }
    prepare(env)
    asyncio.run(_staff(load_settings(data_dir=work / "data", redis_url=REDIS_URL)))
    logs = (work / "server.log").open("wb"), (work / "worker.log").open("wb")
    server = subprocess.Popen(
        [*HOTLINE, "serve", "--role", "public", "--port", str(PORT)],
        env=env,
        cwd=ROOT,
        stdout=logs[0],
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [*HOTLINE, "worker"], env=env, cwd=ROOT, stdout=logs[1], stderr=subprocess.STDOUT
    )
    try:
        wait_ready(f"http://127.0.0.1:{PORT}/healthz", server)
        connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        for _ in range(WARM_UP):  # the worker's first jobs load keys and warm triage
            _one(connection, standin)
        runs = [_one(connection, standin) for _ in range(args.tips)]
        connection.close()
    finally:
        for process in (server, worker):
            process.terminate()
            process.wait(timeout=20)
        for log in logs:
            log.close()
        standin.stop()
    paged = [page * 1000 for page, _post_only in runs]
    posted = [post * 1000 for _page, post in runs]
    print(f"critical tips: {len(runs)} (after {WARM_UP} to warm up); pages to the primary")
    print(f"{'ms':<26} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    for name, values in (("POST /report -> page SMS", paged), ("POST /report alone", posted)):
        print(
            f"{name:<26} {statistics.median(values):>8.1f} {_quantile(values, 0.9):>8.1f}"
            f" {_quantile(values, 0.99):>8.1f} {max(values):>8.1f}"
        )
    ratio = statistics.median(paged) / statistics.median(posted)
    print(f"ratio of medians page/POST: {ratio:.1f}")
    verdict = "met" if statistics.median(paged) < 1000 else "MISSED"
    print(f"target median < 1000 ms: {verdict}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
